"""The curator console in a real browser (Chromium through Playwright) on the suite's database: the landing page's
counts are the API's /stats, the one search box, the comparison of two versions; each page passes axe-core and
leaves a screenshot (tests/browser/accessibility.py)."""

from __future__ import annotations

import copy

import pytest

from bindings_app.models import ProviderBinding
from bindings_app.validation import parse_outcomes
from kernel import stats
from kernel.models.webhooks import WebhookDelivery, WebhookSubscription
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from models_app.models import Model
from pipelines_app.models import Pipeline
from tests.browser.accessibility import check_page
from tests.conftest import example

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def registry_content():
    """llama2-7b-chat (tagged production, capability chat) served by a degraded binding; a chain chat 1.0.0 ->
    1.1.0 (retrain) -> 1.2.0 (finetune) with metrics; a pipeline; a webhook delivery that died."""
    llama = activate(register(Model, example("models_app", "llama2-7b-chat")).version)
    base = {**example("models_app", "llama2-7b-chat"), "name": "chat", "tags": ["english"]}
    register(Model, {**base, "version": "1.0.0", "metrics": {"accuracy": 0.85, "latency_ms": 50}})
    register(
        Model,
        {
            **copy.deepcopy(base),
            "version": "1.1.0",
            "metrics": {"accuracy": 0.874, "latency_ms": 41},
            "runtime": {**base["runtime"], "max_model_len": 8192},
            "derived_from": {"model": "chat", "version": "1.0.0", "relation": "retrain"},
        },
    )
    register(
        Model,
        {
            **base,
            "version": "1.2.0",
            "metrics": {"accuracy": 0.86, "latency_ms": 45},
            "derived_from": {"model": "chat", "version": "1.1.0", "relation": "finetune"},
        },
    )
    register(Pipeline, example("pipelines_app", "text-generation-pipeline"))
    binding = ProviderBinding.deploy(
        llama,
        provider="openai",
        provider_model_id="gpt-4o",
        endpoint_url="https://api.openai.com/v1",
        region="us-east-1",
        environment="production",
        slo_success_rate=0.99,
    )
    binding.report(parse_outcomes([{"success": False, "latency_ms": 300}] * 30))
    subscription = WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["*"])
    WebhookDelivery.objects.create(
        subscription=subscription, object_key="model:chat", payload={}, status="dead", attempts=5, last_error="refused"
    )
    stats.refresh()
    binding.refresh_from_db()
    return {"binding": binding}


def stat_at(snapshot: dict, path: str) -> int:
    """The number at a dotted path of /api/v1/stats; ``*`` sums over every key at that level."""
    head, _, rest = path.partition(".")
    if head == "*":
        return sum(stat_at(value, rest) for value in snapshot.values())
    value = snapshot.get(head, {} if rest else 0)
    return stat_at(value, rest) if rest else value


def test_the_landing_page_shows_the_stats_the_api_answers_and_what_needs_attention(staff_page, registry_content):
    page = staff_page
    page.goto("/admin/")

    api_stats = page.request.get("/api/v1/stats").json()
    shown = page.locator("[data-stat]")
    assert shown.count() >= 20
    for index in range(shown.count()):
        element = shown.nth(index)
        path = element.get_attribute("data-stat")
        assert int(element.inner_text()) == stat_at(api_stats, path), path
    assert page.locator("[data-stat='models.total']").inner_text() == "2"
    assert page.locator("[data-stat='bindings.by_provider_status.*.degraded']").inner_text() == "1"

    assert str(registry_content["binding"]) in page.locator("#console-degraded").inner_text()
    assert "model:chat" in page.locator("#console-failing").inner_text()
    changes = page.locator("#console-changes .change-entry")
    newest = changes.first.inner_text()  # newest first, each field a line: "field: before → after"
    assert "binding llama2-7b-chat 1.0.0: degraded" in newest and "status: active → degraded" in newest
    headlines = [text.split(" · ")[0] for text in page.locator("#console-changes .change-headline").all_inner_texts()]
    assert headlines.index("model chat 1.2.0: version registered") < headlines.index(
        "model chat 1.1.0: version registered"
    )
    # The registry's sections come first; django-axes's login lockouts last; "View site" opens the API docs.
    captions = [c.strip() for c in page.locator("#console-landing .module caption a").all_text_contents()]
    registry_apps = [c for c in captions if c in ("Model registry", "Login lockouts")]
    assert registry_apps[0] == "Model registry" and registry_apps[-1] == "Login lockouts"
    assert page.locator("#user-tools a", has_text="View site").get_attribute("href") == "/api/docs/"
    assert "Webhook deliveries" in page.content()
    check_page(page, "console-landing")


def test_search_then_compare_the_spec_side_by_side_with_metric_deltas_and_lineage(staff_page, registry_content):
    """One test for both pages: they read the same registry, and a browser test's database costs seconds."""
    page = staff_page
    search_finds_definitions_by_tag_capability_family_and_name(page)

    page.goto("/admin/compare/models/chat/?to=1.1.0")  # against the version it derives from

    sides = page.locator("#compare-sides").inner_text()
    assert "chat@1.0.0" in sides and "chat@1.1.0" in sides
    assert page.locator("#compare-lineage [data-relation]").get_attribute("data-relation") == "descendant"
    accuracy = page.locator("tr.metric[data-metric='accuracy']")
    assert accuracy.get_attribute("data-verdict") == "improved" and "▲ better" in accuracy.inner_text()
    assert "lower" in page.locator("tr.metric[data-metric='latency_ms']").inner_text()  # better when lower
    changed = page.locator("tr[data-path='/runtime/max_model_len']")
    assert changed.get_attribute("data-state") == "changed" and "8192" in changed.inner_text()
    assert page.locator("tr[data-path='/derived_from/relation']").get_attribute("data-state") == "added"
    assert page.locator("tr[data-path='/runtime/dtype']").get_attribute("data-state") == "same"
    check_page(page, "console-compare")

    page.select_option("#compare-from", "1.2.0")
    page.select_option("#compare-to", "1.0.0")
    page.click(".compare-form input[type=submit]")
    assert page.locator("#compare-lineage [data-relation]").get_attribute("data-relation") == "ancestor"
    assert page.locator("tr.metric[data-metric='accuracy']").get_attribute("data-verdict") == "worse"

    page.goto("/admin/compare/models/chat/?to=1.0.0")  # a baseline: the version before it, and there is none
    assert "derives from no other version" in page.locator(".console-error").inner_text()
    page.goto("/admin/compare/pipelines/text-generation-pipeline/")  # one version: nothing before it either
    assert "derives from no other version" in page.locator(".console-error").inner_text()


def search_finds_definitions_by_tag_capability_family_and_name(page):
    page.goto("/admin/")
    page.fill("#console-search-q", "production")
    page.click(".console-search input[type=submit]")

    models = page.locator(".search-results[data-kind='models'] tr.search-result")
    assert models.count() == 1
    assert models.first.get_attribute("data-name") == "llama2-7b-chat"
    assert "tag" in models.first.inner_text()
    check_page(page, "console-search")

    page.goto("/admin/search/?q=chat")  # a capability of both models, and a name
    assert page.locator(".search-results[data-kind='models'] tr.search-result").count() == 2
    page.goto("/admin/search/?q=llama")  # the family of both, and part of a name
    assert page.locator(".search-results[data-kind='models'] tr.search-result").count() == 2
    page.goto("/admin/search/?q=text-generation")
    assert page.locator(".search-results[data-kind='pipelines'] tr.search-result").count() == 1
