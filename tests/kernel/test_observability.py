"""Observability end to end, on one stack the tests share (it costs seconds to start). Tracing: gunicorn and a real Celery worker (prefork: tracing starts after the fork) export to a small
OTLP/HTTP receiver on loopback, and one registration that triggers a webhook is one trace, from the request span
through its statements, the Celery task that delivered the change and the delivery itself to the receiver, which
got a ``traceparent`` in that trace. The log lines of a traced request carry its trace and span ids. Metrics: one
scrape of /metrics, answered by either web worker, shows what both workers and the Celery worker counted."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.parser import text_string_to_metric_families

from kernel.models import ApiKey
from kernel.models.webhooks import WebhookSubscription
from tests.kernel.test_webhooks import Receiver
from tests.servers import ROOT, free_port, gunicorn, shared_database_url, shared_replica_urls, start_redis, wait_for

pytestmark = [pytest.mark.postgres]


def value_of(any_value):
    """An attribute's value: a string, number or bool as it is, a list as a list of those."""
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return [value_of(item) for item in any_value.array_value.values]
    return getattr(any_value, which) if which else None


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint (``POST /v1/traces``, protobuf) on a free port of 127.0.0.1, keeping every
    span it is sent as a plain namespace."""

    def __init__(self):
        self.spans: list[SimpleNamespace] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    resource = {a.key: value_of(a.value) for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append(
                                SimpleNamespace(
                                    name=span.name,
                                    kind=span.kind,
                                    trace_id=span.trace_id.hex(),
                                    span_id=span.span_id.hex(),
                                    parent=span.parent_span_id.hex(),
                                    attributes={a.key: value_of(a.value) for a in span.attributes},
                                    service=resource.get("service.name"),
                                )
                            )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def in_trace(self, trace_id: str) -> list[SimpleNamespace]:
        return [span for span in self.spans if span.trace_id == trace_id]


def ancestors(span, by_id: dict) -> list[str]:
    chain = []
    while span.parent and span.parent in by_id:
        chain.append(span.parent)
        span = by_id[span.parent]
    return chain


@pytest.fixture(scope="module")
def traced(django_db_setup, tmp_path_factory):
    """The OTLP receiver, a broker, gunicorn (2 workers) and a Celery worker with beat, all tracing to it."""
    tmp = tmp_path_factory.mktemp("tracing")
    otlp = OtlpReceiver()
    hooks = Receiver()
    broker_port = free_port()
    broker = start_redis(broker_port)
    tracing_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_SERVICE_NAME": "registry-under-test",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fifth of a second, not the default five
    }
    worker_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        **tracing_env,
        "DATABASE_URL": shared_database_url(),
        **shared_replica_urls(),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker_port}/0",
        "CELERY_RESULT_BACKEND": "",
        "REDIS_URL": f"redis://127.0.0.1:{broker_port}/1",
        "WEBHOOK_RELAY_INTERVAL_SECONDS": "1",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "test-worker",
        "DEBUG": "false",
        "LOG_FORMAT": "json",
    }
    worker_log = tmp / "worker.log"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry_project",
            "worker",
            "-B",
            "--pool=prefork",
            "--concurrency=1",
            "--queues=celery,webhooks",
            "--loglevel=WARNING",
            "-s",
            str(tmp / "beat-schedule"),
        ],
        cwd=ROOT,
        env=worker_env,
        stdout=open(worker_log, "w"),
        stderr=subprocess.STDOUT,
    )
    web_log = tmp / "web.log"
    try:
        web_env = {
            **tracing_env,
            "REDIS_URL": f"redis://127.0.0.1:{broker_port}/1",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
            "ARTIFACT_ROOT": str(tmp / "artifacts"),
        }
        (tmp / "metrics").mkdir()
        with gunicorn(workers=2, log=web_log, env=web_env) as base:
            yield SimpleNamespace(
                base=base,
                otlp=otlp,
                hooks=hooks,
                web_log=web_log,
                worker_log=worker_log,
                metrics_dir=tmp / "metrics",
            )
            worker.send_signal(signal.SIGQUIT)  # stops while gunicorn does (a cold shutdown: child and beat too)
    finally:
        worker.send_signal(signal.SIGQUIT)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        broker.terminate()
        broker.wait()
        for server in (otlp.server, hooks.server):
            server.shutdown()
            server.server_close()


def call(url: str, key: str, *, method: str = "GET", body: bytes | None = None, **headers) -> tuple[int, bytes]:
    """One request on a new connection (so gunicorn's workers share the traffic); the status and the body."""
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Authorization": f"Api-Key {key}", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(url: str, body: dict, key: str, request_id: str = "") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"X-Request-ID": request_id} if request_id else {})}
    status, answer = call(url, key, method="POST", body=json.dumps(body).encode(), **headers)
    return status, json.loads(answer)


@pytest.mark.django_db(transaction=True)
def test_one_registration_is_one_trace_from_the_request_to_the_webhook_receiver(traced, user, model_doc):
    WebhookSubscription.objects.create(url=traced.hooks.url, events=["model.*"])
    api_key, key = ApiKey.objects.issue(user)
    request_id = uuid.uuid4().hex

    status, _ = post(f"{traced.base}/api/v1/models", model_doc(name="traced-model"), key, request_id)
    assert status == 201

    def hook() -> dict | None:
        """The headers of the delivery of this registration (the receiver is shared by the module's tests)."""
        events = [(headers, json.loads(body)) for headers, body in traced.hooks.received]
        return next((headers for headers, event in events if event["data"]["name"] == "traced-model"), None)

    assert wait_for(lambda: hook() is not None, 30), traced.worker_log.read_text()[-3000:]
    (request,) = [
        s
        for s in traced.otlp.spans
        if s.kind == Span.SPAN_KIND_SERVER and s.attributes.get("registry.name") == "traced-model"
    ]
    names = {"webhook deliver", "run/kernel.tasks.deliver_webhook_lane"}  # the task's span ends after the delivery
    assert wait_for(lambda: names <= {s.name for s in traced.otlp.in_trace(request.trace_id)}, 10)
    # The request span: named by its route, with the registry's attributes (the key's public prefix, never the key).
    assert request.name.startswith("POST ") and "models" in request.name
    assert request.service == "registry-under-test"
    assert request.attributes["registry.kind"] == "model"
    assert request.attributes["registry.version"] == "1.0.0"
    assert request.attributes["registry.api_key.prefix"] == api_key.prefix
    assert key not in json.dumps([s.attributes for s in traced.otlp.spans])

    trace = traced.otlp.in_trace(request.trace_id)
    by_id = {s.span_id: s for s in trace}
    under_request = [s for s in trace if request.span_id in ancestors(s, by_id)]
    # Its statements (the registration writes its version, change-log entry and outbox item in one) and Redis calls.
    statements = [
        s
        for s in under_request
        if s.attributes.get("db.system") == "postgresql" or s.attributes.get("db.system.name") == "postgresql"
    ]
    assert any(
        "INSERT" in str(s.attributes.get("db.statement", s.attributes.get("db.query.text", ""))) for s in statements
    ), [(s.name, s.attributes) for s in under_request]
    assert any(
        s.attributes.get("db.system") == "redis" or s.attributes.get("db.system.name") == "redis" for s in under_request
    )
    # The Celery task that delivered it, published in the change's trace by the relay, in the worker process.
    (task,) = [s for s in under_request if s.name == "run/kernel.tasks.deliver_webhook_lane"]
    assert (
        task.kind == Span.SPAN_KIND_CONSUMER
        and task.attributes["celery.task_name"] == "kernel.tasks.deliver_webhook_lane"
    )
    # The delivery, inside that task, and the receiver continued the same trace from the delivery's span.
    (delivery,) = [s for s in under_request if s.name == "webhook deliver"]
    assert delivery.kind == Span.SPAN_KIND_CLIENT and delivery.parent == task.span_id
    assert delivery.attributes["registry.name"] == "traced-model"
    assert delivery.attributes["http.response.status_code"] == 200
    headers = hook()
    version, trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", request.trace_id, delivery.span_id)
    assert int(flags, 16) & 1  # sampled


@pytest.mark.django_db(transaction=True)
def test_log_lines_of_a_traced_request_carry_its_trace_and_span_ids(traced, user, model_doc):
    _, key = ApiKey.objects.issue(user)
    request_id = uuid.uuid4().hex

    post(f"{traced.base}/api/v1/models", model_doc(name="logged-model"), key, request_id)

    def lines() -> list[dict]:
        return [json.loads(line) for line in traced.web_log.read_text().splitlines() if request_id in line]

    assert wait_for(lambda: len(lines()) >= 2, 10)  # the write's line and the access line
    assert {line["event"] for line in lines()} >= {"model_registered", "request_finished"}
    assert wait_for(lambda: any(s.attributes.get("registry.name") == "logged-model" for s in traced.otlp.spans), 10)
    (request,) = [
        s
        for s in traced.otlp.spans
        if s.attributes.get("registry.name") == "logged-model" and s.kind == Span.SPAN_KIND_SERVER
    ]
    for line in lines():
        assert line["trace_id"] == request.trace_id, line
        assert line["span_id"] == request.span_id, line


@pytest.mark.django_db(transaction=True)
def test_a_document_read_shows_the_prepared_statement_of_its_lookup(traced, user, model_doc):
    _, key = ApiKey.objects.issue(user)
    assert post(f"{traced.base}/api/v1/models", model_doc(name="read-model"), key)[0] == 201

    assert call(f"{traced.base}/api/v1/models/read-model?version=1.0.0", key)[0] == 200

    def read_span():
        return next(
            (
                s
                for s in traced.otlp.spans
                if s.name.startswith("GET ") and s.attributes.get("registry.name") == "read-model"
            ),
            None,
        )

    assert wait_for(lambda: read_span() is not None, 10)
    read = read_span()
    assert read.attributes["registry.kind"] == "model" and read.attributes["registry.version"] == "1.0.0"
    # The hot path's lookup runs as a prepared statement on a cursor class of its own: traced like the others.
    statements = [s for s in traced.otlp.in_trace(read.trace_id) if s.parent == read.span_id and s.name == "SELECT"]
    assert any('FROM "models_app_modelversion"' in str(s.attributes.get("db.statement")) for s in statements)


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of one /metrics scrape, by name and labels."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_once(base: str, settled, seconds: float = 10) -> dict:
    """The first scrape that ``settled(samples)`` accepts (the worker counts a delivery just after the receiver
    answered it), or the last one tried."""
    found: list[dict] = []
    wait_for(lambda: settled(found.append(scrape(base)) or found[-1]), seconds)
    return found[-1]


def value(samples: dict, name: str, **labels) -> float:
    """The sample ``name`` with exactly these labels (histograms: their _count/_sum carry no ``le``)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: dict, name: str) -> list[dict]:
    return [dict(labels) for (sample, labels) in samples if sample == name]


@pytest.mark.django_db(transaction=True)
def test_one_scrape_answers_the_operators_questions_across_workers(traced, user, model_doc):
    WebhookSubscription.objects.create(url=traced.hooks.url, events=["model.*"])
    _, key = ApiKey.objects.issue(user)
    limited, limited_key = ApiKey.objects.issue(user, name="limited")
    ApiKey.objects.filter(pk=limited.pk).update(rate_limit_per_minute=1, rate_limit_burst=1)
    before = scrape(traced.base)
    received_before = len(traced.hooks.received)  # the receiver is the module's, shared with the tests before
    models = f"{traced.base}/api/v1/models"

    for index in range(6):  # each on a new connection: both workers get some
        assert post(models, model_doc(name=f"metered-{index}"), key)[0] == 201
    assert post(models, model_doc(name="metered-0"), key)[0] == 200  # the same spec again: a retry
    assert post(models, model_doc(name="metered-bad", version="one"), key)[0] == 400
    assert post(f"{models}/validate", model_doc(name="checked"), key)[0] == 200
    artifact = f"{models}/metered-0/versions/1.0.0/artifacts/weights.bin"
    assert call(artifact, key, method="PUT", body=b"w" * 5000, **{"Content-Type": "application/octet-stream"})[0] == 201
    assert call(artifact, key) == (200, b"w" * 5000)
    assert call(artifact, key, Range="bytes=0-99")[0] == 206
    assert [call(f"{models}/metered-1", limited_key)[0] for _ in range(2)] == [200, 429]
    both_workers = wait_for(
        lambda: len({p.stem.split("_")[-1] for p in traced.metrics_dir.glob("histogram_*.db")}) >= 2, 5
    )
    assert both_workers, "gunicorn never handed a request to the second worker"
    # The six registrations and the stored artifact reach the receiver; the worker counts each after its answer.
    assert wait_for(lambda: len(traced.hooks.received) >= received_before + 7, 30)
    delivered = {"outcome": "delivered"}
    after = scrape_once(
        traced.base, lambda samples: value(samples, "registry_webhook_deliveries_total", **delivered) >= 7
    )

    def grew(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("registry_registrations_total", kind="model", outcome="created") == 6
    assert grew("registry_registrations_total", kind="model", outcome="retry") == 1
    (rejected,) = [labels for labels in series(after, "registry_rejections_total") if labels["kind"] == "model"]
    assert (
        rejected["code"] in ("pattern", "invalid_version", "format")
        and grew("registry_rejections_total", **rejected) == 1
    )
    assert grew("registry_validation_duration_seconds_count", kind="model") >= 8  # 7 registrations' and validate's
    assert 0 < value(after, "registry_validation_duration_seconds_sum", kind="model") < 10
    route = {"route": "models-api:model-list"}  # POST /api/v1/models
    assert grew("registry_request_db_queries_count", **route) == 8
    assert 8 <= grew("registry_request_db_queries_sum", **route) <= 8 * 30  # a few statements each, bounded
    assert 0 < grew("registry_request_db_duration_seconds_sum", **route) < 8
    assert grew("registry_artifact_uploaded_bytes_total") == 5000
    assert grew("registry_artifact_served_bytes_total") == 5100
    assert grew("registry_artifact_upload_duration_seconds_count") == 1
    assert grew("registry_rate_limited_total", scope="api") == 1
    # Both scopes are series at 0 before any refusal, so rate() sees the first one (a first sample is a start).
    assert {"scope": "check"} in series(before, "registry_rate_limited_total")
    # Counted by the Celery worker, in the database, and read by whichever web worker answered.
    assert (
        value(after, "registry_webhook_deliveries_total", **delivered) == 7
    )  # this test's (the table is emptied between tests)
    tasks = {labels["task"] for labels in series(after, "registry_celery_task_duration_seconds_count")}
    assert {"kernel.tasks.deliver_webhooks", "kernel.tasks.deliver_webhook_lane"} <= tasks
    lane = {"task": "kernel.tasks.deliver_webhook_lane"}
    assert value(after, "registry_celery_task_duration_seconds_count", **lane) >= 1
    assert value(after, "registry_celery_task_duration_seconds_bucket", le="+Inf", **lane) == value(
        after, "registry_celery_task_duration_seconds_count", **lane
    )
    assert value(after, "registry_celery_task_failures_total", **lane) == 0
    # Read from the database at scrape time: nothing waits once every delivery went out.
    assert ("registry_webhook_outbox_backlog", frozenset()) in after
    assert 0 <= value(after, "registry_webhook_outbox_oldest_pending_age_seconds") < 60
