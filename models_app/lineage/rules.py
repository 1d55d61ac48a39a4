"""Lineage: which registered version a model version improves on, the metric deltas between them, who
contributed, and the walks up to the baseline and down to the descendants.

The link is ``ModelVersion.derived_from``, a foreign key to the parent version's immutable id (any model, not
only the same one), so renaming a model never breaks it. A document names the parent as ``{"model", "version",
"relation"}``; registration resolves it once and the document is rendered back from the key, with today's names.

Cycles cannot be built: a version can only derive from a version that already exists, the link is set once at
registration and never changes, and a version naming itself is rejected (``lineage_cycle``). The database also
refuses a row linked to itself, and the walks below stop after ``LINEAGE_MAX_DEPTH`` steps whatever the data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, models
from django.db.models import F, Q
from eth_utils import is_checksum_address, is_checksum_formatted_address, is_hex_address, to_checksum_address

from kernel.rules.semver import InvalidVersion, parse_version
from kernel.rules.validation import DocumentInvalid, Issue, Report, objects_in, pointer

if TYPE_CHECKING:
    from models_app.models import ModelVersion

# "0x" and 40 hex digits; eth-utils then checks the EIP-55 checksum of a mixed-case address (all-lowercase and
# all-uppercase carry no checksum, as EIP-55 says).
ADDRESS_FORMAT = re.compile(r"0x[0-9a-fA-F]{40}")
METRIC_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Contributor weights must add up to 1 within this (0.6 + 0.3 + 0.1 is not exactly 1.0 in floating point);
# what is stored is normalised to sum to 1.
WEIGHT_TOLERANCE = 1e-3


class Contribution(models.Model):
    """One contributor of one model version, denormalised from the (immutable) spec at registration so that
    "what did this address contribute to" is one indexed query."""

    version = models.ForeignKey("models_app.ModelVersion", on_delete=models.CASCADE, related_name="contributions")
    address = models.CharField(max_length=42, db_index=True, help_text="EIP-55 checksum form.")
    role = models.CharField(max_length=16)
    weight = models.FloatField(help_text="Share of the version's credit; a version's weights sum to 1.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "address"], name="%(app_label)s_%(class)s_once_per_version"),
            models.CheckConstraint(condition=Q(weight__gt=0, weight__lte=1), name="%(app_label)s_%(class)s_weight_range"),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.role}, {self.weight:g}) on {self.version_id}"


def constraints() -> list[models.BaseConstraint]:
    """ModelVersion's lineage invariants, listed in its Meta."""
    return [
        models.CheckConstraint(condition=~Q(derived_from=F("id")), name="%(app_label)s_%(class)s_not_derived_from_itself"),
        models.CheckConstraint(
            condition=Q(derived_from__isnull=True, relation="", lineage_depth=0)
            | (Q(derived_from__isnull=False, lineage_depth__gt=0) & ~Q(relation="")),
            name="%(app_label)s_%(class)s_lineage_complete",
        ),
    ]


# -- addresses -------------------------------------------------------------------------------------------------


def checksum_address(text: Any) -> str | None:
    """The EIP-55 form of a valid address; None when ``text`` is not one (a mixed-case address whose checksum
    is wrong is a typo, as EIP-55 intends, and is refused)."""
    if not isinstance(text, str) or not ADDRESS_FORMAT.fullmatch(text) or not is_hex_address(text):
        return None
    if is_checksum_formatted_address(text) and not is_checksum_address(text):
        return None
    return to_checksum_address(text)


def address_for_lookup(text: str) -> str | None:
    """Lookups are case-insensitive: any casing of a well-formed address finds its EIP-55 form."""
    return to_checksum_address(text.lower()) if ADDRESS_FORMAT.fullmatch(text) else None


# -- document rules (run by models_app.validation.model_validator) ----------------------------------------------


def metric_names_are_slugs(document: dict, report: Report) -> None:
    """The schema's pattern lets a trailing newline through (``$``); names are matched whole here."""
    for field in ("metrics", "metric_directions"):
        values = document.get(field)
        if isinstance(values, dict):
            for name in values:
                if not METRIC_NAME.fullmatch(name):
                    report.error(pointer(field, name), "invalid_format", "A metric name is a lowercase slug of at most 64 characters, e.g. 'accuracy'.")


def contributors_are_valid(document: dict, report: Report) -> None:
    items = objects_in(document, "contributors")
    seen: dict[str, int] = {}
    for index, item in items:
        address = checksum_address(item.get("address"))
        if address is None:
            if isinstance(item.get("address"), str):
                report.error(
                    pointer("contributors", index, "address"),
                    "invalid_address",
                    "An Ethereum address is '0x' and 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum.",
                )
        elif address in seen:
            report.error(pointer("contributors", index, "address"), "duplicate_contributor", f"{address} is already listed at /contributors/{seen[address]}.")
        else:
            seen[address] = index
    weights = [(index, item.get("weight")) for index, item in items]
    given = [(index, w) for index, w in weights if isinstance(w, (int, float)) and not isinstance(w, bool)]
    if given and len(given) != len(weights):
        for index, weight in weights:
            if weight is None:
                report.error(pointer("contributors", index, "weight"), "required", "Give every contributor a weight, or none (equal shares).")
    elif given:
        total = sum(w for _, w in given)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            report.error("/contributors", "weights_sum", f"Contributor weights must add up to 1; they add up to {total:g}.")


def derived_from_is_registered(document: dict, report: Report) -> None:
    ref = document.get("derived_from")
    if not (isinstance(ref, dict) and isinstance(ref.get("model"), str) and isinstance(ref.get("version"), str)):
        return
    if _names_itself(document, ref):
        path = f"{ref['model']}@{ref['version']} -> {ref['model']}@{ref['version']}"
        report.error("/derived_from", "lineage_cycle", f"A version cannot derive from itself ({path}); name the version it improves on.")
        return
    parent, issue = resolve_parent(ref)
    if issue is not None:
        report.errors.append(issue)
    elif parent.lineage_depth + 1 > settings.LINEAGE_MAX_DEPTH:
        report.error(
            "/derived_from",
            "lineage_too_deep",
            f"{parent} already has {parent.lineage_depth} ancestors; a lineage holds at most {settings.LINEAGE_MAX_DEPTH} (LINEAGE_MAX_DEPTH).",
        )


RULES = [metric_names_are_slugs, contributors_are_valid, derived_from_is_registered]


def _names_itself(document: dict, ref: dict) -> bool:
    if ref["model"] != document.get("name") or not isinstance(document.get("version"), str):
        return False
    try:
        return parse_version(ref["version"]).identity() == parse_version(document["version"]).identity()
    except InvalidVersion:
        return False


def resolve_parent(ref: dict, *, registering: ModelVersion | None = None) -> tuple[ModelVersion | None, Issue | None]:
    """The version a ``derived_from`` names (a number, ``latest`` or ``current``), of any model, deleted ones
    included (lineage is history: a description edit must not fail because an ancestor's model was deleted).
    ``registering``: the version being registered, which ``latest`` must not resolve to (it names the latest
    before this registration, as validation saw it)."""
    from models_app.models import Model, ModelVersion

    name, version = ref["model"], ref["version"]
    candidates = ModelVersion.objects.filter(model__name=name).select_related("model")
    if registering is not None:
        candidates = candidates.exclude(pk=registering.pk)
    try:
        found = candidates.named(version)
    except InvalidVersion as exc:
        return None, Issue("/derived_from/version", "invalid_version", str(exc))
    if found is not None:
        return found, None
    if not Model.objects.filter(name=name).exists():
        return None, Issue("/derived_from/model", "not_found", f"No model named '{name}' is registered.")
    return None, Issue("/derived_from/version", "not_found", f"Model '{name}' has no version {version}.")


# -- registration ----------------------------------------------------------------------------------------------


def normalised_spec(spec: dict) -> dict:
    """The spec as stored: ``derived_from`` lives in the foreign key (not the spec, where a name could go stale),
    addresses in EIP-55 form, weights normalised to sum to exactly 1 (equal shares when none is given)."""
    spec = {k: v for k, v in spec.items() if k != "derived_from"}
    contributors = spec.get("contributors")
    if isinstance(contributors, list) and contributors:
        weights = [c.get("weight") for c in contributors]
        if all(w is None for w in weights):
            weights = [1.0] * len(contributors)
        total = sum(weights)
        spec["contributors"] = [
            {**c, "address": checksum_address(c["address"]) or c["address"], "weight": weight / total}
            for c, weight in zip(contributors, weights)
        ]
    return spec


def direction_of(metric: str, overrides: dict | None) -> str:
    if overrides and metric in overrides:
        return overrides[metric]
    return "lower" if metric in settings.METRICS_LOWER_IS_BETTER else "higher"


def _tidy(number: float) -> float:
    """Drop floating-point noise (0.874 - 0.85 = 0.02400000000000002) from a stored difference."""
    return float(f"{number:.12g}")


def compute_deltas(before: dict, after: dict, directions: dict | None) -> dict[str, dict]:
    """For every metric both versions report: the parent's value, the new value, the absolute and relative
    (to the parent's magnitude; null when it is 0) change, the metric's direction and whether it improved."""
    deltas = {}
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        absolute = new - old
        direction = direction_of(name, directions)
        deltas[name] = {
            "parent": old,
            "value": new,
            "absolute": _tidy(absolute),
            "relative": _tidy(absolute / abs(old)) if old else None,
            "direction": direction,
            "improved": absolute > 0 if direction == "higher" else absolute < 0,
        }
    return deltas


def improvements(deltas: dict) -> list[str]:
    return sorted(name for name, delta in deltas.items() if delta["improved"])


def record_lineage(version: ModelVersion, document: dict) -> None:
    """Registration hook (``ModelVersion.on_registered``): contributors, the parent link, the deltas and, for an
    improvement, the signed attestation, all in the registration's transaction."""
    from models_app import attestations

    Contribution.objects.bulk_create(
        Contribution(version=version, address=c["address"], role=c["role"], weight=c["weight"])
        for c in version.spec.get("contributors") or []
    )
    ref = document.get("derived_from")
    if not ref:
        return
    parent, issue = resolve_parent(ref, registering=version)
    if issue is not None:  # validated a moment ago; only a concurrent change gets here
        raise DocumentInvalid([issue])
    version.derived_from = parent
    version.relation = ref["relation"]
    version.lineage_depth = parent.lineage_depth + 1
    version.deltas = compute_deltas(parent.spec.get("metrics") or {}, version.spec.get("metrics") or {}, version.model.metric_directions)
    version.save(update_fields=["derived_from", "relation", "lineage_depth", "deltas"])
    if improvements(version.deltas):
        attestations.issue(version)


# -- reading -----------------------------------------------------------------------------------------------------


def derived_from_link(version: ModelVersion) -> dict | None:
    """The document's ``derived_from``, rendered from the link (today's model name); None without a link."""
    if version.derived_from_id is None:
        return None
    parent = version.derived_from
    return {"model": parent.model.name, "version": parent.version, "relation": version.relation}


WALK_COLUMNS = ("id", "version", "status", "relation", "derived_from_id", "lineage_depth", "model_name", "data", "attested")


def _walk_sql(direction: str) -> str:
    """One recursive CTE (PostgreSQL and SQLite alike) returning the walked versions with just what a lineage step
    shows (the spec's metrics and contributors, not the whole spec); ``hops`` bounds the recursion, so even
    corrupted data (a cycle written past the API) terminates."""
    from models_app.attestations import Attestation
    from models_app.models import Model, ModelVersion

    qn = connection.ops.quote_name
    versions, models_table, attested = (qn(m._meta.db_table) for m in (ModelVersion, Model, Attestation))
    # The JSON parts as one object per row (one parse each), ids as text: at depth 1,000 converting values is
    # most of the cost.
    if connection.vendor == "postgresql":
        ids = "v.id::text, v.derived_from_id::text"
        data = "json_build_object('metrics', v.spec -> 'metrics', 'contributors', v.spec -> 'contributors', 'deltas', v.deltas)::text"
    else:
        ids = "v.id, v.derived_from_id"
        data = ("json_object('metrics', json_extract(v.spec, '$.metrics'), 'contributors', json_extract(v.spec, '$.contributors'), "
                "'deltas', json(v.deltas))")
    join = "v.id = walk.parent_id" if direction == "ancestors" else "v.derived_from_id = walk.id"
    order = "walk.hops DESC" if direction == "ancestors" else "walk.hops, m.name, v.major, v.minor, v.patch, v.prerelease_key"
    return f"""
        WITH RECURSIVE walk(id, parent_id, hops) AS (
            SELECT id, derived_from_id, 0 FROM {versions} WHERE id = %s
            UNION ALL
            SELECT v.id, v.derived_from_id, walk.hops + 1 FROM {versions} v JOIN walk ON {join} WHERE walk.hops < %s
        ),
        bounded AS (SELECT id, hops FROM walk LIMIT %s)
        SELECT {ids.split(", ")[0]}, v.version, v.status, v.relation, {ids.split(", ")[1]}, v.lineage_depth, m.name, {data},
               EXISTS (SELECT 1 FROM {attested} a WHERE a.version_id = v.id)
        FROM bounded walk JOIN {versions} v ON v.id = walk.id JOIN {models_table} m ON m.id = v.model_id
        ORDER BY {order}
    """


def walk(version: ModelVersion, direction: str = "ancestors") -> tuple[list[dict], bool]:
    """The versions from the baseline down to ``version`` (``ancestors``), or ``version`` and the tree below it
    breadth-first (``descendants``, at most LINEAGE_MAX_NODES below it), as plain rows: one query, no model
    instances (a 1,000-deep answer is read in tens of milliseconds). Returns (rows, truncated)."""
    from models_app.models import ModelVersion

    max_hops = settings.LINEAGE_MAX_DEPTH
    # Ancestors are bounded by the depth limit; a descendants answer by the node limit (one more row tells
    # whether it was cut).
    limit = max_hops + 2 if direction == "ancestors" else settings.LINEAGE_MAX_NODES + 2
    pk = ModelVersion._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(_walk_sql(direction), [pk.get_db_prep_value(version.pk, connection), max_hops, limit])
        fetched = cursor.fetchall()
    # PostgreSQL gives the canonical text of a uuid; SQLite stores 32 hex digits.
    ident = str if connection.vendor == "postgresql" else (lambda value: str(uuid.UUID(value)))
    rows, seen = [], set()
    for values in fetched:
        row = dict(zip(WALK_COLUMNS, values))
        row["id"] = ident(row["id"])
        if row["id"] in seen:  # a row seen twice can only come from a cycle written past the API: show it once
            continue
        seen.add(row["id"])
        row["derived_from_id"] = ident(row["derived_from_id"]) if row["derived_from_id"] is not None else None
        data = json.loads(row.pop("data"))
        row["metrics"], row["contributors"], row["deltas"] = data["metrics"] or {}, data["contributors"] or [], data["deltas"] or {}
        rows.append(row)
    if direction == "ancestors":
        return rows, len(fetched) >= limit
    return rows[: settings.LINEAGE_MAX_NODES + 1], len(fetched) >= limit or len(rows) > settings.LINEAGE_MAX_NODES + 1


def _ref(row: dict) -> dict:
    return {"id": row["id"], "model": row["model_name"], "version": row["version"]}


def step(row: dict, parent_ref: dict | None) -> dict:
    return {
        **_ref(row),
        "status": row["status"],
        "depth": row["lineage_depth"],
        "relation": row["relation"] or None,
        "derived_from": parent_ref,
        "metrics": row["metrics"],
        "deltas": dict(sorted(row["deltas"].items())),
        "improved": improvements(row["deltas"]),
        "contributors": row["contributors"],
        "attested": bool(row["attested"]),
    }


def lineage(version: ModelVersion, direction: str = "ancestors") -> dict:
    """The lineage answer: each step with its deltas against its parent and its contributors."""
    rows, truncated = walk(version, direction)
    by_id = {row["id"]: row for row in rows}
    steps = []
    for row in rows:
        parent = by_id.get(row["derived_from_id"])
        parent_ref = _ref(parent) if parent is not None else None
        if parent_ref is None and row["derived_from_id"] is not None:
            parent_ref = {"id": row["derived_from_id"], "model": None, "version": None}  # above this answer
        steps.append(step(row, parent_ref))
    return {
        "id": str(version.pk),
        "model": version.model.name,
        "version": version.version,
        "direction": direction,
        "count": len(steps),
        "truncated": truncated,
        "steps": steps,
    }


def export_record(version: ModelVersion) -> dict:
    """A version's lineage and attestation as plain JSON, for export/import (issue 11): the parent by id and by
    (model, version), relation, stored deltas, contributors and the signed envelope exactly as issued."""
    parent = version.derived_from
    attestation = getattr(version, "attestation", None) if version.derived_from_id else None
    return {
        "derived_from": (
            {"id": str(parent.pk), "model": parent.model.name, "version": parent.version, "relation": version.relation}
            if parent is not None else None
        ),
        "lineage_depth": version.lineage_depth,
        "deltas": version.deltas,
        "contributors": version.spec.get("contributors", []),
        "attestation": attestation.as_dict() if attestation is not None else None,
    }


# -- contributors' impact ------------------------------------------------------------------------------------------


def contributions_of(address: str):
    return (
        Contribution.objects.filter(address=address)
        .select_related("version__model")
        .order_by("-version__created_at", "-pk")
    )


def shares(weight: float, deltas: dict) -> dict[str, dict]:
    """The contributor's weighted share of each improvement (absolute and relative)."""
    return {
        name: {
            "absolute": _tidy(weight * delta["absolute"]),
            "relative": _tidy(weight * delta["relative"]) if delta["relative"] is not None else None,
        }
        for name, delta in deltas.items()
        if delta["improved"]
    }


def impact_entry(contribution: Contribution) -> dict:
    version = contribution.version
    return {
        "id": str(version.pk),
        "model": version.model.name,
        "version": version.version,
        "role": contribution.role,
        "weight": contribution.weight,
        "relation": version.relation or None,
        "deltas": dict(sorted(version.deltas.items())),
        "shares": shares(contribution.weight, version.deltas),
    }


def impact_totals(address: str) -> dict:
    """Totals over every contribution of ``address`` (not only one page): per model, the versions contributed
    to and, per metric, how many improved and the sum of the weighted shares. One query, light columns."""
    rows: Iterable = Contribution.objects.filter(address=address).values_list("version__model__name", "weight", "version__deltas")
    per_model: dict[str, dict] = defaultdict(lambda: {"versions": 0, "metrics": defaultdict(lambda: {"improvements": 0, "weighted_absolute": 0.0, "weighted_relative": 0.0})})
    versions = 0
    for model_name, weight, deltas in rows:
        versions += 1
        entry = per_model[model_name]
        entry["versions"] += 1
        for name, share in shares(weight, deltas or {}).items():
            metric = entry["metrics"][name]
            metric["improvements"] += 1
            metric["weighted_absolute"] = _tidy(metric["weighted_absolute"] + share["absolute"])
            metric["weighted_relative"] = _tidy(metric["weighted_relative"] + (share["relative"] or 0.0))
    return {
        "versions": versions,
        "models": [
            {"model": name, "versions": entry["versions"], "metrics": {k: dict(v) for k, v in sorted(entry["metrics"].items())}}
            for name, entry in sorted(per_model.items())
        ],
    }
