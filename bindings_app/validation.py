"""What a binding's config may hold, and what a report must look like. Every problem is returned at once, each
with a JSON Pointer path into the request body.

Secrets are never stored. A config names a secret (``api_key_secret: "vault:kv/openai#key"``, any key ending in
``_secret``, whose value must be a reference such as ``vault:...`` or ``env:...``); a key that names a credential
(``api_key``, ``X-Auth-Token``, ``Cookie``, look-alike letters included) or a value that holds one (``Basic ...``,
``sk_live_...``, ``hf_...``, a private key, a JWT, a random-looking string, a URL with ``user:pass@`` or
``?api_key=``) is refused, wherever it sits in the config, and so is the endpoint URL that carries one. What counts
as a credential is kernel.rules.secrets' to say.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bindings_app.choices import Provider
from kernel.rules import secrets
from kernel.rules.validation import DocumentInvalid, Issue, Report, SchemaValidator, pointer

SCHEMAS = Path(__file__).parent / "schemas"

# A key ending in this names a secret held elsewhere; its value must be a reference, never the secret.
SECRET_REFERENCE_SUFFIX = "_secret"
# Every provider's schema bounds a config far below this many keys and values; scanning stops here (the rest would
# cost CPU for a config that cannot be valid).
MAX_SCANNED_VALUES = 1000
SECRET_REFERENCE = re.compile(r"(vault|env|aws-sm|gcp-sm|azure-kv|k8s|file):[^\s]{1,500}")


def _refused(path: tuple, what: str) -> Issue:
    return Issue(
        pointer(*path),
        "secret_in_config",
        f"This value holds {what}; secrets are never stored. Store a reference in a '..._secret' key.",
    )


def secrets_in(config: Any, base: tuple = ("config",)) -> list[Issue]:
    """Every place in ``config`` that holds a credential rather than the name of one (kernel.rules.secrets judges
    names and values; URLs are values too). Messages name the place, never the value."""
    issues: list[Issue] = []
    stack: list[tuple[Any, tuple]] = [(config, base)]
    scanned = 0
    while stack:
        value, path = stack.pop()
        scanned += len(value) if isinstance(value, (dict, list)) else 1
        if scanned > MAX_SCANNED_VALUES:
            issues.append(
                Issue(
                    pointer(*base),
                    "too_many_values",
                    f"A config holds at most {MAX_SCANNED_VALUES} keys and values in all.",
                )
            )
            break
        if isinstance(value, dict):
            for key, child in value.items():
                child_path = (*path, key)
                if key.endswith(SECRET_REFERENCE_SUFFIX):
                    # A reference names where the secret lives; one that carries it ('env:sk_live_...') does not.
                    if not (
                        isinstance(child, str)
                        and SECRET_REFERENCE.fullmatch(child)
                        and not secrets.credential_in_value(child.partition(":")[2])
                    ):
                        issues.append(
                            Issue(
                                pointer(*child_path),
                                "secret_reference_required",
                                f"'{key}' names a secret; give its reference (e.g. 'vault:kv/path#key' or 'env:VAR'), never the secret itself.",
                            )
                        )
                    continue
                if secrets.names_a_credential(key):
                    issues.append(
                        Issue(
                            pointer(*child_path),
                            "secret_in_config",
                            f"'{key[:64]}' would store a credential; secrets are never stored. Name it instead: '..._secret': 'vault:...'.",
                        )
                    )
                    continue
                found = secrets.credential_in_value(key)
                if found:  # a credential as a key: the path would show it, so the object is named instead
                    issues.append(_refused(path, f"{found} as one of its keys"))
                    continue
                stack.append((child, child_path))
        elif isinstance(value, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(value))
        elif isinstance(value, str):
            name = path[-1] if isinstance(path[-1], str) else ""
            found = None if secrets.public_identifier(name, value) else secrets.credential_in_value(value)
            if found:
                issues.append(_refused(path, found))
    return sorted(set(issues), key=lambda issue: issue.path)


def secrets_in_settings(values: dict) -> list[Issue]:
    """Credentials in a binding's own strings: its endpoint (userinfo, query tokens, keys in the path) and the
    provider's model id."""
    issues = []
    for field in ("endpoint_url", "provider_model_id"):
        value = values.get(field)
        found = secrets.credential_in_value(value) if isinstance(value, str) else None
        if found:
            issues.append(
                Issue(
                    pointer(field),
                    "secret_in_config",
                    f"This value holds {found}; secrets are never stored. Give the endpoint without credentials "
                    "and name the secret in the config's '..._secret' key.",
                )
            )
    return issues + secrets_in(values.get("config", {}))


@cache
def config_validator(provider: str) -> SchemaValidator:
    return SchemaValidator(f"binding config ({provider})", SCHEMAS / "config" / f"{provider}.json")


def check_settings(values: dict) -> list[Issue]:
    """Every problem with a binding's settings beyond field types: credentials anywhere (config, endpoint, model
    id), then the config against the provider's schema."""
    provider, config = values.get("provider", ""), values.get("config", {})
    issues = secrets_in_settings(values)
    if provider in Provider.values:
        if not isinstance(config, dict):
            issues.append(Issue("/config", "invalid_type", "Expected a JSON object."))
        else:
            refused = {issue.path for issue in issues}
            for issue in config_validator(provider).check(config).errors:
                path = f"/config{issue.path}"
                if path not in refused:  # a refused credential is not also an unknown field
                    issues.append(Issue(path, issue.code, issue.message))
    return issues


# -- reports ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    success: bool
    latency_ms: float | None
    input_tokens: int
    output_tokens: int
    at: dt.datetime


outcome_validator = SchemaValidator("binding report", SCHEMAS / "outcome.json")


def parse_outcomes(data: Any, *, now: dt.datetime | None = None) -> list[Outcome]:
    """One outcome (an object) or a batch (a list of 1..BINDING_MAX_REPORT_BATCH objects); raises DocumentInvalid
    with every problem."""
    now = now or timezone.now()
    limit = settings.BINDING_MAX_REPORT_BATCH
    if isinstance(data, dict):
        items, prefix = [data], lambda index: ()
    elif isinstance(data, list):
        if not data:
            raise DocumentInvalid([Issue("", "too_few_items", "A batch holds at least one outcome.")])
        if len(data) > limit:
            raise DocumentInvalid(
                [Issue("", "too_many_items", f"A batch holds at most {limit} outcomes; got {len(data)}.")]
            )
        items, prefix = data, lambda index: (index,)
    else:
        raise DocumentInvalid([Issue("", "invalid_type", "Expected an outcome object or a list of them.")])

    report = Report()
    outcomes = []
    latest_allowed = now + dt.timedelta(seconds=settings.BINDING_REPORT_MAX_CLOCK_SKEW_SECONDS)
    for index, item in enumerate(items):
        base = pointer(*prefix(index))
        item_report = outcome_validator.check(item)
        report.errors.extend(Issue(base + issue.path, issue.code, issue.message) for issue in item_report.errors)
        if item_report.errors:
            continue
        at = now
        if "at" in item:
            try:
                at = parse_datetime(item["at"]) if len(item["at"]) <= 40 else None
            except ValueError:  # well formed but no date (month 13, hour 25)
                at = None
            if at is None or at.tzinfo is None:
                report.error(
                    f"{base}/at", "invalid_format", "Expected an ISO 8601 time with a zone, e.g. 2026-11-23T10:00:00Z."
                )
                continue
            if at > latest_allowed:
                report.error(
                    f"{base}/at",
                    "in_the_future",
                    f"{item['at']} is in the future (more than {settings.BINDING_REPORT_MAX_CLOCK_SKEW_SECONDS} s ahead).",
                )
                continue
        outcomes.append(
            Outcome(
                item["success"], item.get("latency_ms"), item.get("input_tokens", 0), item.get("output_tokens", 0), at
            )
        )
    if report.errors:
        raise DocumentInvalid(report.errors)
    return outcomes
