"""MLflow's search grammar for registered models and model versions, as QuerySet filters.

A filter is clauses joined by ``AND``; a clause is ``<key> <op> <value>`` with the value quoted ('...' or "..."),
or a parenthesised list of quoted values for ``IN``. Keys: ``name``, ``tags.<key>`` (the key plain, or quoted in
backticks or double quotes) and, for versions, ``run_id`` and ``source_path``. Operators: ``=``, ``!=``, ``LIKE``,
``ILIKE`` (``%`` any text, ``_`` one character; ILIKE ignores case) and ``IN`` (``name`` and ``run_id``). As in
MLflow, ``tags.k != 'v'`` also matches the rows without the tag k (MLflow's client adds
``tag.`mlflow.prompt.is_prompt` != 'true'`` to every search, to leave prompts out).

``order_by`` takes ``name``, ``creation_timestamp`` (or ``timestamp``), ``last_updated_timestamp`` and, for
versions, ``version_number``, each with an optional ``ASC``/``DESC``. ``page_token`` is opaque to clients (an
offset, encoded).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce

from kernel.exceptions import RegistryError
from models_app.mlflow_api.documents import MLFLOW_TAGS

_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_CLAUSE = re.compile(
    rf"""\s*(?P<key>(?:tags?\.)?(?:`[^`]+`|"[^"]+"|[\w.]+))\s*"""
    rf"""(?P<op>!=|<>|=|ILIKE\b|LIKE\b|IN\b)\s*"""
    rf"""(?P<value>{_QUOTED}|\((?:\s*(?:{_QUOTED})\s*,?)*\))\s*(?P<more>AND\b|$)""",
    re.IGNORECASE,
)


class InvalidSearch(RegistryError):
    """A filter, order_by, max_results or page_token MLflow's grammar does not take (INVALID_PARAMETER_VALUE)."""

    code = "invalid_search"


@dataclass(frozen=True)
class Clause:
    key: str  # "name", "run_id", "source_path" or "tags.<key>"
    op: str  # "=", "!=", "LIKE", "ILIKE", "IN"
    value: str | tuple[str, ...]


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse_filter(text: str | None) -> list[Clause]:
    text = (text or "").strip()
    clauses, at = [], 0
    while at < len(text):
        match = _CLAUSE.match(text, at)
        if match is None:
            raise InvalidSearch(f"Invalid filter at {text[at : at + 60]!r}: expected <key> <op> '<value>' [AND ...].")
        key, op, value = match["key"], match["op"].upper(), match["value"]
        if key.lower().startswith(("tags.", "tag.")):
            name = key.split(".", 1)[1]
            if name[:1] in '`"' and len(name) > 1:
                name = name[1:-1]
            key = f"tags.{name}"
        elif key.lower() in ("name", "run_id", "source_path"):
            key = key.lower()
        else:
            raise InvalidSearch(f"Invalid filter key {key!r}: name, tags.<key>, run_id or source_path.")
        op = "!=" if op == "<>" else op
        if op == "IN":
            values = tuple(_unquote(v) for v in re.findall(_QUOTED, value))
            if not values or key not in ("name", "run_id"):
                raise InvalidSearch(f"IN takes a list of quoted values, for name or run_id, not {key!r}.")
            clauses.append(Clause(key, op, values))
        elif value.startswith("("):
            raise InvalidSearch(f"{op} takes one quoted value.")
        else:
            clauses.append(Clause(key, op, _unquote(value)))
        at = match.end()
        if not match["more"] and at < len(text):
            raise InvalidSearch(f"Invalid filter at {text[at : at + 60]!r}: clauses are joined by AND.")
    return clauses


def like_regex(pattern: str) -> str:
    """SQL LIKE's pattern as an anchored regular expression (``%`` any text, ``_`` one character). ``\\A`` and
    ``\\Z``, which PostgreSQL's regular expressions and Python's (SQLite's REGEXP) both read as the ends of the text:
    ``$`` would also match before a final newline in Python."""
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return r"\A" + "".join(parts) + r"\Z"


def _match(field, clause: Clause) -> Q:
    if clause.op == "=":
        return Q(**{field: clause.value})
    if clause.op == "!=":
        # Spelled out: NOT (tag = 'v') is NULL, so false, for a row without the tag.
        return Q(**{f"{field}__isnull": True}) | ~Q(**{field: clause.value})
    if clause.op == "IN":
        return Q(**{f"{field}__in": clause.value})
    lookup = "regex" if clause.op == "LIKE" else "iregex"
    return Q(**{f"{field}__{lookup}": like_regex(clause.value)})


def model_tag(key: str):
    """A registered model's tag ``key``: its label, else a tag stored before tags were labels
    (``documents.model_tags``)."""
    return Coalesce(KeyTextTransform(key, "labels"), KeyTextTransform(key, "mlflow_tags"))


def version_tag(key: str):
    return KeyTextTransform(key, KeyTransform(MLFLOW_TAGS, "metadata"))


def _filtered(queryset: QuerySet, clauses: list[Clause], fields: dict[str, str], tags) -> QuerySet:
    for index, clause in enumerate(clauses):
        if clause.key.startswith("tags."):
            alias = f"_mlflow_tag_{index}"
            queryset = queryset.alias(**{alias: tags(clause.key[5:])})
            queryset = queryset.filter(_match(alias, clause))
        elif clause.key in fields:
            queryset = queryset.filter(_match(fields[clause.key], clause))
        else:
            raise InvalidSearch(f"Invalid filter key {clause.key!r} for this search.")
    return queryset


def filter_models_by(queryset: QuerySet, text: str | None) -> QuerySet:
    """Registered models matching MLflow's ``filter`` (name, tags.<key>)."""
    return _filtered(queryset, parse_filter(text), {"name": "name"}, tags=model_tag)


def filter_versions_by(queryset: QuerySet, text: str | None) -> QuerySet:
    """Model versions matching MLflow's ``filter`` (name, tags.<key>, run_id, source_path)."""
    fields = {"name": "model__name", "run_id": "spec__mlflow__run_id", "source_path": "spec__mlflow__source"}
    return _filtered(queryset, parse_filter(text), fields, tags=version_tag)


MODEL_ORDER = {
    "name": "name",
    "creation_timestamp": "created_at",
    "timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}
VERSION_ORDER = {
    "name": "model__name",
    "version_number": "mlflow_number",
    "creation_timestamp": "created_at",
    "timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}


def ordering(order_by: list[str], fields: dict[str, str], default: list[str], tiebreak: list[str]) -> list[str]:
    result = []
    for item in order_by:
        words = item.split()
        if not words or len(words) > 2 or words[0] not in fields:
            raise InvalidSearch(f"Invalid order_by {item!r}: one of {', '.join(fields)}, then ASC or DESC.")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise InvalidSearch(f"Invalid order_by {item!r}: the direction is ASC or DESC.")
        result.append(("-" if direction == "DESC" else "") + fields[words[0]])
    result = result or list(default)
    return result + [field for field in tiebreak if field.lstrip("-") not in {f.lstrip("-") for f in result}]


def max_results(raw, default: int, limit: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidSearch(f"max_results must be an integer, not {str(raw)[:40]!r}.") from None
    if not 1 <= value <= limit:
        raise InvalidSearch(f"max_results must be between 1 and {limit}; it was {value}.")
    return value


def offset_of(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["offset"]
    except (ValueError, KeyError, TypeError, UnicodeEncodeError, binascii.Error):
        raise InvalidSearch("Invalid page_token: send back the next_page_token a search answered.") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidSearch("Invalid page_token: send back the next_page_token a search answered.")
    return offset


def token_for(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def page(queryset: QuerySet, limit: int, token: str | None) -> tuple[list, str | None]:
    """One page of ``queryset`` and the token of the next one (None after the last)."""
    offset = offset_of(token)
    rows = list(queryset[offset : offset + limit + 1])
    if len(rows) > limit:
        return rows[:limit], token_for(offset + limit)
    return rows, None
