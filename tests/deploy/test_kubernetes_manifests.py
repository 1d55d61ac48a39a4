"""deploy/kubernetes: every manifest valid against the Kubernetes API schemas (strict, offline: kubernetes-validate
ships them; ``make manifests`` runs the same check in CI), and what the schemas cannot say: probes that reach the
registry's health endpoints, exactly one beat, resources on every container, autoscalers and budgets that select
real workloads, settings the registry reads, and no secret in the repository."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")  # as the Makefile's KUBERNETES_VERSIONS


def load() -> list[dict]:
    return [
        document
        for path in sorted(FOLDER.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


MANIFESTS = load()


def of_kind(kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in MANIFESTS if m["kind"] == kind}


def workloads() -> dict[str, dict]:
    """Deployments and Jobs by name: their pod templates."""
    return {**of_kind("Deployment"), **of_kind("Job")}


def containers() -> list[tuple[str, dict]]:
    return [(name, c) for name, w in workloads().items() for c in w["spec"]["template"]["spec"]["containers"]]


def registry_containers() -> list[tuple[str, dict]]:
    """The registry's own processes (its image), not PgBouncer."""
    return [(name, c) for name, c in containers() if c["image"].startswith("ml-registry:")]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version):
    for manifest in MANIFESTS:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_schema_check_rejects_a_misspelt_field():
    broken = copy.deepcopy(of_kind("Deployment")["registry-beat"])
    broken["spec"]["stratgy"] = broken["spec"].pop("strategy")
    with pytest.raises(kubernetes_validate.ValidationError, match="stratgy"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_web_probes_reach_the_health_endpoints():
    (web,) = (c for name, c in containers() if name == "registry-web")
    probes = {kind: web[kind]["httpGet"]["path"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes == {
        "startupProbe": "/health/live",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    }
    for path in probes.values():
        resolve(path)  # a route the registry serves (Resolver404 otherwise)
    allowed_hosts = of_kind("ConfigMap")["registry-config"]["data"]["ALLOWED_HOSTS"].split(",")
    for kind in probes:
        headers = {h["name"]: h["value"] for h in web[kind]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in allowed_hosts  # else Django answers the probe 400 (DisallowedHost)


def test_exactly_one_beat_is_deployed_and_nothing_scales_it():
    beats = {
        name: d
        for name, d in of_kind("Deployment").items()
        if "beat" in d["spec"]["template"]["spec"]["containers"][0].get("command", [])
    }
    assert list(beats) == ["registry-beat"]
    spec = beats["registry-beat"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert "registry-beat" not in {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind("HorizontalPodAutoscaler").values()
    }
    beat_labels = spec["template"]["metadata"]["labels"]
    for budget in of_kind("PodDisruptionBudget").values():
        assert not budget["spec"]["selector"]["matchLabels"].items() <= beat_labels.items()


def test_workers_serve_the_queues_the_readme_names():
    commands = {name: c["command"] for name, c in registry_containers()}
    assert commands["registry-worker"][commands["registry-worker"].index("-Q") + 1] == "celery"
    webhooks = commands["registry-webhooks"]
    assert webhooks[webhooks.index("-Q") + 1] == "webhooks" and webhooks[webhooks.index("--pool") + 1] == "threads"


def test_every_container_has_requests_and_limits():
    for name, container in containers():
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys(), (name, bound)


def test_autoscalers_and_budgets_select_real_workloads():
    deployments = of_kind("Deployment")
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind("HorizontalPodAutoscaler").values()}
    assert targets == {"registry-web", "registry-worker", "registry-webhooks"}
    assert targets <= deployments.keys()
    for name, budget in of_kind("PodDisruptionBudget").items():
        selected = [
            d
            for d in deployments.values()
            if budget["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, name


def test_configuration_names_settings_the_registry_reads_and_commits_no_secret():
    assert of_kind("Secret") == {}
    sources = (ROOT / "registry_project" / "settings.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    for key in of_kind("ConfigMap")["registry-config"]["data"]:
        assert f'"{key}"' in sources, f"{key} is read by no setting"
    documented = (FOLDER / "README.md").read_text()
    for name, container in registry_containers():
        for source in container["envFrom"]:
            assert source.get("configMapRef", source.get("secretRef"))["name"] in (
                "registry-config",
                "registry-secrets",
            )
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == "registry-secrets" and f"`{reference['key']}`" in documented, name
