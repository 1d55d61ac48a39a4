"""A curator uploads a file on a model version's admin page in Chromium and sees it listed with its digests."""

from __future__ import annotations

import hashlib

import pytest

from kernel.writes.register import register
from models_app.models import Model


@pytest.mark.django_db(transaction=True)
def test_curator_uploads_a_file_and_sees_its_digests_and_integrity(
    staff_page, live_server, llama_doc, settings, tmp_path
):
    settings.ARTIFACT_ROOT = str(tmp_path)
    version = register(Model, llama_doc).version
    staff_page.goto(f"{live_server.url}/admin/models_app/modelversion/{version.pk}/change/")
    assert "No stored files." in staff_page.inner_text("#stored-files")

    staff_page.click("text=Upload files")
    staff_page.set_input_files(
        "input[type=file]", files=[{"name": "model.bin", "mimeType": "application/octet-stream", "buffer": b"weights"}]
    )
    staff_page.click("input[type=submit][value=Upload]")

    staff_page.wait_for_selector("tr.artifact-file")
    row = staff_page.inner_text("tr.artifact-file")
    assert "model.bin" in row and hashlib.sha256(b"weights").hexdigest() in row and "OK" in row
    with staff_page.expect_download() as download:
        staff_page.click("tr.artifact-file a")
    assert open(download.value.path(), "rb").read() == b"weights"
