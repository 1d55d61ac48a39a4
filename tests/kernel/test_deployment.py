"""The compose file cannot be run here (no docker compose): check it parses and starts what docs/operations.md says."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_starts_web_worker_and_one_beat_over_postgres_and_redis():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]

    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    # --quiet: no startup banner, so every line is a JSON log line (tests/integration/test_celery_logs.py)
    assert services["worker"]["command"][:5] == ["celery", "-A", "registry_project", "--quiet", "worker"]
    assert services["beat"]["command"][:5] == ["celery", "-A", "registry_project", "--quiet", "beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://") and environment["CELERY_BROKER_URL"].startswith(
            "redis://"
        )
    assert "build" in services["web"] and (ROOT / "Dockerfile").exists()
