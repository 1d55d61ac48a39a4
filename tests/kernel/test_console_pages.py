"""The curator console's pages without a browser: bounded queries and results, search by the definition's own
tags, readable change-log entries (tests/browser/test_console.py drives the same pages in Chromium)."""

from __future__ import annotations

import pytest

from kernel import stats
from kernel.admin import console
from kernel.admin.changes import field_changes, headline
from kernel.models.changelog import ChangeLogEntry
from kernel.writes.register import register
from kernel.writes.update import update_document
from models_app.models import Model
from tests.conftest import example

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="curator", email="", password="x-123456"))
    return client


def register_models(count: int, **fields):
    for n in range(count):
        register(Model, {**example("models_app", "llama2-7b-chat"), "name": f"model-{n}", **fields})


def test_the_landing_page_costs_the_same_few_queries_however_much_is_registered(
    admin_client, django_assert_max_num_queries
):
    register_models(12)
    stats.refresh()  # as beat keeps it; the page reads the stored snapshot
    with django_assert_max_num_queries(20):
        response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert b"model model-11 1.0.0: version registered" in response.content


def test_search_finds_a_definitions_own_tag_and_bounds_each_kinds_results(
    admin_client, monkeypatch, django_assert_max_num_queries
):
    register_models(3)
    update_document(Model.objects.get(name="model-1").resolve_version("latest"), {"definition": {"tags": ["flagship"]}})

    found = admin_client.get("/admin/search/", {"q": "flagship"})
    assert [row["name"] for row in found.context["sections"][0]["rows"]] == ["model-1"]
    assert found.context["sections"][0]["rows"][0]["matched"] == "tag"

    monkeypatch.setattr(console, "SEARCH_RESULTS", 2)
    with django_assert_max_num_queries(12):
        bounded = admin_client.get("/admin/search/", {"q": "model"})
    models = bounded.context["sections"][0]
    assert len(models["rows"]) == 2 and models["more"] is True
    assert b"search the models list" in bounded.content


def test_a_change_log_entry_reads_as_a_sentence_and_a_line_per_field():
    entry = ChangeLogEntry(
        action="model.version_updated",
        kind="model",
        name="chat",
        version="1.2.0",
        changes={"tags": [["a"], ["a", "b"]], "description": ["old", "new"], "created": True},
    )

    assert headline(entry) == "model chat 1.2.0: version updated"
    lines, more = field_changes(entry.changes)
    assert [(line.field, line.before, line.after) for line in lines] == [
        ("tags", '["a"]', '["a", "b"]'),
        ("description", "old", "new"),
        ("created", None, "true"),
    ]
    assert more == 0


def test_the_change_log_list_is_newest_first_with_each_change_readable(admin_client):
    register_models(2)

    page = admin_client.get("/admin/registry_project/changelogentry/").content.decode()

    assert page.index("model-1") < page.index("model-0")
    assert '<span class="change-field-name">family</span>' in page


def test_compare_takes_the_version_before_one_that_derives_from_none(admin_client):
    register_models(1)
    register(Model, {**example("models_app", "llama2-7b-chat"), "name": "model-0", "version": "1.1.0"})

    page = admin_client.get("/admin/compare/models/model-0/", {"to": "1.1.0"})

    assert page.status_code == 200
    assert page.context["found"]["from"]["version"] == "1.0.0"
    assert "compared with the version before it, 1.0.0" in page.content.decode()
