"""Accessibility and a picture of each admin page: ``check_page(page, name)``.

It injects axe-core (the npm package pinned in package.json, installed into node_modules/ by ``npm ci``: the
Makefile's ``test`` target and .ci/run do it) into the page, runs every rule, and fails on each violation axe rates
serious or critical, listing rule, impact, what to fix and the elements concerned. Minor and moderate findings are
not failures (the issue's bar is "no serious or critical violations").

It also saves a full-page screenshot to ``test-artifacts/screenshots/<name>.png`` (gitignored; CI keeps the folder),
taken before the check so a failing page still leaves its picture.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = Path(os.environ.get("AXE_CORE_PATH", REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"))
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
FAILING_IMPACTS = ("serious", "critical")
SCREENSHOT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")
NODES_LISTED = 5  # per violation: enough to find the pattern, short enough to read


def check_page(page, name: str) -> None:
    """Screenshot the page as ``<name>.png``, then fail the test on any serious or critical axe-core violation."""
    if not SCREENSHOT_NAME.fullmatch(name):
        raise ValueError(f"screenshot name {name!r}: lowercase letters, digits, '-' and '_' (1-80 characters)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"axe-core not found at {AXE_SCRIPT}: run `npm ci` in {REPO_ROOT} (make test does)")
    page.add_script_tag(path=str(AXE_SCRIPT))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    if failing:
        pytest.fail(
            f"{name} ({page.url}): {len(failing)} serious or critical accessibility violation(s)\n{_describe(failing)}"
        )


def _describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        nodes = violation["nodes"]
        for node in nodes[:NODES_LISTED]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' '.join(map(str, node['target']))}: {summary}")
        if len(nodes) > NODES_LISTED:
            lines.append(f"    ... and {len(nodes) - NODES_LISTED} more")
    return "\n".join(lines)
