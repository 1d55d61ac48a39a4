"""Every answer under /api/ has the one error shape: unmatched paths, 405s, a bad Host, over-long URLs, unknown
and invalid query parameters; with DEBUG on (make run) as much as off."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["type"] in ("validation_error", "client_error", "server_error")
    assert body["errors"] and all({"code", "message"} <= set(e) for e in body["errors"])
    if code:
        assert body["errors"][0]["code"] == code
    return body


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/",
        "/api/v1/models/id/not-a-uuid",
        "/api/v1/models/x/versions/1.0.0/unknown",
        "/api/nothing",
        "/api/v1/",
    ],
)
def test_unmatched_paths_under_api_are_json_404s(api, debug, path):
    assert_error_shape(api.get(path), 404, "not_found")


def test_a_trailing_slash_is_explained(api, settings):
    settings.DEBUG = True
    body = assert_error_shape(api.get("/api/v1/models/"), 404)
    assert "trailing slash" in body["errors"][0]["message"]


def test_a_version_that_is_not_semver_is_a_json_404_naming_the_version(api, model_doc):
    api.post("/api/v1/models", model_doc(), format="json")
    body = assert_error_shape(api.get("/api/v1/models/llama2-7b-chat/versions/v1"), 404)
    assert body["errors"][0]["parameter"] == "version"


@pytest.mark.parametrize(
    "method, path",
    [("put", "/api/v1/models"), ("delete", "/api/v1/models/validate"), ("get", "/api/v1/policies/evaluate")],
)
def test_methods_an_endpoint_does_not_take_are_json_405s(api, debug, method, path):
    assert_error_shape(getattr(api, method)(path), 405, "method_not_allowed")


def test_a_bad_host_header_is_a_json_400(api, debug):
    body = assert_error_shape(api.get("/api/v1/models", HTTP_HOST="evil.example"), 400)
    assert "HOST" in body["errors"][0]["message"].upper()


def test_an_over_long_url_is_a_json_414(api, settings):
    settings.MAX_URL_LENGTH = 300
    assert_error_shape(api.get("/api/v1/models?search=" + "x" * 400), 414, "uri_too_long")


def test_pages_outside_the_api_keep_their_own_format(client, settings):
    settings.DEBUG = True
    response = client.get("/admin/nothing-here/")
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("stauts=active", "stauts"),
        ("is_current=maybe", "is_current"),
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("created_after=yesterday", "created_after"),
        ("ordering=size", "ordering"),
    ],
)
@pytest.mark.parametrize("kind", ["models", "pipelines", "policies"])
def test_unknown_parameters_and_invalid_filter_values_are_400s_naming_the_parameter(api, kind, query, parameter):
    body = assert_error_shape(api.get(f"/api/v1/{kind}?{query}"), 400)
    assert [e["parameter"] for e in body["errors"]] == [parameter]


def test_the_versions_list_is_as_strict_as_the_list(api, model_doc):
    api.post("/api/v1/models", model_doc(), format="json")
    body = assert_error_shape(api.get("/api/v1/models/llama2-7b-chat/versions?colour=red"), 400)
    assert body["errors"][0]["parameter"] == "colour"
    assert api.get("/api/v1/models/llama2-7b-chat/versions?status=active&limit=5").json()["count"] == 1


def test_boolean_filters_take_true_and_false(api, model_doc):
    api.post("/api/v1/models", model_doc(), format="json")
    assert api.get("/api/v1/models?is_current=false").json()["count"] == 1
    assert api.get("/api/v1/models?is_current=true").json()["count"] == 0


# -- gunicorn's own answers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(params=["RegistryThreadWorker", "JsonErrorSyncWorker"])
def gunicorn_port(request):
    port = _free_port()
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "gunicorn-test-secret", "DATABASE_URL": "sqlite:///:memory:"}
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "registry_project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            f"registry_project.gunicorn_workers.{request.param}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_gunicorns_own_414_and_431_have_the_error_shape(gunicorn_port):
    import json

    long_line = _raw_request(
        gunicorn_port, b"GET /api/v1/models?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    head, _, body = long_line.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["errors"][0]["code"] == "uri_too_long"

    many_headers = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    too_many = _raw_request(
        gunicorn_port, b"GET /api/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many_headers + b"\r\n"
    )
    head, _, body = too_many.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] in (b"400", b"431")
    assert json.loads(body)["type"] in ("validation_error", "client_error")


def test_gunicorns_worker_sends_whole_answers(gunicorn_port):
    """The worker corks each answer (head and body in one segment) and uncorks it when the answer is complete:
    nothing is held back or lost, whatever the answer's size."""
    import json

    for path in (b"/health/live", b"/api/schema/"):
        answer = _raw_request(
            gunicorn_port,
            b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        )
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        assert len(body) == length
        if path.endswith(b"live"):
            assert json.loads(body)
