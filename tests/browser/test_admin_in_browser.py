"""The curator's admin in a real browser (Chromium through Playwright)."""

from __future__ import annotations

import copy

import pytest

from kernel.writes.delete import soft_delete
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from models_app.models import Model
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.conftest import example

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def llama(db):
    registration = register(Model, example("models_app", "llama2-7b-chat"))
    register(Model, {**example("models_app", "llama2-7b-chat"), "version": "1.1.0"})
    activate(registration.version)
    return registration.version.model


def test_the_model_list_shows_latest_and_current_versions_and_hides_deleted_models(staff_page, llama):
    soft_delete(register(Model, {**example("models_app", "llama2-7b-chat"), "name": "retired"}).version.model)

    staff_page.goto("/admin/models_app/model/")

    headers = staff_page.locator("#result_list thead th").all_inner_texts()
    assert {"LATEST VERSION", "CURRENT VERSION", "STATUS"} <= {h.strip().upper() for h in headers}
    row = staff_page.locator("#result_list tbody tr", has_text="llama2-7b-chat")
    assert row.locator("td.field-latest_version_number").inner_text() == "1.1.0"
    assert row.locator("td.field-current_version_number").inner_text() == "1.0.0"
    assert row.locator("td.field-latest_status").inner_text() == "active"
    assert staff_page.locator("#result_list", has_text="retired").count() == 0

    staff_page.locator("#changelist-filter a", has_text="Deleted").click()
    staff_page.locator("#result_list tbody tr", has_text="retired").wait_for()
    assert staff_page.locator("#result_list tbody tr", has_text="llama2-7b-chat").count() == 0


def test_a_version_page_shows_its_spec(staff_page, llama):
    staff_page.goto("/admin/models_app/modelversion/")
    staff_page.click("text=llama2-7b-chat@1.0.0")
    assert "mnemos-models" in staff_page.locator(".field-spec_json").inner_text()
    assert staff_page.locator(".field-is_current img[alt=True]").count() == 1


def test_a_lifecycle_action_moves_the_selected_version(staff_page, llama):
    staff_page.goto("/admin/models_app/modelversion/")
    row = staff_page.locator("#result_list tbody tr", has_text="llama2-7b-chat@1.1.0")
    row.locator("input.action-select").check()
    staff_page.select_option("select[name=action]", "activate")
    staff_page.click("button[name=index]")

    assert "activate: 1 version(s)" in staff_page.locator(".messagelist").inner_text().lower()
    assert llama.versions.get(is_current=True).version == "1.1.0"


def test_an_api_key_created_in_the_admin_is_shown_once_and_works(staff_page):
    staff_page.goto("/admin/registry_project/apikey/add/")
    staff_page.fill("#id_name", "browser key")
    staff_page.select_option("#id_user", label=staff_page.user.username)
    staff_page.click("input[name=_save]")

    message = staff_page.locator(".messagelist").inner_text()
    assert "you will not be able to see it again" in message
    key = message.split("is: ")[1].split(". ")[0]
    response = staff_page.request.get("/api/v1/models", headers={"Authorization": f"Api-Key {key}"})
    assert response.status == 200

    staff_page.reload()
    assert key not in staff_page.content()
    row = staff_page.locator("#result_list tbody tr", has_text="browser key")
    assert row.locator("td.field-last_used_at").inner_text() != "-"
    assert row.locator("td.field-state").inner_text() == "usable"

    row.locator("input.action-select").check()
    staff_page.select_option("select[name=action]", "revoke")
    staff_page.click("button[name=index]")
    assert staff_page.request.get("/api/v1/models", headers={"Authorization": f"Api-Key {key}"}).status == 401


def test_the_pipeline_version_page_draws_its_dag(staff_page, llama):
    register(Pipeline, copy.deepcopy(example("pipelines_app", "text-generation-pipeline")))
    staff_page.goto("/admin/pipelines_app/pipelineversion/")
    staff_page.click("text=text-generation-pipeline@1.0.0")

    svg = staff_page.locator("svg.pipeline-dag")
    svg.wait_for()  # count() does not wait for the navigation the click started
    assert svg.count() == 1
    for step in ("validate", "preprocess", "generate", "postprocess"):
        assert svg.locator("text", has_text=step).count() >= 1
    assert svg.bounding_box()["width"] > 100


def test_the_policy_evaluate_form_answers(staff_page):
    register(Policy, example("policies_app", "user-rate-limits"))
    register(Policy, example("policies_app", "model-access"))
    staff_page.goto("/admin/policies_app/policy/evaluate/")
    staff_page.fill("#id_entity", "user:alice")
    staff_page.fill("#id_resource", "api:inference")
    staff_page.select_option("#id_action", "read")
    staff_page.fill("#id_roles", "role:ml-engineer")
    staff_page.click("input[type=submit]")

    decision = staff_page.locator("#decision").inner_text()
    assert "Decision: allowed" in decision
    assert "100 requests / 60 s" in decision
