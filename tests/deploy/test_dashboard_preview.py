"""deploy/grafana/preview.py, the picture of the dashboard in docs/images/dashboard.png: from canned series (no
Prometheus, no browser), every panel of registry.json is laid out at its grid position with its title, a line per
series with its legend, or its latest value for a stat panel; Grafana's own variables are replaced before querying."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dashboard_preview", ROOT / "deploy" / "grafana" / "preview.py")
preview = sys.modules[SPEC.name] = importlib.util.module_from_spec(SPEC)  # dataclasses look their module up
SPEC.loader.exec_module(preview)


def canned_panels() -> list:
    panels = preview.load_panels(json.loads(preview.DASHBOARD.read_text()))
    for number, panel in enumerate(panels):
        for target in panel.targets:
            labels = {"status": "200", "view": "models-api:model-list", "kind": "model", "job_name": "backup"}
            values = [(1_800_000_000 + 15 * step, float(number + step)) for step in range(20)]
            panel.series.append(preview.Series(preview.legend(target["legendFormat"], labels), values))
    return panels


def test_every_panel_is_placed_at_its_grid_position_with_its_title_and_series():
    panels = canned_panels()
    page = preview.render("ML registry", panels)
    raw = json.loads(preview.DASHBOARD.read_text())["panels"]
    assert len(panels) == len(raw) > 20
    for panel in raw:
        g = panel["gridPos"]
        box = re.search(
            rf'<div class="(panel|row)" style="left:{g["x"] * preview.COLUMN_PX}px;top:{g["y"] * preview.ROW_PX}px;'
            rf'width:{g["w"] * preview.COLUMN_PX - preview.GAP_PX}px;height:{g["h"] * preview.ROW_PX - preview.GAP_PX}px">'
            r"(?:<h2>)?(?P<title>[^<]*)<",
            page,
        )
        assert box, f"{panel['title']!r} is not at its gridPos {g}"
        assert html.unescape(box["title"]) == panel["title"]
    charts = [p for p in panels if p.type == "timeseries"]
    assert page.count("<polyline") == sum(len(p.series) for p in charts)
    assert "200" in page and "models-api:model-list" in page  # legends from {{label}}
    assert "No data" not in page


def test_a_stat_panel_shows_its_latest_value_in_its_unit():
    panels = canned_panels()
    size = next(p for p in panels if p.title == "Newest backup size")
    size.series = [preview.Series("size", [(0, 1024.0), (15, 5427.0)])]
    up = next(p for p in panels if p.title == "Targets up")
    up.series = []
    page = preview.render("ML registry", panels)
    assert ">5.3 KiB</div>" in page
    assert re.search(r"Targets up</h2><div class=\"stat\"[^>]*>No data</div>", page)


def test_grafana_variables_are_replaced_and_labels_fill_legends():
    assert preview.substitute("rate(x[$__rate_interval]) + rate(y[${__interval}])") == "rate(x[1m]) + rate(y[15s])"
    assert preview.substitute('up{job="$job"}') == 'up{job="$job"}'  # not Grafana's: left for Prometheus to refuse
    for panel in preview.load_panels(json.loads(preview.DASHBOARD.read_text())):
        for target in panel.targets:
            assert "$__" not in target["expr"] and "${" not in target["expr"]
    assert preview.legend("{{kind}} {{outcome}}", {"kind": "model", "outcome": "created"}) == "model created"
