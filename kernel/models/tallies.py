"""Counters and histograms kept in the database, for what is counted where /metrics is not served.

Celery workers may run on other machines than the web workers, so a counter incremented in a worker's memory
would never reach a scrape of the web's /metrics. What workers count (webhook deliveries by outcome, task
durations and failures) is added to a row here instead, one upsert statement per event, and
``kernel.metrics.TallyCollector`` reads the rows at scrape time (one query over a few dozen rows), so every web
replica reports the same figures. Values only grow, like a Prometheus counter; a row is a series: the metric's
name and its labels.

A histogram is three kinds of row: ``<name>_bucket`` with an ``le`` label (the observations that fell in that
bucket only; the collector adds them up), ``<name>_sum`` and ``<name>_count``.
"""

from __future__ import annotations

import json
import math

from django.db import connection, models

NAME_MAX = 100
LABELS_MAX = 300


class Tally(models.Model):
    name = models.CharField(max_length=NAME_MAX)
    labels = models.CharField(max_length=LABELS_MAX, help_text="The series' labels, as canonical JSON.")
    value = models.FloatField(default=0)

    class Meta:
        app_label = "registry_project"
        db_table = "registry_tally"
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="%(app_label)s_%(class)s_series")]

    def label_dict(self) -> dict[str, str]:
        return json.loads(self.labels)


def _labels(labels: dict[str, str]) -> str:
    return json.dumps({key: str(value) for key, value in sorted(labels.items())}, separators=(",", ":"))[:LABELS_MAX]


def add_many(rows: list[tuple[str, dict[str, str], float]]) -> None:
    """Add each ``(name, labels, amount)`` to its series, creating it at 0 first: one statement for them all."""
    if not rows:
        return
    table = Tally._meta.db_table
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    params = [part for name, labels, amount in rows for part in (name[:NAME_MAX], _labels(labels), float(amount))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, labels, value) VALUES {values}"
            f" ON CONFLICT (name, labels) DO UPDATE SET value = {table}.value + excluded.value",
            params,
        )


def add(name: str, labels: dict[str, str], amount: float = 1.0) -> None:
    add_many([(name, labels, amount)])


def observation(name: str, labels: dict[str, str], value: float, buckets: tuple[float, ...]) -> list[tuple]:
    """The rows that record one observation of ``value`` in the histogram ``name`` (for ``add_many``)."""
    bound = next((le for le in buckets if value <= le), math.inf)
    return [
        (f"{name}_bucket", {**labels, "le": "+Inf" if bound == math.inf else repr(float(bound))}, 1.0),
        (f"{name}_sum", labels, value),
        (f"{name}_count", labels, 1.0),
    ]
