"""`manage.py check --deploy --fail-level WARNING` passes with the production environment docs/production.md documents,
and a missing broker is said at startup."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.servers import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 30 + "-a-long-random-production-secret-with-variety-1234567890",
    "ALLOWED_HOSTS": "registry.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://registry.example.com",
    "TRUST_X_FORWARDED_PROTO": "true",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
}


def check(env: dict) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "CELERY_", "DEBUG", "PYTEST", "DJANGO_SETTINGS", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_environment_passes_the_deploy_check():
    result = check(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_without_a_broker_is_warned_about():
    result = check({k: v for k, v in PRODUCTION.items() if k != "CELERY_BROKER_URL"})
    assert result.returncode != 0 and "registry.W001" in result.stdout + result.stderr


def test_turning_https_off_fails_the_deploy_check():
    result = check({**PRODUCTION, "SECURE_SSL_REDIRECT": "false"})
    assert result.returncode != 0 and "security.W008" in result.stdout + result.stderr
