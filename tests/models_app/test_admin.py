"""The curator UI: models with their versions, readable specs, lifecycle actions, and registration through a
form that runs the API's validation and shows each error beside its field."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from kernel.writes.lifecycle import activate, deprecate
from kernel.writes.register import register
from models_app.models import Model, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client):
    client.force_login(get_user_model().objects.create_superuser("curator", password="curator-pass-1"))
    return client


def form_data(doc: dict) -> dict:
    """What the register page posts: the document its script built from the schema's fields."""
    return {"document": json.dumps(doc)}


def test_registering_through_the_admin_creates_the_version(curator, llama_doc):
    response = curator.post("/admin/models_app/model/register/", form_data(llama_doc))

    assert response.status_code == 302
    version = ModelVersion.objects.get()
    assert response["Location"] == f"/admin/models_app/modelversion/{version.pk}/change/"
    assert version.spec["runtime"]["type"] == "vllm"


def test_admin_registration_shows_every_error_beside_its_field(curator, llama_doc):
    llama_doc["artifact"]["format"] = "zip"
    llama_doc["runtime"]["gpu_memory_utilization"] = 3
    llama_doc["name"] = "Bad Name"

    response = curator.post("/admin/models_app/model/register/", form_data(llama_doc))

    assert response.status_code == 200
    paths = {error["path"] for error in response.context["server_errors"]}
    assert {"/artifact/format", "/runtime/gpu_memory_utilization", "/name"} <= paths
    assert b"/artifact/format" in response.content  # handed to the page's script, which shows it beside its field
    assert not Model.objects.exists()


def test_admin_registration_of_an_existing_version_shows_the_conflict(curator, llama_doc):
    register(Model, llama_doc)
    llama_doc["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry, not a conflict
    response = curator.post("/admin/models_app/model/register/", form_data(llama_doc))
    assert any(
        error["path"] == "/version" and "already has version 1.0.0" in error["message"]
        for error in response.context["server_errors"]
    )


def test_model_page_lists_versions_inline_and_the_version_page_shows_the_spec(curator, llama_doc):
    version = register(Model, llama_doc).version

    model_page = curator.get(f"/admin/models_app/model/{version.model.pk}/change/")
    version_page = curator.get(f"/admin/models_app/modelversion/{version.pk}/change/")

    assert b"1.0.0" in model_page.content
    assert b"&quot;gpu_memory_utilization&quot;: 0.9" in version_page.content


def test_changelists_filter_by_family_status_and_tag(curator, llama_doc):
    register(Model, llama_doc)
    for url in (
        "/admin/models_app/model/?family=llama",
        "/admin/models_app/modelversion/?status__exact=active&tag=english&model__family=llama",
        "/admin/models_app/modelversion/?q=llama2",
    ):
        response = curator.get(url)
        assert response.status_code == 200
        assert b"llama2-7b-chat" in response.content, url
    assert (
        b"llama2-7b-chat"
        not in curator.get("/admin/models_app/modelversion/?tag=nope").content.split(b"result_list")[-1]
    )


def test_lifecycle_actions_on_selected_versions(curator, llama_doc, model_doc):
    register(Model, llama_doc)
    register(Model, model_doc(version="1.1.0"))
    ids = [str(pk) for pk in ModelVersion.objects.values_list("pk", flat=True)]

    curator.post("/admin/models_app/modelversion/", {"action": "activate", "_selected_action": ids[:1]})
    assert ModelVersion.objects.filter(is_current=True).count() == 1
    curator.post("/admin/models_app/modelversion/", {"action": "archive", "_selected_action": ids})
    assert set(ModelVersion.objects.values_list("status", flat=True)) == {"archived"}
    assert not ModelVersion.objects.filter(is_current=True).exists()


def test_editing_tags_in_the_admin_runs_the_same_validation(curator, llama_doc):
    version = register(Model, llama_doc).version
    url = f"/admin/models_app/modelversion/{version.pk}/change/"

    bad = curator.post(url, {"description": "d", "tags": '["Not A Slug"]', "metadata": "{}"})
    assert bad.status_code == 200 and "/tags/0" in str(bad.context["adminform"].form.errors)

    good = curator.post(url, {"description": "d", "tags": '["curated"]', "metadata": "{}"})
    assert good.status_code == 302
    version.refresh_from_db()
    assert version.tags == ["curated"] and version.description == "d"


def test_editing_the_family_in_the_admin_is_validated(curator, llama_doc):
    model = register(Model, llama_doc).version.model
    url = f"/admin/models_app/model/{model.pk}/change/"
    base = {"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}

    bad = curator.post(url, {**base, "family": "Not OK", "retention_keep": ""})
    assert bad.status_code == 200
    good = curator.post(url, {**base, "family": "llama2", "retention_keep": "3"})
    assert good.status_code == 302, good.context and good.context["adminform"].form.errors
    model.refresh_from_db()
    assert (model.family, model.retention_keep) == ("llama2", 3)


def test_the_model_changelist_query_count_does_not_grow_with_the_models(
    curator, model_doc, django_assert_max_num_queries
):
    for i in range(30):
        for version in ("1.0.0", "1.1.0"):
            register(Model, model_doc(name=f"model-{i:02d}", version=version))

    with django_assert_max_num_queries(8):  # session, user, counts, the page with its version counts, filters
        response = curator.get("/admin/models_app/model/")

    assert response.status_code == 200 and b"model-29" in response.content


def test_the_model_changelist_shows_each_models_latest_and_current_version(curator, model_doc):
    import re

    activate(register(Model, model_doc(name="pointed", version="1.0.0")).version)
    deprecate(register(Model, model_doc(name="pointed", version="1.1.0")).version)

    html = curator.get("/admin/models_app/model/").content.decode()

    cells = dict(
        re.findall(r'<td class="field-(latest_version_number|current_version_number|latest_status)">([^<]*)</td>', html)
    )
    assert cells == {"latest_version_number": "1.1.0", "current_version_number": "1.0.0", "latest_status": "deprecated"}


BINDING = {
    "provider": "openai",
    "provider_model_id": "gpt-4o",
    "endpoint_url": "https://api.example.com/v1",
    "environment": "production",
}


def test_the_model_page_reads_as_many_queries_for_nine_versions_as_for_three(curator, model_doc):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bindings_app.models import ProviderBinding
    from kernel.models.aliases import Alias

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert curator.get(f"/admin/models_app/model/{model.pk}/change/").status_code == 200
        return len(queries)

    for minor in range(3):
        register(Model, model_doc(version=f"1.{minor}.0", metrics={"accuracy": 0.8 + minor / 100}))
    model = Model.objects.get()
    Alias.move(model, "production", "1.0.0")
    ProviderBinding.deploy(model.resolve_version("1.1.0"), **BINDING, region="r1")
    page_queries()  # the first request also fills per-process caches (content types, permissions)
    few = page_queries()
    for minor in range(3, 9):
        version = register(Model, model_doc(version=f"1.{minor}.0", metrics={"accuracy": 0.8 + minor / 100})).version
        Alias.move(model, f"a{minor}", version.version)
        ProviderBinding.deploy(version, **BINDING, region=f"r{minor}")

    assert page_queries() == few


def test_alias_and_lifecycle_moves_from_the_pages_need_the_change_permission(client, llama_doc):
    from django.contrib.auth.models import Permission

    from kernel.models.aliases import Alias

    version = register(Model, llama_doc).version
    viewer = get_user_model().objects.create_user("viewer", password="viewer-pass-123", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_model", "view_modelversion"]))
    client.force_login(viewer)

    alias = client.post(
        f"/admin/models_app/model/{version.model.pk}/aliases/", {"alias": "production", "version": "1.0.0"}
    )
    move = client.post(f"/admin/models_app/modelversion/{version.pk}/move/archive/")

    assert (alias.status_code, move.status_code) == (403, 403)
    assert not Alias.objects.exists()
    assert ModelVersion.objects.get().status == "active"
    page = client.get(f"/admin/models_app/modelversion/{version.pk}/change/").content.decode()
    assert "You may not change versions." in page
