"""A picture of the shipped Grafana dashboard without Grafana (which is not installable where this project is built).

Reads ``registry.json`` beside this file (its panels, titles, PromQL targets, legends, units and grid), runs every
target through a real Prometheus's HTTP API (``query_range`` over the last minutes), lays the panels out on the
dashboard's 24-column grid as a self-contained HTML page (inline SVG line charts, single values for stat panels; no
script, no network) and screenshots it with Chromium::

    python deploy/grafana/preview.py --prometheus http://127.0.0.1:9090 --minutes 5 --out docs/images/dashboard.png

``--html page.html`` writes the page too. It draws what Grafana would query, not how Grafana styles it.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DASHBOARD = Path(__file__).with_name("registry.json")
CHROMIUM = "/usr/bin/chromium"

# Grafana's built-in variables, as Grafana would set them for a few minutes of data at a short scrape interval.
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

COLUMN_PX = 56  # 24 columns: a 1344 px wide dashboard
ROW_PX = 30  # Grafana's grid row height
GAP_PX = 8
PALETTE = ("#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#ca95e5")


@dataclass
class Series:
    legend: str
    points: list[tuple[float, float]]  # (unix seconds, value); NaN and ±Inf dropped


@dataclass
class Panel:
    title: str
    type: str  # "row", "timeseries", "stat", ...
    grid: dict  # Grafana's gridPos: x, y, w, h in grid units
    unit: str = "short"
    targets: list[dict] = field(default_factory=list)  # {"expr", "legendFormat"}
    series: list[Series] = field(default_factory=list)


def load_panels(dashboard: dict) -> list[Panel]:
    """Every panel, rows included, with its targets' expressions as Prometheus should receive them."""
    panels = []
    for raw in dashboard["panels"]:
        for inner in [raw, *raw.get("panels", [])] if raw.get("collapsed") else [raw]:
            panels.append(
                Panel(
                    title=inner.get("title", ""),
                    type=inner["type"],
                    grid=inner["gridPos"],
                    unit=inner.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"),
                    targets=[
                        {"expr": substitute(t["expr"]), "legendFormat": t.get("legendFormat", "")}
                        for t in inner.get("targets", [])
                        if t.get("expr")
                    ],
                )
            )
    return panels


def substitute(expr: str) -> str:
    """Grafana's built-in variables replaced by fixed values; the dashboard's own variables are data sources only."""

    def value(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        return GRAFANA_VARIABLES.get(name, match.group(0))

    return VARIABLE.sub(value, expr)


def legend(template: str, labels: dict) -> str:
    if not template:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return LEGEND_LABEL.sub(lambda m: labels.get(m.group(1), ""), template).strip()


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus.rstrip('/')}/api/v1/query_range?{params}", timeout=30) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error')}")
    return body["data"]["result"]


def fetch_series(panels: list[Panel], prometheus: str, minutes: float, step: float) -> None:
    end = time.time()
    start = end - minutes * 60
    for panel in panels:
        for target in panel.targets:
            for result in query_range(prometheus, target["expr"], start, end, step):
                points = [(float(t), float(v)) for t, v in result["values"] if math.isfinite(float(v))]
                panel.series.append(Series(legend(target["legendFormat"], result["metric"]), points))


def format_value(value: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{value * 100:.3g} %"
    if unit == "s":
        for size, suffix in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= size:
                return f"{value / size:.3g} {suffix}"
        return "0 s" if value == 0 else f"{value * 1e6:.3g} µs"
    if unit in ("bytes", "Bps"):
        suffix = "/s" if unit == "Bps" else ""
        for size, prefix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(value) >= size:
                return f"{value / size:.3g} {prefix}{suffix}"
        return f"{value:.3g} B{suffix}"
    suffix = {"reqps": " req/s", "ops": " ops/s"}.get(unit, "")
    for size, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{prefix}{suffix}"
    return f"{value:.3g}{suffix}"


def line_chart(panel: Panel, width: int, height: int) -> str:
    """An SVG line chart of the panel's series: y from 0 (or the lowest value) to the highest, x over the range."""
    points = [p for s in panel.series for p in s.points]
    if not points:
        return f'<div class="empty" style="height:{height}px">No data</div>'
    left, right, top, bottom = 80, 8, 6, 18
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    low, high = min(0.0, min(v for _, v in points)), max(v for _, v in points)
    if high == low:
        high = low + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t0) / ((t1 - t0) or 1) * plot_w

    def y(v: float) -> float:
        return top + (high - v) / (high - low) * plot_h

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for fraction in (0, 0.5, 1):
        value = low + (high - low) * fraction
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{html.escape(format_value(value, panel.unit))}</text>'
        )
    for t, anchor in ((t0, "start"), (t1, "end")):
        label = time.strftime("%H:%M:%S", time.gmtime(t))
        parts.append(f'<text x="{x(t):.1f}" y="{height - 4}" text-anchor="{anchor}">{label}</text>')
    for index, series in enumerate(panel.series):
        colour = PALETTE[index % len(PALETTE)]
        coordinates = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series.points)
        parts.append(f'<polyline points="{coordinates}" stroke="{colour}" fill="none" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_list(panel: Panel) -> str:
    items = "".join(
        f'<li><span style="background:{PALETTE[i % len(PALETTE)]}"></span>{html.escape(s.legend)}</li>'
        for i, s in enumerate(panel.series)
    )
    return f'<ul class="legend">{items}</ul>'


def stat(panel: Panel, height: int) -> str:
    latest = [s.points[-1][1] for s in panel.series if s.points]
    text = format_value(latest[0], panel.unit) if latest else "No data"
    return f'<div class="stat" style="height:{height}px;line-height:{height}px">{html.escape(text)}</div>'


def render(title: str, panels: list[Panel], subtitle: str = "") -> str:
    """The dashboard as one HTML page: every panel absolutely placed by its gridPos."""
    boxes = []
    for panel in panels:
        g = panel.grid
        left, top = g["x"] * COLUMN_PX, g["y"] * ROW_PX
        width, height = g["w"] * COLUMN_PX - GAP_PX, g["h"] * ROW_PX - GAP_PX
        style = f"left:{left}px;top:{top}px;width:{width}px;height:{height}px"
        name = html.escape(panel.title)
        if panel.type == "row":
            boxes.append(f'<div class="row" style="{style}">{name}</div>')
            continue
        body_height = height - 30
        if panel.type == "stat":
            body = stat(panel, body_height)
        else:
            legend_rows = min(len(panel.series), 6)
            chart_height = body_height - 6 - 16 * math.ceil(legend_rows / 2)
            body = line_chart(panel, width - 12, max(chart_height, 60)) + legend_list(panel)
        boxes.append(f'<div class="panel" style="{style}"><h2>{name}</h2>{body}</div>')
    page_height = max(p.grid["y"] + p.grid["h"] for p in panels) * ROW_PX
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body {{ margin: 0; padding: 16px; background: #111217; color: #ccccdc; font: 12px system-ui, sans-serif; }}
header {{ font-size: 18px; margin-bottom: 12px; }} header small {{ font-size: 12px; color: #8e8e9e; }}
main {{ position: relative; width: {24 * COLUMN_PX}px; height: {page_height}px; }}
.panel, .row {{ position: absolute; box-sizing: border-box; }}
.panel {{ background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; padding: 0 6px; overflow: hidden; }}
.row {{ font-size: 15px; font-weight: 600; padding-top: 4px; }}
h2 {{ font-size: 13px; font-weight: 500; margin: 0; height: 30px; line-height: 30px; white-space: nowrap;
      overflow: hidden; text-overflow: ellipsis; }}
svg text {{ fill: #8e8e9e; font-size: 10px; }} svg .grid {{ stroke: #2c3235; }}
.legend {{ list-style: none; margin: 0; padding: 0; columns: 2; font-size: 11px; }}
.legend li {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; height: 16px; }}
.legend span {{ display: inline-block; width: 12px; height: 3px; margin: 0 5px 3px 0; }}
.stat {{ font-size: 40px; font-weight: 500; text-align: center; color: #73bf69; }}
.empty {{ display: flex; align-items: center; justify-content: center; color: #8e8e9e; }}
</style></head><body>
<header>{html.escape(title)} <small>{html.escape(subtitle)}</small></header>
<main>{"".join(boxes)}</main>
</body></html>"""


def screenshot(page_html: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox cannot start as root (CI).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 24 * COLUMN_PX + 32, "height": 800})
        page.set_content(page_html)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL of a Prometheus scraping the registry")
    parser.add_argument("--minutes", type=float, default=5, help="time range, ending now (default 5)")
    parser.add_argument("--step", type=float, default=5, help="query_range step in seconds (default 5)")
    parser.add_argument("--out", type=Path, default=Path("docs/images/dashboard.png"))
    parser.add_argument("--html", type=Path, help="also write the page here")
    args = parser.parse_args()
    dashboard = json.loads(DASHBOARD.read_text())
    panels = load_panels(dashboard)
    fetch_series(panels, args.prometheus, args.minutes, args.step)
    subtitle = f"last {args.minutes:g} min · rendered by deploy/grafana/preview.py from Prometheus, not by Grafana"
    page_html = render(dashboard["title"], panels, subtitle)
    if args.html:
        args.html.write_text(page_html)
    screenshot(page_html, args.out)
    print(f"{args.out}: {len(panels)} panels, {sum(len(p.series) for p in panels)} series")


if __name__ == "__main__":
    main()
