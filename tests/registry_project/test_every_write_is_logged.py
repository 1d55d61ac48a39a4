"""Done when: every write operation of the API, enumerated from the OpenAPI schema, leaves exactly one change-log
entry when it succeeds and none when it is rejected.

A new write endpoint fails this test until it is described in ``EXAMPLES`` (or listed in ``READ_ONLY`` if it
changes nothing): give its path parameters, a body that succeeds and a request that is rejected. Keys are
operation ids; ``*_<action>`` entries serve every definition kind (models, pipelines, policies).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from drf_spectacular.generators import SchemaGenerator

from models_app.models import Model
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from registry_project.aliases import Alias
from registry_project.webhooks import WebhookSubscription
from registry_project.changelog import ChangeLogEntry, acting_as
from tests.conftest import example

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")

# POST operations that change nothing.
READ_ONLY = {"*_validate", "policy_evaluate"}


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
    "*_partial_update": Example(body=lambda w: {"description": "patched"}, rejected_body=lambda w: {"tags": "not-a-list"}),
    "*_destroy": Example(rejected_params={"name": "no-such-definition"}),
    "*_alias_put": Example(params={"alias": "staging"}, body=lambda w: {"version": "1.1.0"}, rejected_body=lambda w: {"version": "9.9.9"}),
    "*_alias_delete": Example(params={"alias": "production"}, rejected_params={"alias": "no-such-alias"}),
    "*_alias_rollback": Example(params={"alias": "production"}, rejected_params={"alias": "no-such-alias"}),
    "*_lifecycle": Example(params={"version": "1.1.0", "move": "deprecate"}, rejected_params={"version": "9.9.9", "move": "deprecate"}),
}

def webhook_world(operation_id: str, index: int) -> World:
    """A subscription with one queued test delivery; the caller's key belongs to staff (see the test)."""
    subscription = WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["model.*"])
    delivery = subscription.send_test_event()
    return World("webhook", str(subscription.pk), {}, params={"id": str(subscription.pk), "delivery": str(delivery.pk)})


WEBHOOK = dict(setup=webhook_world, rejected_params={"id": "999999999"})
EXAMPLES.update({
    "webhook_create": Example(setup=webhook_world, body=lambda w: {"url": "https://example.org/hook", "events": ["*"]},
                              rejected_body=lambda w: {"url": "ftp://example.org/", "events": ["*"]}),
    "webhook_partial_update": Example(body=lambda w: {"active": False}, **WEBHOOK),
    "webhook_destroy": Example(**WEBHOOK),
    "webhook_rotate_secret": Example(**WEBHOOK),
    "webhook_test": Example(**WEBHOOK),
    "webhook_redeliver": Example(**WEBHOOK),
})

DEFINITIONS = {"model": Model, "pipeline": Pipeline, "policy": Policy}
DOCUMENTS = {
    "model": ("models_app", "llama2-7b-chat"),
    "pipeline": ("pipelines_app", "text-generation-pipeline"),
    "policy": ("policies_app", "user-rate-limits"),
}


def write_operations() -> list[tuple[str, str, str]]:
    """(operation id, method, path) of every write operation the API documents."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (operation["operationId"], method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in WRITE_METHODS
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
        DEFINITIONS[kind].register(world.doc("1.0.0")).version.activate()
        DEFINITIONS[kind].register(world.doc("1.1.0"))
        definition = DEFINITIONS[kind].objects.get(name=world.name)
        Alias.move(definition, "production", "1.0.0")
        Alias.move(definition, "production", "1.1.0")
    return world


def fill(path: str, params: dict[str, str]) -> str:
    for key, value in params.items():
        path = path.replace("{" + key + "}", value)
    assert "{" not in path, f"no example value for a parameter of {path}"
    return path


def call(api, method: str, path: str, body) -> Any:
    return getattr(api, method)(path, body, format="json") if body is not None else getattr(api, method)(path)


def test_every_write_operation_is_described_here():
    missing = [op for op, _, _ in write_operations() if op not in READ_ONLY and generic_key(op) not in READ_ONLY and example_for(op) is None]
    assert missing == [], f"add an Example (or READ_ONLY entry) for: {missing}"


def test_each_write_leaves_one_entry_and_a_rejected_one_leaves_none(api, user):
    user.is_staff = True  # webhook subscriptions are staff's
    user.save()
    # The example model the pipelines run.
    with acting_as("test:setup"):
        Model.register(example("models_app", "llama2-7b-chat"))
    checked = []
    for index, (operation_id, method, path) in enumerate(write_operations()):
        if operation_id in READ_ONLY or generic_key(operation_id) in READ_ONLY:
            continue
        spec = example_for(operation_id)
        world = (spec.setup or make_world)(operation_id, index)
        params = {"name": world.name, **world.params, **spec.params}

        mark = ChangeLogEntry.objects.order_by("-id").values_list("id", flat=True).first()
        rejected = call(api, method, fill(path, {**params, **spec.rejected_params}), (spec.rejected_body or spec.body)(world))
        assert 400 <= rejected.status_code < 500, (operation_id, rejected.status_code)
        assert not ChangeLogEntry.objects.filter(id__gt=mark).exists(), f"{operation_id}: a rejected write left an entry"

        response = call(api, method, fill(path, params), spec.body(world))
        assert 200 <= response.status_code < 300, (operation_id, response.status_code, getattr(response, "data", None))
        entries = list(ChangeLogEntry.objects.filter(id__gt=mark))
        assert len(entries) == 1, f"{operation_id}: {[e.action for e in entries]}"
        assert entries[0].actor.startswith("api-key:"), operation_id
        checked.append(operation_id)
    assert len(checked) >= 27  # nine write operations for each of the three kinds, at least
