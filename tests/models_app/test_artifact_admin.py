"""The version page lists stored files with digests, integrity status and download links; staff upload there
through the same checks as the API."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from kernel.writes.register import register
from models_app.models import ArtifactFile, Model

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client, settings, tmp_path):
    settings.ARTIFACT_ROOT = str(tmp_path)
    client.force_login(get_user_model().objects.create_superuser("curator", password="curator-pass-1"))
    return client


def test_staff_upload_through_the_admin_stores_the_file_and_the_page_lists_it(curator, llama_doc):
    version = register(Model, llama_doc).version
    upload_url = f"/admin/models_app/modelversion/{version.pk}/artifacts/upload/"

    response = curator.post(
        upload_url, {"files": [SimpleUploadedFile("model.bin", b"weights"), SimpleUploadedFile("config.json", b"{}")]}
    )

    assert response.status_code == 302
    page = curator.get(f"/admin/models_app/modelversion/{version.pk}/change/").content.decode()
    assert hashlib.sha256(b"weights").hexdigest() in page
    assert 'href="/api/v1/models/llama2-7b-chat/versions/1.0.0/artifacts/model.bin"' in page
    assert upload_url in page
    download = curator.get("/api/v1/models/llama2-7b-chat/versions/1.0.0/artifacts/model.bin")
    assert b"".join(download.streaming_content) == b"weights"


def test_admin_upload_of_a_mismatching_declared_file_shows_the_error_and_keeps_nothing(curator, model_doc, tmp_path):
    doc = model_doc()
    doc["artifact"]["files"] = {"model.bin": {"size_bytes": 3}}
    version = register(Model, doc).version

    response = curator.post(
        f"/admin/models_app/modelversion/{version.pk}/artifacts/upload/",
        {"files": [SimpleUploadedFile("model.bin", b"weights")]},
    )

    assert response.status_code == 200
    assert "declares size 3 but received 7" in str(response.context["form"].errors["files"])
    assert not ArtifactFile.objects.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
