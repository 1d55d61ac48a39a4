"""The admin version page draws the lineage (SVG) and lists the deltas, in a real browser."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from kernel.writes.register import register as do_register
from models_app.models import Model, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "models_app" / "examples" / "llama2-7b-chat.json"


def register(name, version, metrics, derived_from=None):
    doc = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    doc.update(name=name, version=version, metrics=metrics)
    if derived_from:
        doc["derived_from"] = dict(zip(("model", "version", "relation"), derived_from))
    return do_register(Model, doc).version


def test_version_page_shows_the_lineage_picture_and_delta_table(staff_page, live_server):
    register("chat", "1.0.0", {"accuracy": 0.85, "latency_ms": 50})
    register("chat", "1.1.0", {"accuracy": 0.874, "latency_ms": 41}, ("chat", "1.0.0", "retrain"))
    middle = register("chat", "1.2.0", {"accuracy": 0.86, "latency_ms": 39}, ("chat", "1.1.0", "finetune"))
    register("chat-awq", "1.0.0", {"accuracy": 0.85}, ("chat", "1.2.0", "quantization"))
    register("chat", "1.2.1", {"accuracy": 0.87}, ("chat", "1.2.0", "adapter"))

    staff_page.goto(f"{live_server.url}/admin/models_app/modelversion/{middle.pk}/change/")

    svg = staff_page.locator("svg.model-lineage")
    assert svg.is_visible()
    assert svg.locator("g.version").evaluate_all("nodes => nodes.map(n => n.dataset.version)") == [
        "chat@1.0.0",
        "chat@1.1.0",
        "chat@1.2.0",
        "chat@1.2.1",
        "chat-awq@1.0.0",
    ]
    assert svg.locator("g.version.this").get_attribute("data-version") == "chat@1.2.0"
    edges = svg.locator("g.derivation text").evaluate_all("texts => texts.map(t => t.textContent)")
    assert edges == [
        "retrain · accuracy +0.024 ✓",
        "finetune · latency_ms -2 ✓",
        "adapter · accuracy +0.01 ✓",
        "quantization · accuracy -0.01 ✗",
    ]
    box = svg.bounding_box()
    assert box["width"] > 200 and box["height"] > 100  # drawn, not collapsed

    rows = staff_page.locator("table.lineage-deltas tr.delta")
    assert rows.count() == 2
    accuracy = staff_page.locator("table.lineage-deltas tr[data-metric=accuracy] td").all_inner_texts()
    assert accuracy == ["accuracy", "0.874", "0.86", "-0.014", "-1.60%", "higher is better", "worse"]
    latency = staff_page.locator("table.lineage-deltas tr[data-metric=latency_ms] td").all_inner_texts()
    assert latency[-2:] == ["lower is better", "improved"]
    assert staff_page.get_by_text("finetune of chat@1.1.0").is_visible()
    assert ModelVersion.objects.count() == 5
    if shot := os.environ.get("LINEAGE_SCREENSHOT"):
        staff_page.screenshot(path=shot, full_page=True)
