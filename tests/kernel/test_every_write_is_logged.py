"""Done when: every write operation of the API, enumerated from the OpenAPI schema, leaves exactly one change-log
entry when it succeeds and none when it is rejected.

A new write endpoint fails this test until it is described in ``EXAMPLES`` (or listed in ``READ_ONLY`` if it
changes nothing): give its path parameters, a body that succeeds and a request that is rejected. Keys are
operation ids; ``*_<action>`` entries serve every definition kind (models, pipelines, policies).

Decisions: a binding's ``report`` is telemetry (the gateway sends batches continuously), so a batch leaves no
entry of its own; the status move it may cause (degraded / recovered) is the entry (see
``test_a_report_batch_leaves_an_entry_only_when_the_status_moves``). Creating an active binding or enabling one
records a single ``model.deployed`` entry about the binding. A retention run records one entry per version it
archives and one ``retention.applied`` summary (set-based, as issue #9 asks of bulk jobs); a multipart upload one
``model.artifact_stored`` per file stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from kernel.models.aliases import Alias
from kernel.models.changelog import ChangeLogEntry, acting_as
from kernel.models.webhooks import WebhookSubscription
from kernel.reads.lookups import lookup
from kernel.writes.delete import soft_delete
from kernel.writes.lifecycle import activate
from kernel.writes.register import register, register_version
from kernel.writes.register import register as do_register
from kernel.writes.register import register_version as do_register_version
from models_app.models import Model
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.conftest import example

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")

# POST operations that change nothing.
READ_ONLY = {"*_validate", "policy_evaluate", "attestation_verify", "mlflow_registered_models_get_latest_versions"}
# Telemetry: counted, not logged (see the module docstring); tested on its own below.
TELEMETRY = {"binding_report"}


@dataclass
class Example:
    """How to call one write operation. ``params`` fill the path's ``{placeholders}`` (``{name}`` is the
    fixture definition's name unless given); ``body(world)`` builds the request body; ``rejected`` overrides
    ``params``/``body`` for a request that must fail (4xx) and so leave no entry."""

    body: Callable[[World], Any] = lambda world: None
    params: dict[str, str] = field(default_factory=dict)
    rejected_params: dict[str, str] = field(default_factory=dict)
    rejected_body: Callable[[World], Any] | None = None
    # Builds the world the call acts on; the default registers a definition of the operation's kind.
    setup: Callable[[str, int], World] | None = None
    format: str = "json"  # or "raw" (bytes as application/octet-stream) or "multipart"
    entries: int = 1


@dataclass
class World:
    """What an operation acts on; by default a fresh definition of the operation's kind, registered at 1.0.0
    and 1.1.0 with 1.0.0 current, and the alias ``production`` moved from 1.0.0 to 1.1.0."""

    kind: str
    name: str
    document: dict
    params: dict[str, str] = field(default_factory=dict)

    def doc(self, version: str) -> dict:
        return {**copy.deepcopy(self.document), "name": self.name, "version": version}


INVALID_DOCUMENT = lambda world: {**world.doc("3.0.0"), "version": "not-semver"}  # noqa: E731

EXAMPLES: dict[str, Example] = {
    "*_create": Example(body=lambda w: w.doc("2.0.0"), rejected_body=INVALID_DOCUMENT),
    "*_versions_post": Example(body=lambda w: w.doc("2.0.0"), rejected_body=INVALID_DOCUMENT),
    "*_update": Example(body=lambda w: {"description": "replaced"}, rejected_body=lambda w: {"tags": "not-a-list"}),
    "*_partial_update": Example(
        body=lambda w: {"description": "patched"}, rejected_body=lambda w: {"tags": "not-a-list"}
    ),
    "*_destroy": Example(rejected_params={"name": "no-such-definition"}),
    "*_alias_put": Example(
        params={"alias": "staging"}, body=lambda w: {"version": "1.1.0"}, rejected_body=lambda w: {"version": "9.9.9"}
    ),
    "*_alias_delete": Example(params={"alias": "production"}, rejected_params={"alias": "no-such-alias"}),
    "*_alias_rollback": Example(params={"alias": "production"}, rejected_params={"alias": "no-such-alias"}),
    "*_lifecycle": Example(
        params={"version": "1.1.0", "move": "deprecate"}, rejected_params={"version": "9.9.9", "move": "deprecate"}
    ),
    "*_rename": Example(body=lambda w: {"name": f"{w.name}-renamed"}, rejected_body=lambda w: {"name": "Not A Slug"}),
}


def version_world(operation_id: str, index: int) -> World:
    """The default world plus 1.2.0: neither current nor aliased, so it may be deleted, archived or sealed."""
    world = make_world(operation_id, index)
    with acting_as("test:setup"):
        do_register_version(DEFINITIONS[world.kind].get_alive(world.name), world.doc("1.2.0"))
    return world


def deleted_world(operation_id: str, index: int) -> World:
    world = make_world(operation_id, index)
    with acting_as("test:setup"):
        soft_delete(DEFINITIONS[world.kind].objects.get(name=world.name))
    return world


def retention_world(operation_id: str, index: int) -> World:
    """A model with one version past keep=1 that nothing protects."""
    world = make_world("model_retention", index)
    with acting_as("test:setup"):
        model = Model.get_alive(world.name)
        for version in ("1.2.0", "1.3.0"):
            register_version(model, world.doc(version))
    return world


def binding_world(operation_id: str, index: int, *, status: str = "active") -> World:
    from bindings_app.models import ProviderBinding

    world = make_world("model_binding", index)
    with acting_as("test:setup"):
        binding = ProviderBinding.deploy(lookup(Model, world.name, "1.0.0"), **BINDING, region="us-east-1")
        if status == "disabled":
            binding.disable()
    return World("binding", world.name, {}, params={"id": str(binding.pk)})


def version_by_id_world(operation_id: str, index: int) -> World:
    """``version_world``, with 1.2.0's id for /api/v1/versions/{id}."""
    world = version_world("model_versions", index)
    world.params = {"id": str(lookup(Model, world.name, "1.2.0").pk)}
    return world


NO_VERSION = {"id": "00000000-0000-0000-0000-000000000000"}

BINDING = {
    "provider": "openai",
    "provider_model_id": "gpt-4o",
    "endpoint_url": "https://api.example.com/v1",
    "environment": "production",
    "cost_per_1k_input_tokens": 1,
    "cost_per_1k_output_tokens": 1,
}


def binding_body(world: World, **overrides) -> dict:
    return {"model": world.name, "version": "1.0.0", **BINDING, "region": "eu-west-1", **overrides}


NO_BINDING = {"id": "999999999"}
EXAMPLES.update(
    {
        "*_delete_version": Example(
            setup=version_world, params={"version": "1.2.0"}, rejected_params={"version": "1.0.0"}
        ),  # current
        "*_restore": Example(setup=deleted_world, rejected_params={"name": "no-such-definition"}),
        "model_artifact_upload": Example(
            setup=version_world,
            format="raw",
            params={"version": "1.2.0", "filename": "weights.bin"},
            body=lambda w: b"weights",
            rejected_params={"version": "9.9.9"},
        ),
        "model_artifacts_upload": Example(
            setup=version_world,
            format="multipart",
            params={"version": "1.2.0"},
            body=lambda w: {"a": SimpleUploadedFile("a.bin", b"a"), "b": SimpleUploadedFile("b.bin", b"b")},
            rejected_params={"version": "9.9.9"},
            entries=2,  # one model.artifact_stored per file, as for one-file uploads
        ),
        "model_deactivate": Example(params={"version": "1.0.0"}, rejected_params={"version": "9.9.9"}),
        "versions_partial_update": Example(
            setup=version_by_id_world,
            body=lambda w: {"description": "by id"},
            rejected_body=lambda w: {"tags": "not-a-list"},
        ),
        "versions_destroy": Example(setup=version_by_id_world, rejected_params=NO_VERSION),
        "model_evaluations_post": Example(
            params={"version": "1.0.0"},
            body=lambda w: {"metrics": {"accuracy": 0.9}, "dataset": "held-out"},
            rejected_body=lambda w: {"metrics": {"accuracy": "high"}},
        ),
        "model_artifacts_seal": Example(
            setup=version_world, params={"version": "1.2.0"}, rejected_params={"version": "9.9.9"}
        ),
        "retention_apply": Example(
            setup=retention_world,
            body=lambda w: {"model": w.name, "keep": 1},
            rejected_body=lambda w: {"model": w.name, "keep": 0},
            entries=2,  # 1.2.0 archived, and the run's summary
        ),
        "binding_create": Example(
            setup=binding_world,
            body=binding_body,
            rejected_body=lambda w: binding_body(w, config={"api_key": "sk-live-0123456789abcdef"}),
        ),
        "binding_update": Example(
            setup=binding_world,
            body=lambda w: binding_body(w, region="us-east-1", weight=50),
            rejected_body=lambda w: binding_body(w, region="us-east-1", endpoint_url="ftp://example.org/"),
        ),
        "binding_partial_update": Example(
            setup=binding_world, body=lambda w: {"weight": 50}, rejected_body=lambda w: {"weight": -1}
        ),
        "binding_destroy": Example(
            setup=lambda op, i: binding_world(op, i, status="disabled"), rejected_params=NO_BINDING
        ),
        "binding_enable": Example(
            setup=lambda op, i: binding_world(op, i, status="disabled"), rejected_params=NO_BINDING
        ),
        "binding_disable": Example(setup=binding_world, rejected_params=NO_BINDING),
    }
)


def webhook_world(operation_id: str, index: int) -> World:
    """A subscription with one queued test delivery; the caller's key belongs to staff (see the test)."""
    subscription = WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["model.*"])
    delivery = subscription.send_test_event()
    return World("webhook", str(subscription.pk), {}, params={"id": str(subscription.pk), "delivery": str(delivery.pk)})


WEBHOOK = dict(setup=webhook_world, rejected_params={"id": "999999999"})
EXAMPLES.update(
    {
        "webhook_create": Example(
            setup=webhook_world,
            body=lambda w: {"url": "http://127.0.0.1:9/created", "events": ["*"]},  # loopback, allowed by the test
            rejected_body=lambda w: {"url": "ftp://example.org/", "events": ["*"]},
        ),
        "webhook_partial_update": Example(body=lambda w: {"active": False}, **WEBHOOK),
        "webhook_destroy": Example(**WEBHOOK),
        "webhook_rotate_secret": Example(**WEBHOOK),
        "webhook_test": Example(**WEBHOOK),
        "webhook_redeliver": Example(**WEBHOOK),
    }
)


def mlflow_world(operation_id: str, index: int) -> World:
    """The default model world seen through MLflow's API (/api/2.0/mlflow): versions 1 (1.0.0, current), 2 (1.1.0,
    aliased production) and 3 (1.2.0, free), the tag ``team`` on the model and on version 2."""
    world = version_world("model_mlflow", index)
    Model.objects.filter(name=world.name).update(labels={"team": "a"})
    Model.get_alive(world.name).versions.filter(version="1.1.0").update(metadata={"mlflow_tags": {"team": "a"}})
    return world


def mlflow_example(body: dict, rejected: dict, entries: int = 1) -> Example:
    """An MLflow call: every field in the JSON body, ``name`` the world's model unless given."""
    return Example(
        setup=mlflow_world,
        body=lambda w: {"name": w.name, **body},
        rejected_body=lambda w: {"name": w.name, **rejected},
        entries=entries,
    )


EXAMPLES.update(
    {
        "mlflow_registered_models_create": Example(
            setup=mlflow_world, body=lambda w: {"name": f"{w.name}-new"}, rejected_body=lambda w: {"name": "Not A Slug"}
        ),
        "mlflow_registered_models_rename": Example(
            setup=mlflow_world,
            body=lambda w: {"name": w.name, "new_name": f"{w.name}-renamed"},
            rejected_body=lambda w: {"name": w.name, "new_name": "Not A Slug"},
        ),
        "mlflow_registered_models_update": mlflow_example({"description": "d"}, {"name": "no-such-model"}),
        "mlflow_registered_models_delete": mlflow_example({}, {"name": "no-such-model"}),
        "mlflow_registered_models_set_tag": mlflow_example({"key": "k", "value": "v"}, {"name": "no-such-model"}),
        "mlflow_registered_models_delete_tag": mlflow_example({"key": "team"}, {"key": "missing"}),
        "mlflow_registered_models_alias_post": mlflow_example(
            {"alias": "champion", "version": "3"}, {"alias": "champion", "version": "99"}
        ),
        "mlflow_registered_models_alias_delete": mlflow_example({"alias": "production"}, {"alias": "missing"}),
        "mlflow_model_versions_create": mlflow_example({"source": "s3://b/p"}, {"source": ""}),
        "mlflow_model_versions_update": mlflow_example({"version": "2", "description": "x"}, {"version": "99"}),
        "mlflow_model_versions_delete": mlflow_example({"version": "3"}, {"version": "1"}),  # 1 is current
        "mlflow_model_versions_set_tag": mlflow_example({"version": "2", "key": "k", "value": "v"}, {"version": "99"}),
        "mlflow_model_versions_delete_tag": mlflow_example(
            {"version": "2", "key": "team"}, {"version": "2", "key": "x"}
        ),
        "mlflow_model_versions_transition_stage": mlflow_example(
            {"version": "3", "stage": "Staging"}, {"version": "3", "stage": "Bogus"}
        ),
    }
)

DEFINITIONS = {"model": Model, "pipeline": Pipeline, "policy": Policy}
DOCUMENTS = {
    "model": ("models_app", "llama2-7b-chat"),
    "pipeline": ("pipelines_app", "text-generation-pipeline"),
    "policy": ("policies_app", "user-rate-limits"),
}


@cache
def write_operations() -> tuple[tuple[str, str, str], ...]:
    """(operation id, method, path) of every write operation the API documents; generated once per run, for both
    tests here (a generation takes seconds on the 2-core machine, and tests/contract/test_openapi_schema.py shows
    that a second one in the same process gives the same schema)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return tuple(
        sorted(
            (operation["operationId"], method, path)
            for path, item in schema["paths"].items()
            for method, operation in item.items()
            if method in WRITE_METHODS
        )
    )


def generic_key(operation_id: str) -> str:
    return "*_" + operation_id.split("_", 1)[1]


def example_for(operation_id: str) -> Example | None:
    return EXAMPLES.get(operation_id) or EXAMPLES.get(generic_key(operation_id))


def make_world(operation_id: str, index: int) -> World:
    kind = operation_id.split("_", 1)[0]
    app, name = DOCUMENTS[kind]
    world = World(kind, f"{kind}-{index}", example(app, name))
    with acting_as("test:setup"):
        activate(do_register(DEFINITIONS[kind], world.doc("1.0.0")).version)
        do_register(DEFINITIONS[kind], world.doc("1.1.0"))
        definition = DEFINITIONS[kind].objects.get(name=world.name)
        Alias.move(definition, "production", "1.0.0")
        Alias.move(definition, "production", "1.1.0")
    return world


def fill(path: str, params: dict[str, str]) -> str:
    for key, value in params.items():
        path = path.replace("{" + key + "}", value)
    assert "{" not in path, f"no example value for a parameter of {path}"
    return path


def call(api, method: str, path: str, body, format: str = "json") -> Any:
    if body is None:
        return getattr(api, method)(path)
    if format == "raw":
        return getattr(api, method)(path, data=body, content_type="application/octet-stream")
    return getattr(api, method)(path, body, format=format)


def test_every_write_operation_is_described_here():
    missing = [
        op
        for op, _, _ in write_operations()
        if op not in READ_ONLY | TELEMETRY and generic_key(op) not in READ_ONLY and example_for(op) is None
    ]
    assert missing == [], f"add an Example (or READ_ONLY entry) for: {missing}"


def test_each_write_leaves_one_entry_and_a_rejected_one_leaves_none(api, user, settings, tmp_path):
    user.is_staff = True  # webhook subscriptions, restore and retention are staff's
    user.save()
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # subscriptions go to loopback only (nothing listens on port 9)
    # The example model the pipelines run.
    with acting_as("test:setup"):
        register(Model, example("models_app", "llama2-7b-chat"))
    checked = []
    for index, (operation_id, method, path) in enumerate(write_operations()):
        if operation_id in READ_ONLY | TELEMETRY or generic_key(operation_id) in READ_ONLY:
            continue
        spec = example_for(operation_id)
        world = (spec.setup or make_world)(operation_id, index)
        params = {"name": world.name, **world.params, **spec.params}

        mark = ChangeLogEntry.objects.order_by("-id").values_list("id", flat=True).first()
        rejected = call(
            api,
            method,
            fill(path, {**params, **spec.rejected_params}),
            (spec.rejected_body or spec.body)(world),
            spec.format,
        )
        assert 400 <= rejected.status_code < 500, (operation_id, rejected.status_code)
        assert not ChangeLogEntry.objects.filter(id__gt=mark).exists(), (
            f"{operation_id}: a rejected write left an entry"
        )

        response = call(api, method, fill(path, params), spec.body(world), spec.format)
        assert 200 <= response.status_code < 300, (operation_id, response.status_code, getattr(response, "data", None))
        entries = list(ChangeLogEntry.objects.filter(id__gt=mark))
        assert len(entries) == spec.entries, f"{operation_id}: {[e.action for e in entries]}"
        assert all(e.actor.startswith("api-key:") for e in entries), (operation_id, [e.actor for e in entries])
        checked.append(operation_id)
    assert len(checked) >= 27  # nine write operations for each of the three kinds, at least


def test_a_report_batch_leaves_an_entry_only_when_the_status_moves(api, settings):
    settings.BINDING_SLO_MIN_SAMPLES = 5
    with acting_as("test:setup"):
        world = binding_world("binding_report", 0)
    from bindings_app.models import ProviderBinding

    ProviderBinding.objects.filter(pk=world.params["id"]).update(slo_success_rate=0.9)
    url = f"/api/v1/bindings/{world.params['id']}/report"
    mark = ChangeLogEntry.objects.order_by("-id").values_list("id", flat=True).first()

    assert api.post(url, [{"success": True, "latency_ms": 100}] * 10, format="json").status_code == 200
    assert not ChangeLogEntry.objects.filter(id__gt=mark).exists()

    assert api.post(url, [{"success": False, "latency_ms": 100}] * 990, format="json").status_code == 200
    assert [e.action for e in ChangeLogEntry.objects.filter(id__gt=mark)] == ["binding.degraded"]
