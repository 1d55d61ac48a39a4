"""One validation source per kind of definition: a JSON Schema (Draft 2020-12) plus custom rules.

``DocumentValidator.check(document)`` returns every problem at once, each an ``Issue`` with a JSON Pointer
``path``, a machine ``code`` and a human ``message``. The API, the admin form, the ``validate`` endpoint and the
example loader all call the same validator, so a document rejected in one place is rejected in all.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError as SchemaError
from prometheus_client import Counter, Histogram

from kernel.rules.semver import InvalidVersion, parse_version

logger = logging.getLogger(__name__)

# Names that would shadow fixed API paths (/api/v1/<kind>/validate, /id/<uuid>, /evaluate).
RESERVED_NAMES = frozenset({"validate", "id", "evaluate"})

VALIDATIONS = Counter("registry_validations_total", "Documents validated, by kind and outcome.", ["kind", "outcome"])
VALIDATION_SECONDS = Histogram(
    "registry_validation_duration_seconds",
    "Time to validate one document (JSON Schema and the kind's rules), by kind.",
    ["kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# JSON Schema keyword -> our machine code.
_CODES = {
    "required": "required",
    "additionalProperties": "unknown_field",
    "unevaluatedProperties": "unknown_field",
    "type": "invalid_type",
    "enum": "invalid_choice",
    "const": "invalid_choice",
    "pattern": "invalid_format",
    "format": "invalid_format",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "exclusiveMinimum": "out_of_range",
    "exclusiveMaximum": "out_of_range",
    "minLength": "too_short",
    "maxLength": "too_long",
    "minItems": "too_few_items",
    "maxItems": "too_many_items",
    "uniqueItems": "duplicate_items",
    "minProperties": "too_few_properties",
    "maxProperties": "too_many_properties",
}


# The largest integer every client language reads back exactly (JavaScript's Number.MAX_SAFE_INTEGER, a double's
# 53-bit mantissa). Larger integers are refused anywhere in a document, metadata included, unless they are a
# double's shortest form written out (``reads_back_exactly``).
MAX_SAFE_INTEGER = 2**53 - 1
# A report lists at most this many errors (and as many warnings), then one more entry counting the rest: a
# hostile document must not turn into a response thousands of times its size.
MAX_ISSUES = 100

_SURROGATE = re.compile("[\ud800-\udfff]")


def pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class Issue:
    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Report:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(self, path: str, code: str, message: str) -> None:
        self.errors.append(Issue(path, code, message))

    def warn(self, path: str, code: str, message: str) -> None:
        self.warnings.append(Issue(path, code, message))

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
        }


def capped(issues: list[Issue], kind: str = "errors") -> list[Issue]:
    """The first ``MAX_ISSUES`` issues plus one ``too_many_{kind}`` entry counting the rest."""
    if len(issues) <= MAX_ISSUES:
        return issues
    rest = len(issues) - MAX_ISSUES
    return [*issues[:MAX_ISSUES], Issue("", f"too_many_{kind}", f"{rest} more {kind} not listed; fix these first.")]


def json_number(number: int | float) -> Decimal:
    """A JSON number's value as PostgreSQL stores it (``numeric`` in ``jsonb``): a float by its shortest text, so
    3.1e23 is 310000000000000000000000, which is what a stored document hands back."""
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def reads_back_exactly(number: int) -> bool:
    """Whether a client can send ``number`` back as it read it: within +/-(2^53 - 1), or the shortest form of a
    double written out (``1e16`` or ``3.1e23``, stored and handed back as 10000000000000000 and
    310000000000000000000000, which a client reading doubles reads as 1e16 and 3.1e23 and writes as the same
    number). 9007199254740993 is neither: a double reads it as ...992. Nor is 2**60, a double whose shortest form is
    1152921504606847000."""
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return True
    try:
        return json_number(float(number)) == number
    except OverflowError:  # beyond a double's range
        return False


def same_json(a: Any, b: Any) -> bool:
    """Whether two decoded JSON values are the same JSON: numbers equal by value as stored (``json_number``: the
    float 3.1e23 and the integer 310000000000000000000000 a stored document hands back are the same number), never
    a boolean equal to a number (Python's ``True == 1``), and anything else by ``==``. Walked without recursion."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[key], y[key]) for key in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif isinstance(x, bool) or isinstance(y, bool):
            if not (isinstance(x, bool) and isinstance(y, bool) and x == y):
                return False
        elif isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if json_number(x) != json_number(y):
                return False
        elif x != y:  # strings (a TextChoices member equals its value), None, and anything else by equality
            return False
    return True


MAX_DIFFERING_PATHS = 50
MISSING = object()  # a key one side lacks (not the same as null)


def differences(a: Any, b: Any, *, at: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Where two decoded JSON values differ by ``same_json``, in document order, as (JSON Pointer under ``at``,
    a's value, b's value), ``MISSING`` standing for a key one side lacks: a key one side lacks, a list whose length
    differs or a value that differs is named whole; equal parts are walked into. Lazy (the caller bounds how many it
    takes) and walked without recursion."""
    stack: list[tuple[str, Any, Any]] = [(at, a, b)]
    while stack:
        path, x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            keys = [*x, *(key for key in y if key not in x)]
            stack.extend((path + pointer(key), x.get(key, MISSING), y.get(key, MISSING)) for key in reversed(keys))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            stack.extend((path + pointer(index), x[index], y[index]) for index in reversed(range(len(x))))
        elif x is MISSING or y is MISSING or not same_json(x, y):
            yield path, x, y


def differing_paths(
    a: Any, b: Any, *, at: str = "", limit: int = MAX_DIFFERING_PATHS, omitted: list[str] | None = None
) -> list[str]:
    """The JSON Pointers of ``differences`` (under ``at``): at most ``limit`` paths (the first ones). With
    ``omitted`` (a list), a key only ``a`` has is not a difference: its path is appended to ``omitted`` instead (at
    most ``limit`` of them)."""
    found: list[str] = []
    for path, _, y in differences(a, b, at=at):
        if y is MISSING and omitted is not None:
            if len(omitted) < limit:
                omitted.append(path)
            continue
        found.append(path)
        if len(found) >= limit:
            break
    return found


def unstorable_values(value: Any) -> Iterator[Issue]:
    """Values JSON can carry but the registry cannot store and hand back to every client: integers beyond
    +/-(2^53 - 1) that are not a double's shortest form (``reads_back_exactly``), and strings (or keys) holding a
    lone UTF-16 surrogate, which cannot be encoded as UTF-8.
    Walked without recursion; messages never echo the value (it may itself be unrenderable)."""
    stack: list[tuple[Any, tuple]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    yield Issue(
                        pointer(*path),
                        "invalid_string",
                        "A key here is not valid Unicode (a lone surrogate); it cannot be stored as UTF-8.",
                    )
                    continue
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
        elif isinstance(item, str):
            if _SURROGATE.search(item):
                yield Issue(
                    pointer(*path),
                    "invalid_string",
                    "Not valid Unicode (a lone surrogate); it cannot be stored as UTF-8.",
                )
        elif isinstance(item, int) and not isinstance(item, bool) and not reads_back_exactly(item):
            yield Issue(
                pointer(*path),
                "out_of_range",
                f"Integers are limited to +/-{MAX_SAFE_INTEGER} (2^53 - 1) so every client reads them back exactly; beyond that, only a double's shortest form is kept (1e16 or 3.1e23, not 10000000000000001).",
            )


class DocumentInvalid(Exception):
    """Raised by registration when a document fails validation; the API turns it into a 400."""

    def __init__(self, errors: list[Issue]):
        super().__init__("; ".join(f"{e.path or '/'}: {e.message}" for e in errors))
        self.errors = errors


Rule = Callable[[dict, Report], None]


def objects_in(document: dict, key: str) -> list[tuple[int, dict]]:
    """(index, item) for each object in the list at ``document[key]``; other shapes are the schema's to report."""
    items = document.get(key)
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)] if isinstance(items, list) else []


def at_most(key: str, setting: str, *, code: str, kind: str) -> Rule:
    """A rule: the list at ``document[key]`` holds at most ``settings.<setting>`` items. The limit is read at
    check time, since it is an operator's setting rather than part of the static schema. It is a *gate*: once it
    fails, the rules after it (whose cost grows with the list) do not run."""

    def rule(document: dict, report: Report) -> None:
        from django.conf import settings

        items, limit = document.get(key), getattr(settings, setting)
        if isinstance(items, list) and len(items) > limit:
            report.error(pointer(key), code, f"A {kind} has at most {limit} {key} ({setting}); got {len(items)}.")

    rule.__name__ = f"{key}_within_{setting.lower()}"
    rule.gate = True
    return rule


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def issue_from_schema_error(error: SchemaError) -> Issue:
    parts = list(error.absolute_path)
    keyword = error.validator
    code = _CODES.get(str(keyword), "invalid")
    if keyword == "required":
        # jsonschema reports one error per missing property; its name is only in the message ("'x' is a ...").
        missing = error.message.removesuffix(" is a required property")
        try:
            parts.append(ast.literal_eval(missing))
        except (ValueError, SyntaxError):
            pass
        message = "This field is required."
    elif keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        allowed = set((error.schema.get("properties") or {}).keys())
        unknown = sorted(k for k in error.instance if k not in allowed)
        if len(unknown) == 1:
            parts.append(unknown[0])
        message = f"Unknown field{'s' if len(unknown) != 1 else ''}: {', '.join(unknown)}." + (
            f" Allowed here: {', '.join(sorted(allowed))}." if allowed else ""
        )
    elif keyword == "enum":
        message = (
            f"{_short(error.instance)} is not allowed; expected one of: {', '.join(map(str, error.validator_value))}."
        )
    elif keyword == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"Expected {expected}, got {_short(error.instance)}."
    elif keyword == "pattern":
        message = error.schema.get("x-message") or f"{_short(error.instance)} does not match {error.validator_value}."
    elif keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[str(keyword)]
        message = f"Must be {words} {error.validator_value}; got {_short(error.instance)}."
    elif keyword == "uniqueItems":
        message = "Items must be unique."
    else:
        message = error.message
    return Issue(pointer(*parts), code, message)


@lru_cache(maxsize=512)
def python_regex(ecma: str) -> re.Pattern:
    """A JSON Schema ``pattern`` (ECMA-262) as a Python regex with the same meaning. ECMA's ``$`` matches only at
    the very end; Python's also before a final newline, which let ``"name": "p\\n"`` through. Every ``$`` outside a
    character class becomes ``\\Z``."""
    out, in_class, escaped = [], False, False
    for char in ecma:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out))


def _ecma_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not python_regex(pattern).search(instance):
        yield SchemaError(f"{instance!r} does not match {pattern!r}")


def _bounded_unique_items(validator, unique, instance, schema):
    # jsonschema compares unhashable items pairwise (quadratic): an array longer than its maxItems has already
    # failed, so its uniqueness is not worth seconds of a worker's time.
    if validator.is_type(instance, "array") and len(instance) > schema.get("maxItems", 256):
        return
    yield from Draft202012Validator.VALIDATORS["uniqueItems"](validator, unique, instance, schema)


RegistrySchemaValidator = validators.extend(
    Draft202012Validator, {"pattern": _ecma_pattern, "uniqueItems": _bounded_unique_items}
)


class SchemaValidator:
    """JSON Schema (compiled once, on first use) plus custom rules, for any JSON value the registry checks: a
    versioned document (``DocumentValidator``) or a plain entity's part, such as a provider binding's config."""

    def __init__(self, kind: str, schema_path: Path, rules: Iterable[Rule] = ()):
        self.kind = kind
        self.schema_path = schema_path
        self.rules = list(rules)

    @cached_property
    def schema(self) -> dict:
        schema = json.loads(self.schema_path.read_text())
        Draft202012Validator.check_schema(schema)
        return schema

    @cached_property
    def _compiled(self) -> Draft202012Validator:
        return RegistrySchemaValidator(self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def schema_issues(self, document: Any) -> Iterator[Issue]:
        errors = sorted(
            self._compiled.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), str(e.validator))
        )
        seen = set()
        for error in errors:
            issue = issue_from_schema_error(error)
            if issue not in seen:  # if/then branches can report the same problem twice
                seen.add(issue)
                yield issue

    def check(self, document: Any) -> Report:
        started = time.perf_counter()
        try:
            return self._check(document)
        finally:
            VALIDATION_SECONDS.labels(self.kind).observe(time.perf_counter() - started)

    def _check(self, document: Any) -> Report:
        report = Report()
        if not isinstance(document, dict):
            report.error("", "invalid_type", f"Expected a JSON object, got {type(document).__name__}.")
            VALIDATIONS.labels(self.kind, "invalid").inc()
            return report
        # Checked first and alone: other rules' messages may echo such a value, and it could never be stored.
        unstorable = list(islice(unstorable_values(document), MAX_ISSUES + 1))
        if unstorable:
            report.errors = capped(unstorable)
            VALIDATIONS.labels(self.kind, "invalid").inc()
            return report
        # Size limits first: a list over its limit fails whatever it holds, and checking each of its items (the
        # schema, then the rules) would only spend a worker's time on a hostile document.
        oversized = self.oversized_lists(document)
        for rule in self.rules:
            if getattr(rule, "gate", False):
                rule(document, Report(errors=oversized))
        if oversized:
            report.errors = capped(oversized)
            VALIDATIONS.labels(self.kind, "invalid").inc()
            return report
        report.errors.extend(self.schema_issues(document))
        self.identity_rules(document, report)
        # Custom rules see documents that may have failed the schema: each rule checks the types it relies on,
        # so one response lists every problem at once.
        structurally_valid = not report.errors
        for rule in self.rules:
            if getattr(rule, "gate", False):
                continue  # ran before the schema
            try:
                rule(document, report)
            except (TypeError, ValueError, KeyError, AttributeError):
                # A rule tripping over a shape the schema has already rejected adds nothing to those errors;
                # on a schema-valid document the same crash is a bug and must surface.
                if structurally_valid:
                    raise
                logger.warning(
                    "%s rule %s skipped on a schema-invalid document", self.kind, rule.__name__, exc_info=True
                )
        report.errors, report.warnings = capped(report.errors), capped(report.warnings, "warnings")
        VALIDATIONS.labels(self.kind, "valid" if report.valid else "invalid").inc()
        return report

    def identity_rules(self, document: dict, report: Report) -> None:
        """Checks every value of this kind gets before its custom rules; none for a plain JSON value."""

    @property
    def top_level_fields(self) -> dict[str, dict]:
        return self.schema.get("properties", {})

    @cached_property
    def _list_limits(self) -> dict[str, int]:
        """Top-level list fields with a ``maxItems`` in the schema (following a local ``$ref``)."""
        limits = {}
        for name, prop in self.top_level_fields.items():
            ref = prop.get("$ref", "")
            if ref.startswith("#/$defs/"):
                prop = self.schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), prop)
            if "maxItems" in prop:
                limits[name] = prop["maxItems"]
        return limits

    def oversized_lists(self, document: dict) -> list[Issue]:
        return [
            Issue(pointer(name), "too_many_items", f"At most {limit} items; got {len(document[name])}.")
            for name, limit in self._list_limits.items()
            if isinstance(document.get(name), list) and len(document[name]) > limit
        ]


class DocumentValidator(SchemaValidator):
    """A versioned definition's validator: the schema and rules, plus a semver ``version`` and an unreserved
    ``name``."""

    def identity_rules(self, document: dict, report: Report) -> None:
        version = document.get("version")
        if isinstance(version, str):
            try:
                parse_version(version)
            except InvalidVersion as exc:
                report.error("/version", "invalid_version", str(exc))
        name = document.get("name")
        if isinstance(name, str) and name in RESERVED_NAMES:
            report.error("/name", "reserved_name", f"'{name}' is reserved by the API's paths; choose another name.")
