"""The curator's pages in Chromium (issue 26): a model's page starts with its versions and moves aliases with the
API's optimistic check; a version's page offers its lifecycle moves with the kernel's refusals; register-next is
a form generated from the schema, checked live; and the pages fit a 1,280 px window and a 390 px phone."""

from __future__ import annotations

import copy

import pytest

from kernel.models.aliases import Alias
from kernel.models.changelog import ChangeLogEntry
from kernel.writes.lifecycle import activate, archive
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.browser.accessibility import check_page
from tests.conftest import example

pytestmark = pytest.mark.django_db(transaction=True)

METRICS = {"1.0.0": (0.81, 48), "1.1.0": (0.85, 45), "1.2.0": (0.87, 41)}


@pytest.fixture
def chat(db):
    """chat 1.0.0 .. 1.2.0, each a finetune of the one before, with accuracy and latency; 1.1.0 current;
    @production on 1.0.0."""
    previous = None
    for number, (accuracy, latency) in METRICS.items():
        document = copy.deepcopy(example("models_app", "llama2-7b-chat"))
        document.update(name="chat", version=number, metrics={"accuracy": accuracy, "latency_ms": latency})
        document["artifact"]["path"] = f"chat/{number}"
        if previous:  # each derives from the one before
            document["derived_from"] = {"model": "chat", "version": previous, "relation": "finetune"}
        register(Model, document)
        previous = number
    model = Model.objects.get(name="chat")
    activate(model.resolve_version("1.1.0"))
    Alias.move(model, "production", "1.0.0")
    return model


def overflow(page) -> dict:
    """How far the page and its main content reach past the window (0 when nothing is cut off or scrolls)."""
    return page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth - window.innerWidth,
            content: Math.max(0, ...Array.from(document.querySelectorAll('#content-main, #content'),
                el => el.getBoundingClientRect().right - window.innerWidth)),
        })"""
    )


def test_the_model_page_starts_with_versions_and_moves_an_alias_refusing_a_stale_page(staff_page, chat):
    staff_page.set_viewport_size({"width": 1280, "height": 900})
    url = f"/admin/models_app/model/{chat.pk}/change/"
    staff_page.goto(url)

    versions = staff_page.locator("table.registry-versions tbody tr")
    assert versions.evaluate_all("rows => rows.map(r => r.dataset.version)") == ["1.2.0", "1.1.0", "1.0.0"]
    assert staff_page.locator("tr[data-version='1.1.0'] .mark-current").count() == 1
    assert staff_page.locator("tr[data-version='1.2.0'] .mark-latest").count() == 1
    assert staff_page.locator("tr[data-version='1.0.0']").inner_text().count("@production") == 1
    # Key metrics side by side, and a chart per metric across the versions, oldest first.
    assert "0.87" in staff_page.locator("tr[data-version='1.2.0']").inner_text()
    dots = staff_page.locator("figure.metric-chart[data-metric=accuracy] circle")
    assert dots.evaluate_all("cs => cs.map(c => c.dataset.version)") == ["1.0.0", "1.1.0", "1.2.0"]
    # Versions come before the history, which is below everything else.
    top = staff_page.locator("#versions").bounding_box()["y"]
    assert (
        top
        < staff_page.locator("#aliases").bounding_box()["y"]
        < staff_page.locator("#change-history").bounding_box()["y"]
    )
    assert overflow(staff_page) == {"page": 0, "content": 0}
    check_page(staff_page, "console-model-page")

    stale = staff_page.context.new_page()  # a second tab showing @production -> 1.0.0
    stale.goto(url)

    staff_page.select_option("#move-production", "1.1.0")
    staff_page.locator("tr[data-alias=production] button").click()
    assert "@production now points at 1.1.0 (was 1.0.0)" in staff_page.locator(".messagelist").inner_text()
    assert staff_page.locator("tr[data-alias=production] .alias-target").inner_text() == "1.1.0"
    newest = staff_page.locator("#change-history .change-entry").first  # the history, readable, newest first
    assert "moved" in newest.locator(".change-headline").inner_text()
    assert "1.0.0 → 1.1.0" in newest.locator("li[data-field=version]").inner_text()

    stale.select_option("#move-production", "1.2.0")
    stale.locator("tr[data-alias=production] button").click()
    message = stale.locator(".messagelist .error").inner_text()
    assert "Not moved: @production points at 1.1.0 now, not 1.0.0" in message and "someone changed it" in message
    assert stale.locator("tr[data-alias=production] .alias-target").inner_text() == "1.1.0"  # shown as it is now

    assert Alias.objects.get(alias="production").version == "1.1.0"
    moves = ChangeLogEntry.objects.filter(action="alias.moved", name="chat").order_by("id")
    assert [entry.changes["version"] for entry in moves] == [[None, "1.0.0"], ["1.0.0", "1.1.0"]]
    assert moves.last().actor == f"user:{staff_page.user.username}"
    stale.close()

    # A lookup on a phone: the list's search, then the model's page, nothing running off the screen.
    staff_page.set_viewport_size({"width": 390, "height": 844})
    staff_page.goto("/admin/models_app/model/")
    staff_page.fill("#searchbar", "chat")
    staff_page.keyboard.press("Enter")
    staff_page.get_by_role("link", name="chat", exact=True).click()
    staff_page.locator("#versions").wait_for()
    assert overflow(staff_page) == {"page": 0, "content": 0}


def test_a_version_page_disables_refused_lifecycle_moves_with_the_kernels_reason(staff_page, chat):
    aliased = chat.resolve_version("1.0.0")
    staff_page.set_viewport_size({"width": 1280, "height": 900})
    staff_page.goto("/admin/models_app/modelversion/")
    assert overflow(staff_page) == {"page": 0, "content": 0}
    staff_page.get_by_role("link", name="chat@1.0.0").click()

    archive_button = staff_page.locator("#lifecycle button[data-move=archive]")
    assert archive_button.is_disabled()
    assert "alias @production point at it" in staff_page.locator("#reason-archive").inner_text()
    assert archive_button.get_attribute("aria-describedby") == "reason-archive"
    check_page(staff_page, "console-model-version-page")

    staff_page.locator("#lifecycle button[data-move=deprecate]").click()
    assert staff_page.locator("#version-status").inner_text() == "deprecated"
    assert ModelVersion.objects.get(pk=aliased.pk).status == "deprecated"
    assert staff_page.locator("#lifecycle button[data-move=deprecate]").is_disabled()  # already deprecated

    retired = archive(chat.resolve_version("1.2.0"))
    staff_page.goto(f"/admin/models_app/modelversion/{retired.pk}/change/")
    assert staff_page.locator("#lifecycle button[data-move=activate]").is_disabled()
    assert "archived versions cannot be activated" in staff_page.locator("#reason-activate").inner_text()
    assert staff_page.locator("#compare-parent").get_attribute("href") == "/admin/compare/models/chat/?to=1.2.0"
    assert overflow(staff_page) == {"page": 0, "content": 0}
    staff_page.set_viewport_size({"width": 390, "height": 844})
    assert overflow(staff_page)["page"] == 0


def test_register_next_is_prefilled_checked_live_and_registers(staff_page, chat):
    staff_page.goto(f"/admin/models_app/model/{chat.pk}/change/")
    staff_page.get_by_role("link", name="Register the next version").click()

    assert staff_page.locator("#suggested-version").inner_text() == "1.3.0"
    assert staff_page.input_value("#field-version") == "1.3.0"
    assert staff_page.input_value("#field-artifact-path") == "chat/1.2.0"  # from the latest version
    assert staff_page.get_attribute("#field-runtime-gpu_memory_utilization", "type") == "number"
    assert staff_page.locator("#field-runtime-type").evaluate("el => el.tagName") == "SELECT"

    staff_page.fill("#field-runtime-gpu_memory_utilization", "3")
    errors = staff_page.locator("[data-key=gpu_memory_utilization] > .field-errors")
    errors.get_by_text("Must be at most 1; got 3.").wait_for()  # from the API's validate endpoint, beside the field
    check_page(staff_page, "console-model-register-next")
    staff_page.set_viewport_size({"width": 1280, "height": 900})
    assert overflow(staff_page) == {"page": 0, "content": 0}
    assert staff_page.locator("[data-key=runtime] > .field-errors").inner_text() == ""
    assert not chat.versions.filter(version="1.3.0").exists()

    staff_page.fill("#field-runtime-gpu_memory_utilization", "0.8")
    staff_page.fill("#field-artifact-path", "chat/1.3.0")
    staff_page.locator("#schema-form[data-checked=valid]").wait_for()
    assert errors.inner_text() == ""
    staff_page.click("#schema-form input[type=submit]")

    assert "Registered chat@1.3.0" in staff_page.locator(".messagelist").inner_text()
    registered = chat.versions.get(version="1.3.0")
    assert registered.spec["runtime"]["gpu_memory_utilization"] == 0.8
    assert registered.spec["metrics"] == {"accuracy": 0.87, "latency_ms": 41}
    entry = ChangeLogEntry.objects.get(action="model.version_registered", version="1.3.0")
    assert entry.actor == f"user:{staff_page.user.username}"


def test_pipeline_and_policy_pages_have_the_same_shape_and_pass_axe(staff_page):
    register(Model, example("models_app", "llama2-7b-chat"))  # the pipeline's inference step names it
    pipeline = register(Pipeline, copy.deepcopy(example("pipelines_app", "text-generation-pipeline"))).version
    policy = register(Policy, example("policies_app", "user-rate-limits")).version

    staff_page.goto(f"/admin/pipelines_app/pipeline/{pipeline.pipeline.pk}/change/")
    assert staff_page.locator("table.registry-versions tbody tr").count() == 1
    assert staff_page.locator("section.registry-section svg.pipeline-dag g.step").count() == 4
    check_page(staff_page, "console-pipeline-page")
    staff_page.goto(f"/admin/pipelines_app/pipelineversion/{pipeline.pk}/change/")
    assert staff_page.locator("#lifecycle button").count() == 3
    check_page(staff_page, "console-pipeline-version-page")
    staff_page.goto("/admin/pipelines_app/pipeline/register/?from=text-generation-pipeline")
    steps = staff_page.locator("[data-key=steps] > .schema-items > [data-item]")
    assert steps.count() == 4
    staff_page.get_by_role("button", name="Add to steps").click()
    assert steps.nth(4).locator("legend").inner_text() == "steps 5"
    staff_page.fill("#field-steps-4-id", "report")  # labels and ids follow the item's place
    staff_page.get_by_role("button", name="Remove steps 2").click()
    assert steps.count() == 4 and staff_page.input_value("#field-steps-3-id") == "report"

    staff_page.goto(f"/admin/policies_app/policy/{policy.policy.pk}/change/")
    assert "api:inference" in staff_page.locator("section.registry-section table.policy-rules").inner_text()
    check_page(staff_page, "console-policy-page")
    staff_page.goto(f"/admin/policies_app/policyversion/{policy.pk}/change/")
    check_page(staff_page, "console-policy-version-page")
    staff_page.goto("/admin/policies_app/policy/register/?from=user-rate-limits")
    # The rules take the shape the policy's type selects (the schema's if/then), one fieldset per rule.
    assert staff_page.input_value("#field-rules-1-resource") == "api:models"
    check_page(staff_page, "console-policy-register-next")
