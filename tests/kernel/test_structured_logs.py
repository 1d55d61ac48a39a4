"""Structured logs: one JSON object per line, an access line per request (request id, method, path, status,
duration, caller) and a line per committed registry write (kind, name, version); readable console lines for local
development. The log output of real requests is captured through the project's own formatter and parsed."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import datetime

import pytest

from registry_project import logs
from tests.conftest import ROOT

URL = "/api/v1/models"


@pytest.fixture
def log_lines():
    """Every record logged while the test runs, rendered by the JSON formatter; call it to parse them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def events(lines, name):
    return [line for line in lines if line["event"] == name]


@pytest.mark.django_db(transaction=True)
def test_a_registration_logs_one_access_line_and_a_model_registered_event(api, model_doc, log_lines):
    response = api.post(URL, model_doc(), format="json", HTTP_X_REQUEST_ID="req-7")
    assert response.status_code == 201

    lines = log_lines()
    [access] = events(lines, "request_finished")
    assert access["request_id"] == "req-7" and access["level"] == "info" and access["logger"] == "registry.access"
    assert (access["method"], access["path"], access["status"]) == ("POST", URL, 201)
    assert isinstance(access["duration_ms"], float) and 0 <= access["duration_ms"] < 60_000
    assert access["user"] == "svc" and access["api_key"] == api.api_key.partition(".")[0]
    assert datetime.fromisoformat(access["timestamp"]).utcoffset().total_seconds() == 0

    [registered] = events(lines, "model_registered")
    assert registered == {
        "event": "model_registered",
        "kind": "model",
        "name": "llama2-7b-chat",
        "version": "1.0.0",
        "request_id": "req-7",
        "level": "info",
        "logger": "registry.writes",
        "timestamp": registered["timestamp"],
    }


@pytest.mark.django_db(transaction=True)
def test_lifecycle_moves_and_updates_are_logged_with_their_version(api, model_doc, log_lines):
    assert api.post(URL, model_doc(version="1.0.0"), format="json").status_code == 201
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/activate", HTTP_X_REQUEST_ID="move-1").status_code == 200
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/archive").status_code == 200
    assert api.patch(f"{URL}/llama2-7b-chat?version=1.0.0", {"description": "x"}, format="json").status_code == 200

    writes = [
        (line["event"], line["name"], line["version"]) for line in log_lines() if line["logger"] == "registry.writes"
    ]
    assert writes == [
        ("model_registered", "llama2-7b-chat", "1.0.0"),
        ("model_version_activated", "llama2-7b-chat", "1.0.0"),
        ("model_version_archived", "llama2-7b-chat", "1.0.0"),
        ("model_version_updated", "llama2-7b-chat", "1.0.0"),
    ]
    assert events(log_lines(), "model_version_activated")[0]["request_id"] == "move-1"


@pytest.mark.django_db(transaction=True)
def test_a_rejected_write_logs_its_refusal_but_no_registry_event(api, model_doc, log_lines):
    assert api.post(URL, model_doc(), format="json").status_code == 201
    other = model_doc()
    other["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry (200)
    assert api.post(URL, other, format="json").status_code == 409
    assert api.post(URL, model_doc(version="not-semver"), format="json").status_code == 400

    lines = log_lines()
    assert len(events(lines, "model_registered")) == 1
    refused = events(lines, "request_finished")[1:]
    assert [(line["status"], line["level"]) for line in refused] == [(409, "warning"), (400, "warning")]


@pytest.mark.django_db
def test_an_anonymous_request_is_logged_without_a_caller(anon, log_lines):
    assert anon.get(URL).status_code == 401

    [access] = events(log_lines(), "request_finished")
    assert access["status"] == 401 and len(access["request_id"]) == 32
    assert "user" not in access and "api_key" not in access


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["not-a-key", "valid"])
def test_a_request_answered_before_authentication_is_logged_without_authenticating_it(api, anon, log_lines, key):
    # An unacceptable Accept header is a 406 before DRF authenticates; the access line must not authenticate
    # for it (a refused key was a 500 here, a valid one had its use recorded for a request that was not served).
    from kernel.models import ApiKey

    ApiKey.objects.update(last_used_at=None)
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {api.api_key if key == 'valid' else key}")
    assert anon.get(URL, HTTP_ACCEPT="text/html").status_code == 406

    [access] = events(log_lines(), "request_finished")
    assert access["status"] == 406 and "api_key" not in access
    assert ApiKey.objects.filter(last_used_at__isnull=False).count() == 0


@pytest.mark.django_db
def test_djangos_own_lines_about_a_request_carry_its_id(anon, log_lines):
    assert anon.get("/no/such/page", HTTP_X_REQUEST_ID="lost-1").status_code == 404

    [not_found] = [line for line in log_lines() if line["logger"] == "django.request"]
    assert not_found["event"] == "Not Found: /no/such/page" and not_found["request_id"] == "lost-1"


def run_request(**env) -> subprocess.CompletedProcess:
    """A real request served in a fresh process configured only by the environment, as in production."""
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "assert Client().get('/health/live', HTTP_HOST='127.0.0.1', HTTP_X_REQUEST_ID='probe-1').status_code == 200\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "LOG_FORMAT")}
    base.update(DJANGO_SETTINGS_MODULE="registry_project.settings", SECRET_KEY="s" * 50, **env)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_production_logs_are_one_json_object_per_line():
    result = run_request(DEBUG="false")
    assert result.returncode == 0, result.stderr

    lines = [json.loads(line) for line in result.stderr.splitlines()]
    [access] = [line for line in lines if line["event"] == "request_finished"]
    assert access["request_id"] == "probe-1" and access["path"] == "/health/live" and access["status"] == 200


@pytest.mark.parametrize("env", [{"DEBUG": "true"}, {"DEBUG": "false", "LOG_FORMAT": "console"}])
def test_local_development_gets_readable_console_lines(env):
    result = run_request(**env)
    assert result.returncode == 0, result.stderr

    [access] = [line for line in result.stderr.splitlines() if "request_finished" in line]
    assert not access.startswith("{")
    assert "[info" in access and "path=/health/live" in access and "request_id=probe-1" in access


def test_an_unknown_log_format_is_a_configuration_error():
    result = run_request(DEBUG="false", LOG_FORMAT="xml")
    assert result.returncode != 0 and "LOG_FORMAT='xml' must be 'json' or 'console'" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_in_production_writes_only_json_lines(tmp_path):
    import urllib.request

    from tests.servers import gunicorn

    log = tmp_path / "gunicorn.log"
    with gunicorn(workers=2, log=log) as base:
        for request_id in ("g-1", "g-2"):
            request = urllib.request.Request(f"{base}/health/live", headers={"X-Request-ID": request_id})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["logger"] for line in lines} >= {"gunicorn.error", "registry.access"}
    access = [
        (line["request_id"], line["path"], line["status"]) for line in lines if line["event"] == "request_finished"
    ]
    assert sorted(a for a in access if a[0].startswith("g-")) == [
        ("g-1", "/health/live", 200),
        ("g-2", "/health/live", 200),
    ]
