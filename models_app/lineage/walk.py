"""Reading lineage: the walks up to the baseline and down to the descendants (one recursive query each), the
lineage answer built from them, and a version's export record."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import connection

from models_app.lineage.deltas import improvements
from models_app.models import Attestation, Model, ModelVersion
from registry_project.replicas import read_connection

WALK_COLUMNS = (
    "id",
    "version",
    "status",
    "relation",
    "derived_from_id",
    "lineage_depth",
    "model_name",
    "data",
    "attested",
)


def _walk_sql(direction: str) -> str:
    """One recursive CTE (PostgreSQL and SQLite alike) returning the walked versions with just what a lineage step
    shows (the spec's metrics and contributors, not the whole spec); ``hops`` bounds the recursion, so even
    corrupted data (a cycle written past the API) terminates."""
    qn = connection.ops.quote_name
    versions, models_table, attested = (qn(m._meta.db_table) for m in (ModelVersion, Model, Attestation))
    # The JSON parts as one object per row (one parse each), ids as text: at depth 1,000 converting values is
    # most of the cost.
    if connection.vendor == "postgresql":
        ids = "v.id::text, v.derived_from_id::text"
        data = "json_build_object('metrics', v.spec -> 'metrics', 'contributors', v.spec -> 'contributors', 'deltas', v.deltas)::text"
    else:
        ids = "v.id, v.derived_from_id"
        data = (
            "json_object('metrics', json_extract(v.spec, '$.metrics'), 'contributors', json_extract(v.spec, '$.contributors'), "
            "'deltas', json(v.deltas))"
        )
    join = "v.id = walk.parent_id" if direction == "ancestors" else "v.derived_from_id = walk.id"
    order = (
        "walk.hops DESC"
        if direction == "ancestors"
        else "walk.hops, m.name, v.major, v.minor, v.patch, v.prerelease_key"
    )
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
    max_hops = settings.LINEAGE_MAX_DEPTH
    # Ancestors are bounded by the depth limit; a descendants answer by the node limit (one more row tells
    # whether it was cut).
    limit = max_hops + 2 if direction == "ancestors" else settings.LINEAGE_MAX_NODES + 2
    pk = ModelVersion._meta.pk
    with read_connection().cursor() as cursor:
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
        row["metrics"], row["contributors"], row["deltas"] = (
            data["metrics"] or {},
            data["contributors"] or [],
            data["deltas"] or {},
        )
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
            if parent is not None
            else None
        ),
        "lineage_depth": version.lineage_depth,
        "deltas": version.deltas,
        "contributors": version.spec.get("contributors", []),
        "attestation": attestation.as_dict() if attestation is not None else None,
    }


def _version_ref(version: ModelVersion) -> dict:
    return {"id": str(version.pk), "model": version.model.name, "version": version.version}


def model_lineage(model: Model) -> dict:
    """A whole model's lineage: its versions (newest first, at most ``LINEAGE_MAX_NODES``) and every edge that
    touches them, between two of its versions or to another model's version, each with the child's deltas
    against its parent. Three queries, however many versions."""
    limit = settings.LINEAGE_MAX_NODES
    versions = list(model.versions.present().select_related("derived_from__model").newest_first()[: limit + 1])
    truncated = len(versions) > limit
    versions = versions[:limit]
    for version in versions:
        version.model = model
    # Versions of other models derived from this one's.
    derived = list(
        ModelVersion.objects.present()
        .filter(derived_from__in=[v.pk for v in versions])
        .exclude(model=model)
        .select_related("model", "derived_from")
        .order_by("model__name", "major", "minor", "patch", "prerelease_key")[: limit + 1]
    )
    truncated = truncated or len(derived) > limit
    by_id = {version.pk: version for version in versions}
    attested = set(Attestation.objects.filter(version__in=[v.pk for v in versions]).values_list("version", flat=True))
    edges = []
    for child in [*reversed(versions), *derived[:limit]]:
        if child.derived_from_id is None:
            continue
        parent = by_id.get(child.derived_from_id) or child.derived_from
        edges.append(
            {
                "from": _version_ref(parent),
                "to": _version_ref(child),
                "relation": child.relation,
                "deltas": dict(sorted(child.deltas.items())),
                "improved": improvements(child.deltas),
            }
        )
    return {
        "model": model.name,
        "count": len(versions),
        "truncated": truncated,
        "versions": [
            {
                "id": str(version.pk),
                "version": version.version,
                "status": version.status,
                "is_current": version.is_current,
                "depth": version.lineage_depth,
                "relation": version.relation or None,
                "derived_from": _version_ref(version.derived_from) if version.derived_from_id else None,
                "metrics": version.spec.get("metrics") or {},
                "attested": version.pk in attested,
            }
            for version in versions
        ],
        "edges": edges,
    }
