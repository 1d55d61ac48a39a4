"""The shipped operations files (deploy/): the alert rules pass promtool's check and their unit tests, every PromQL
expression of the Grafana dashboard parses (promtool checks them as recording rules), every metric they use is
documented in docs/operations.md, and every long-running service in compose.yaml has a healthcheck.
`make check-deploy` (run by .ci/run) runs this module; promtool comes from Debian's prometheus package."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "registry.json"
METRIC = re.compile(r"\b((?:registry|django_http)_[a-z0-9_]+)\b")


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        message = "promtool is missing: apt-get install prometheus (Debian's package ships it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{panel['title']} {target['refId']}", target["expr"]))
    return found


def alert_expressions() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_and_their_unit_tests():
    checked = run("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = [ALERTS.with_name("alerts_test.yml"), ALERTS.with_name("alerts_test_daily.yml")]
    tested = run("test", "rules", *map(str, tests))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = {name for test in tests for name in re.findall(r"alertname: (\w+)", test.read_text())}
    alerts = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    assert alerts == tested_alerts  # every alert has a unit test


def test_every_dashboard_expression_parses(tmp_path):
    expressions = dashboard_expressions()
    assert len(expressions) >= 20
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expression_{i}", "expr": expr} for i, (_, expr) in enumerate(expressions)
                ],
            }
        ]
    }
    generated = tmp_path / "dashboard-rules.yml"
    generated.write_text(yaml.safe_dump(rules))
    checked = run("check", "rules", str(generated))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_metric_the_dashboard_and_alerts_use_is_documented():
    documented = (ROOT / "docs" / "operations.md").read_text()
    used = set()
    for expr in [*alert_expressions(), *(expr for _, expr in dashboard_expressions())]:
        used.update(METRIC.findall(expr))
    names = {re.sub(r"_(bucket|count|sum)\Z", "", name) for name in used}
    missing = sorted(name for name in names if f"`{name}" not in documented)
    assert not missing, f"not in docs/operations.md: {missing}"


def test_every_long_running_compose_service_has_a_healthcheck():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    one_shot = {name for name, service in services.items() if service.get("restart") == "no"}
    assert one_shot == {"migrate"}  # runs once and exits; the others wait for it to complete
    missing = sorted(name for name in set(services) - one_shot if not services[name].get("healthcheck", {}).get("test"))
    assert not missing, missing
