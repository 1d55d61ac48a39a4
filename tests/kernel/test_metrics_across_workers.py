"""/metrics under gunicorn with several workers (gunicorn.conf.py, prometheus multiprocess mode): a scrape
answered by any one worker counts the requests every worker served, and still carries the registry gauges."""

from __future__ import annotations

import re
import urllib.request

import pytest

from tests.servers import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def live_requests(text: str) -> float:
    pattern = r'django_http_responses_total_by_status_view_method_total\{[^}]*view="health"[^}]*\} ([0-9.e+]+)'
    return sum(float(v) for v in re.findall(pattern, text))


def workers_that_counted(directory) -> set[str]:
    """Each worker writes its counters to counter_<pid>.db in PROMETHEUS_MULTIPROC_DIR."""
    return {path.stem.split("_")[-1] for path in directory.glob("counter_*.db")}


def test_requests_answered_by_different_workers_are_all_counted_in_one_scrape(tmp_path):
    with gunicorn(workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) as base:
        answered = 0
        # Keep asking until both workers have answered (each request opens a new connection).
        while answered < 10 or (len(workers_that_counted(tmp_path)) < 2 and answered < 500):
            get(f"{base}/health")  # not /health/live, which the start-up probe calls
            answered += 1
        assert len(workers_that_counted(tmp_path)) == 2, "gunicorn never handed a request to the second worker"

        text = get(f"{base}/metrics")

    assert live_requests(text) == answered
    assert 'registry_definitions{kind="model"} 0.0' in text
