"""The registry's statistics: a snapshot stored in the database, assembled from per-app contributions.

Each app may have a ``stats`` module (``models_app/stats.py``, ...) with

- ``SECTION``: the snapshot key it fills (``"models"``);
- ``registry_stats() -> dict``: its figures, from a few aggregate queries (never a loop over rows);
- optionally ``registry_metrics(section: dict) -> Iterable[Metric]``: the Prometheus families drawn from its
  section of the stored snapshot.

An app added later (bindings, artifacts) plugs in by adding that module; nothing here changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from django.db.models import Count
from django.utils import timezone


def contributors() -> list[ModuleType]:
    found = []
    from kernel.backup import project_apps

    for app_config in project_apps():
        name = f"{app_config.name}.stats"
        if app_config.name == "kernel" or importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        if hasattr(module, "registry_stats"):
            found.append(module)
    return found


def refresh():
    """Recompute every section and store the snapshot; returns it."""
    from kernel.models import StatsSnapshot

    started = time.monotonic()
    data = {module.SECTION: module.registry_stats() for module in contributors()}
    duration_ms = int((time.monotonic() - started) * 1000)
    snapshot, _ = StatsSnapshot.objects.update_or_create(
        pk=1, defaults={"data": data, "refreshed_at": timezone.now(), "duration_ms": duration_ms}
    )
    return snapshot


def current(*, refresh_if_missing: bool = True):
    """The stored snapshot; the first caller on a fresh registry computes it."""
    from kernel.models import StatsSnapshot

    snapshot = StatsSnapshot.objects.filter(pk=1).first()
    if snapshot is None and refresh_if_missing:
        snapshot = refresh()
    return snapshot


def metrics(snapshot) -> Iterable[Any]:
    for module in contributors():
        section = snapshot.data.get(module.SECTION)
        if section is not None and hasattr(module, "registry_metrics"):
            yield from module.registry_metrics(section)


def count_by(queryset, field: str, *, distinct: str = "pk") -> dict[str, int]:
    """``{value: count}`` of ``queryset`` grouped by ``field``, in one query."""
    rows = queryset.order_by().values(field).annotate(n=Count(distinct, distinct=distinct != "pk"))
    return {str(row[field]) if row[field] is not None else "": row["n"] for row in rows}


def definition_stats(definition_model) -> dict[str, Any]:
    """Live definitions of one kind and their versions by lifecycle status (two queries)."""
    version_model = definition_model.versions.rel.related_model
    return {
        "kind": definition_model.kind,
        "total": definition_model.objects.alive().count(),
        "versions_by_status": count_by(version_model.objects.of_alive(), "status"),
    }
