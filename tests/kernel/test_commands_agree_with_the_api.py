"""manage.py validate and register accept exactly what the API accepts (issue #27): the same documents through
both, with the same errors and warnings."""

from __future__ import annotations

import json

import pytest

from models_app.models import ModelVersion
from tests.kernel.test_commands import run

pytestmark = pytest.mark.django_db


def documents(api, model_doc) -> dict[str, dict]:
    """The documents the earlier services' users hold: one saved from a GET, one with the definition block, one
    carrying read-only fields, and one that is wrong."""
    saved = api.post("/api/v1/models", model_doc(name="saved"), format="json").json()
    saved.pop("warnings", None)
    return {
        "from_a_get": {**api.get("/api/v1/models/saved").json(), "version": "2.0.0"},
        "definition_block": model_doc(name="blocked", definition={"tags": ["team-a"], "description": "ours"}),
        "read_only_fields": {
            **model_doc(name="ro"),
            "id": saved["id"],
            "active": True,
            "created_at": saved["created_at"],
        },
        "bad_block": model_doc(name="badblock", definition={"tags": "not-a-list"}),
        "wrong": {**model_doc(name="wrong"), "runtime": {"type": "nope"}},
    }


def test_validate_answers_as_the_validate_endpoint_for_every_document(api, model_doc, tmp_path):
    for label, document in documents(api, model_doc).items():
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(document))

        code, out, _ = run("validate", str(path), "--json")

        over_http = api.post("/api/v1/models/validate", document, format="json").json()
        on_the_command_line = json.loads(out.splitlines()[0])
        assert (on_the_command_line["valid"], code) == (over_http["valid"], 0 if over_http["valid"] else 1), label
        assert on_the_command_line["errors"] == over_http["errors"], label
        assert on_the_command_line["warnings"] == over_http["warnings"], label


def test_register_registers_what_the_api_registers_with_its_warnings(api, model_doc, tmp_path):
    docs = documents(api, model_doc)
    for label in ("from_a_get", "definition_block", "read_only_fields"):
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(docs[label]))

        code, out, err = run("register", str(path))

        assert code == 0, (label, err)
        if label == "read_only_fields":
            assert "warning read_only_ignored" in out
    assert ModelVersion.objects.get(model__name="saved", version="2.0.0")
    assert api.get("/api/v1/models/blocked").json()["definition"] == {"tags": ["team-a"], "description": "ours"}


def test_register_says_when_a_version_was_already_registered(model_doc, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model_doc()))

    first = run("register", str(path))
    again = run("register", str(path))

    assert "registered model llama2-7b-chat@1.0.0" in first[1]
    assert "already registered model llama2-7b-chat@1.0.0 (unchanged)" in again[1]
