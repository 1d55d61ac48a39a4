"""MLflow's own client (mlflow-skinny, pinned in requirements-dev.txt) against a real gunicorn on the PostgreSQL
test database, loopback only: ``MLFLOW_TRACKING_URI`` is the server, ``MLFLOW_TRACKING_TOKEN`` an API key. One
server per module; each test gets its own user and key (the database is flushed after every test)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from kernel.models import ApiKey
from tests.servers import gunicorn


@pytest.fixture(scope="module")
def registry_url(django_db_setup, tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("registry-mlflow-server")
    with gunicorn(workers=1, env={"ARTIFACT_ROOT": str(tmp / "artifacts")}, options=("--threads", "4")) as base:
        yield base


@pytest.fixture
def writer(db):
    """A user holding every models_app permission (what a team's CI bot would get)."""
    user = get_user_model().objects.create_user(username="mlflow-bot", password="unused-password-123")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="models_app"))
    return user


@pytest.fixture
def api_key(writer) -> str:
    return ApiKey.objects.issue(writer)[1]


@pytest.fixture
def mlflow_env(monkeypatch, registry_url, api_key):
    """The environment an MLflow user sets; no retries, so a refusal is seen at once."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry_url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", api_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    return registry_url


@pytest.fixture
def client(mlflow_env):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_env, registry_uri=mlflow_env)


def v1_document(name: str, version: str = "1.0.0", **fields) -> dict:
    doc = {
        "name": name,
        "version": version,
        "family": "llama",
        "artifact": {"bucket": "models", "path": f"{name}/{version}", "format": "safetensors"},
        "runtime": {"type": "vllm", "dtype": "float16"},
        "tags": ["production"],
    }
    doc.update(fields)
    return doc
