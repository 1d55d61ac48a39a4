"""Every operation of the OpenAPI schema that changes state declares the permission it needs, and is refused to
every credential that lacks it (issue #24, fault 1).

The walk starts from the published schema (``/api/schema/``), so an endpoint added tomorrow is walked too: its path
parameters are filled with real objects (a model version with a stored artifact, a pipeline, a policy, their
aliases, a binding, a webhook subscription with a delivery), and each write is sent with seven credentials that may
not make it. Each must be refused (401 or 403 in the error shape; never a 2xx, a 404 or a 500) and leave every row
and every stored byte as it was. A write whose view declares no permission fails the walk before any request.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import resolve
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from bindings_app.models import ProviderBinding
from kernel.api.auth import RegistryAccess, is_read
from kernel.models import ApiKey, StatsSnapshot
from kernel.models.aliases import Alias
from kernel.models.changelog import ChangeLogEntry
from kernel.models.webhooks import WebhookSubscription
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from models_app.models import Model
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.conftest import example

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")

# The write operations that compute an answer and change nothing, so that any valid key (read-only ones too) may
# call them: the one list of them (the views name them in ``read_only_actions``; this walk holds the views to it).
COMPUTATIONS = {
    "model_validate",
    "pipeline_validate",
    "policy_validate",
    "policy_evaluate",
    "attestation_verify",
    "mlflow_registered_models_get_latest_versions",
}

ARTIFACT = b"the admin's weights"


# -- the schema's write operations and what each view declares ------------------------------------------------------


def write_operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in WRITE_METHODS
    ]


def declared_view(method: str, path: str):
    """The view instance that answers ``method path``, as the request would set it up (its ``action`` set)."""
    match = resolve(path)
    view = match.func.cls(**match.func.initkwargs)
    actions = getattr(match.func, "actions", None)
    if actions:
        view.action_map = actions
        view.action = actions.get(method.lower())
    view.args, view.kwargs = match.args, match.kwargs
    return view


def declared_permission(method: str, path: str) -> str | None:
    """The permission the view declares for this write; None if it declares none (or does not use RegistryAccess)."""
    view = declared_view(method, path)
    if not any(isinstance(permission, RegistryAccess) for permission in view.get_permissions()):
        return None
    return RegistryAccess.required_permission(method, view)


# -- a registry with one of everything ------------------------------------------------------------------------------


class World:
    """The objects the write operations' path parameters name."""

    def __init__(self, admin_client: APIClient):
        llama = example("models_app", "llama2-7b-chat")
        first = activate(register(Model, llama).version)
        self.second = register(Model, {**llama, "version": "1.1.0"}).version
        self.model = first.definition.name
        pipeline = register(Pipeline, example("pipelines_app", "text-generation-pipeline")).version.definition
        policy = register(Policy, example("policies_app", "user-rate-limits")).version.definition
        self.names = {"models": self.model, "pipelines": pipeline.name, "policies": policy.name}
        for kind, definition_model in (("models", Model), ("pipelines", Pipeline), ("policies", Policy)):
            definition = definition_model.get_alive(self.names[kind])
            Alias.move(definition, "prod", "1.0.0")
        # A second move, so that rolling back has somewhere to go.
        Alias.move(Model.get_alive(self.model), "prod", "1.1.0")
        self.binding = ProviderBinding.deploy(
            first,
            provider="openai",
            provider_model_id="gpt-4o",
            endpoint_url="https://api.example.com/v1",
            region="us-east-1",
            environment="production",
            cost_per_1k_input_tokens=1,
            cost_per_1k_output_tokens=1,
            slo_latency_p95_ms=1500,
            slo_success_rate=0.95,
        )
        # MLflow tags for the MLflow-compatible API's delete-tag operations to find.
        Model.objects.filter(name=self.model).update(labels={"team": "a"})
        first.definition.versions.filter(pk=first.pk).update(metadata={"mlflow_tags": {"team": "a"}})
        # Loopback only, and never sent to: no worker runs in this test.
        self.webhook = WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["*"])
        self.delivery = self.webhook.send_test_event()
        response = admin_client.put(
            f"/api/v1/models/{self.model}/versions/1.0.0/artifacts/w.bin",
            data=ARTIFACT,
            content_type="application/octet-stream",
        )
        assert response.status_code == 201, response.content

    def fill(self, path: str, parameters: list[dict]) -> list[str]:
        """Concrete paths for a schema path: each parameter filled with a real object (an enum: every value)."""
        kind = path.split("/")[3]
        values = {
            "name": self.names.get(kind, self.model),
            "version": "1.0.0",
            "alias": "prod",
            "filename": "w.bin",
            "id": str({"webhooks": self.webhook.pk, "versions": self.second.pk}.get(kind, self.binding.pk)),
            "delivery": str(self.delivery.pk),
        }
        paths = [path]
        for parameter in parameters:
            if parameter.get("in") != "path":
                continue
            name = parameter["name"]
            choices = parameter.get("schema", {}).get("enum") or [values[name]]
            paths = [p.replace(f"{{{name}}}", str(choice)) for p in paths for choice in choices]
        assert all("{" not in p for p in paths), paths
        return paths


def body_for(operation_id: str, world: World) -> tuple[object, str]:
    """A body the operation would accept from a permitted caller: (data, format or content type)."""
    if operation_id.startswith("mlflow_"):
        # MLflow's API names everything in the body; each endpoint reads the fields it takes (version 1 is 1.0.0).
        fields = {"name": world.model, "version": "1", "alias": "prod", "key": "team", "value": "x"}
        return {**fields, "source": "s3://b/p", "stage": "Staging", "description": "d", "new_name": "other"}, "json"
    if operation_id == "model_artifact_upload":
        return b"an intruder's weights", "application/octet-stream"
    if operation_id == "model_artifacts_upload":
        return {"file": SimpleUploadedFile("w.bin", b"an intruder's weights")}, "multipart"
    kind = operation_id.split("_", 1)[0]
    documents = {
        "model": example("models_app", "llama2-7b-chat"),
        "pipeline": example("pipelines_app", "text-generation-pipeline"),
        "policy": example("policies_app", "user-rate-limits"),
    }
    if operation_id.endswith(("_create", "_versions_post")) and kind in documents:
        return {**documents[kind], "version": "9.0.0"}, "json"
    if operation_id.endswith("_alias_put"):
        return {"version": "1.0.0"}, "json"
    if operation_id == "binding_create":
        return {
            "model": world.model,
            "version": "1.0.0",
            "provider": "openai",
            "provider_model_id": "gpt-4o-mini",
            "endpoint_url": "https://api.openai.com/v1",
            "region": "eu-west-1",
            "environment": "production",
            "cost_per_1k_input_tokens": 0.5,
            "cost_per_1k_output_tokens": 1.5,
            "slo_latency_p95_ms": 1500,
            "slo_success_rate": 0.99,
        }, "json"
    if operation_id == "binding_report":
        return [{"success": True, "latency_ms": 120}], "json"
    if operation_id == "webhook_create":
        return {"url": "http://127.0.0.1:9/other", "events": ["*"]}, "json"
    if operation_id == "retention_apply":
        return {"keep": 1}, "json"
    if operation_id.endswith(("_update", "_partial_update")):
        return {"description": "changed by someone who may not"}, "json"
    return None, "json"


def send(client: APIClient, method: str, path: str, body: tuple[object, str]):
    data, kind = body
    if data is None:
        return client.generic(method, path)
    if kind in ("json", "multipart"):
        return getattr(client, method.lower())(path, data, format=kind)
    return getattr(client, method.lower())(path, data=data, content_type=kind)


# -- credentials that may not write -----------------------------------------------------------------------------------


def key_client(user, **options) -> tuple[APIClient, ApiKey]:
    api_key, key = ApiKey.objects.issue(user, **options)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client, api_key


def registry_permissions():
    return Permission.objects.exclude(content_type__app_label__in=("auth", "admin", "contenttypes", "sessions"))


def refused_credentials(superuser, permission: str | None) -> dict[str, APIClient]:
    User = get_user_model()
    plain = User.objects.create_user(f"plain-{User.objects.count()}", password="unused-password-1")
    staff = User.objects.create_user(f"staff-{User.objects.count()}", password="unused-password-1", is_staff=True)
    app_label, _, codename = (permission or "").partition(".")
    staff.user_permissions.set(registry_permissions().exclude(content_type__app_label=app_label, codename=codename))
    expired, expired_key = key_client(superuser, expires_in_days=1)
    ApiKey.objects.filter(pk=expired_key.pk).update(expiry_date=timezone.now() - timedelta(minutes=1))
    revoked, revoked_key = key_client(superuser)
    ApiKey.objects.filter(pk=revoked_key.pk).update(revoked=True)
    # A browser session writes only as staff, whatever the user's permissions.
    browser_user = User.objects.create_user(f"browser-{User.objects.count()}", password="unused-password-1")
    browser_user.user_permissions.set(registry_permissions())
    browser = APIClient()
    browser.force_login(browser_user)
    return {
        "anonymous": APIClient(),
        "read-only key (superuser's)": key_client(superuser, read_only=True)[0],
        "plain user's read-write key": key_client(plain)[0],
        f"staff key without {permission}": key_client(staff)[0],
        "expired key (superuser's)": expired,
        "revoked key (superuser's)": revoked,
        "session of a non-staff user with every permission": browser,
    }


# -- what a refused write must leave as it was -----------------------------------------------------------------------


def state(artifact_root: Path) -> str:
    """Every row of the registry's tables (keys and their use aside) and every stored byte, as one digest."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if model._meta.app_label in ("auth", "admin", "contenttypes", "sessions", "axes") or model is ApiKey:
            continue
        rows = list(model._base_manager.order_by("pk").values())
        digest.update(f"{model._meta.label}:{json.dumps(rows, default=str, sort_keys=True)}".encode())
    for file in sorted(artifact_root.rglob("*")):
        if file.is_file():
            digest.update(str(file.relative_to(artifact_root)).encode() + file.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="unused-password-1")


@pytest.fixture
def world(superuser, settings, tmp_path):
    settings.ARTIFACT_STORAGE = "filesystem"
    settings.ARTIFACT_ROOT = str(tmp_path)
    return World(key_client(superuser)[0])


@pytest.fixture
def schema(anon) -> dict:
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


# -- the walk --------------------------------------------------------------------------------------------------------


def test_every_write_operation_declares_a_permission_that_exists(schema, world):
    operations = write_operations(schema)
    assert len(operations) >= 50, "the schema's write operations were not found"
    missing, unknown, computations, declared = [], [], set(), {}
    known = {
        f"{app}.{codename}"
        for app, codename in registry_permissions().values_list("content_type__app_label", "codename")
    }
    for method, path, operation in operations:
        concrete = world.fill(path, operation.get("parameters", []))[0]
        if is_read(method, declared_view(method, concrete)):
            computations.add(operation["operationId"])
            declared[(method, path)] = None
            continue
        permission = declared[(method, path)] = declared_permission(method, concrete)
        if permission is None:
            missing.append(f"{method} {path}")
        elif permission not in known:
            unknown.append(f"{method} {path}: {permission}")
    assert missing == [], "write operations that declare no permission"
    assert unknown == [], "write operations that declare a permission no one can be granted"
    assert computations == COMPUTATIONS
    assert documented_permissions() == declared, "docs/api/index.md's permissions table differs from the views"


KINDS = (
    ("models", "models_app", "model"),
    ("pipelines", "pipelines_app", "pipeline"),
    ("policies", "policies_app", "policy"),
)


def documented_permissions() -> dict[tuple[str, str], str | None]:
    """{(method, path): permission} from the table under "## Permissions" in docs/api/index.md (None: none needed),
    with `{kind}` rows expanded and `/suffix` paths taken relative to the row's first path."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api" / "index.md").read_text()
    section = text.split("\n## Permissions\n", 1)[1].split("\n## ", 1)[0]
    table: dict[tuple[str, str], str | None] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"[A-Z, ]+", cells[0]):
            continue
        methods = [m.strip() for m in cells[0].split(",")]
        paths = re.findall(r"`([^`]+)`", cells[1])
        paths = [p if p.startswith("/api/") else paths[0].rsplit("/", 1)[0] + p for p in paths]
        permission = re.match(r"`([^`]+)`", cells[2])
        kinds = KINDS if "{kind}" in cells[1] else ((None, None, None),)
        for method, path, (kind, app, model) in itertools.product(methods, paths, kinds):
            granted = permission[1] if permission else None
            if kind:
                path = path.replace("{kind}", kind)
                granted = granted and granted.replace("<app>", app).replace("<kind>", model)
            table[(method, path)] = granted
    return table


def refusal(response) -> dict:
    """The refusal's code and message: the registry's error shape, or MLflow's on its API (/api/2.0/mlflow)."""
    body = response.json()
    if "error_code" in body:
        return {"code": body["error_code"], "message": body["message"]}
    return body["errors"][0]


def test_every_write_operation_is_refused_to_every_credential_that_may_not_make_it(schema, world, superuser, tmp_path):
    wrong = []
    for method, path, operation in write_operations(schema):
        operation_id = operation["operationId"]
        if operation_id in COMPUTATIONS:
            continue
        for concrete in world.fill(path, operation.get("parameters", [])):
            permission = declared_permission(method, concrete)
            credentials = refused_credentials(superuser, permission)
            changes, before = ChangeLogEntry.objects.count(), state(tmp_path)
            for credential, client in credentials.items():
                response = send(client, method, concrete, body_for(operation_id, world))
                error = refusal(response) if response.status_code in (401, 403) else {}
                if response.status_code not in (401, 403) or not error.get("message") or not error.get("code"):
                    wrong.append(
                        f"{method} {concrete} with {credential}: {response.status_code} {response.content[:200]}"
                    )
            if ChangeLogEntry.objects.count() != changes or state(tmp_path) != before:
                wrong.append(f"{method} {concrete}: a refused write changed the registry")
    assert wrong == []


def test_the_walk_reaches_real_objects_a_permitted_caller_can_write(schema, world, superuser):
    """The control: with every permission, each write gets past the permission check to a real object (so the
    refusals above are the permission's, not a wrong path's)."""
    admin = key_client(superuser)[0]
    wrong = []
    for method, path, operation in write_operations(schema):
        for concrete in world.fill(path, operation.get("parameters", [])):
            with transaction.atomic():
                response = send(admin, method, concrete, body_for(operation["operationId"], world))
                transaction.set_rollback(True)
            if response.status_code in (401, 403, 404) or response.status_code >= 500:
                wrong.append(f"{method} {concrete}: {response.status_code} {response.content[:200]}")
    assert wrong == []


class UndeclaredWrite(APIView):
    """A write added without a permission: what a forgotten declaration looks like."""

    def post(self, request):
        return Response({"done": True})


def test_a_write_that_declares_no_permission_is_refused_even_to_a_superuser(superuser):
    _, key = ApiKey.objects.issue(superuser)
    request = APIRequestFactory().post("/api/v1/undeclared", {}, format="json", HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = UndeclaredWrite.as_view()(request)

    assert response.status_code == 403
    assert "declares no permission" in response.data["errors"][0]["message"]


# -- work on behalf of a read-only key --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/stats?refresh=true", "/api/v1/retention/stats?refresh=true"])
def test_a_read_only_key_cannot_make_the_registry_recompute_statistics(superuser, url):
    read_only = key_client(superuser, read_only=True)[0]
    read_only.get("/api/v1/stats")  # the stored snapshot, computed once if there is none
    snapshots = list(StatsSnapshot.objects.values_list("pk", "refreshed_at"))

    response = read_only.get(url)

    assert response.status_code == 403
    assert "read-only" in response.json()["errors"][0]["message"]
    assert list(StatsSnapshot.objects.values_list("pk", "refreshed_at")) == snapshots
    assert read_only.get(url.split("?")[0]).status_code == 200  # the stored snapshot is still there to read
    assert key_client(superuser)[0].get(url).status_code == 200  # a read-write staff key may ask
