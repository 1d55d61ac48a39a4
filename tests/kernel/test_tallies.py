"""Counts kept in the database for what Celery workers count (kernel/models/tallies.py): they add up across
processes and come out of /metrics as Prometheus counters and cumulative histograms."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kernel.metrics import CELERY_TASK_BUCKETS
from kernel.models import tallies

pytestmark = pytest.mark.django_db


def scraped(client) -> dict:
    text = client.get("/metrics").content.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_task_runs_counted_in_the_database_are_a_cumulative_histogram_on_metrics(client):
    task = {"task": "kernel.tasks.refresh_stats"}
    for seconds in (0.003, 0.2, 0.3, 4000.0):
        tallies.add_many(
            tallies.observation("registry_celery_task_duration_seconds", task, seconds, CELERY_TASK_BUCKETS)
        )
    tallies.add("registry_celery_task_failures_total", task)
    tallies.add("registry_webhook_deliveries_total", {"outcome": "delivered"}, 2)
    tallies.add("registry_webhook_deliveries_total", {"outcome": "delivered"})

    samples = scraped(client)

    def bucket(le: str) -> float:
        return samples[("registry_celery_task_duration_seconds_bucket", frozenset({**task, "le": le}.items()))]

    assert [bucket("0.01"), bucket("0.1"), bucket("0.5"), bucket("1800.0"), bucket("+Inf")] == [1, 1, 3, 3, 4]
    assert samples[("registry_celery_task_duration_seconds_count", frozenset(task.items()))] == 4
    assert samples[("registry_celery_task_duration_seconds_sum", frozenset(task.items()))] == pytest.approx(4000.503)
    assert samples[("registry_celery_task_failures_total", frozenset(task.items()))] == 1
    assert samples[("registry_webhook_deliveries_total", frozenset({"outcome": "delivered"}.items()))] == 3
