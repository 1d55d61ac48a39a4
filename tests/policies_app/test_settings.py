"""The policy settings are parsed strictly: a typo stops the process instead of silently changing decisions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SETUP = "import django; django.setup(); from django.conf import settings; print(settings.POLICY_DEFAULT_EFFECT, settings.MAX_POLICY_RULES)"


def run_settings(**env: str) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k not in ("POLICY_DEFAULT_EFFECT", "MAX_POLICY_RULES")}
    environment = {**inherited, "DJANGO_SETTINGS_MODULE": "registry_project.settings", "DEBUG": "true", **env}
    return subprocess.run(
        [sys.executable, "-c", SETUP], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_defaults_deny_and_allow_100_rules():
    assert run_settings().stdout.split() == ["deny", "100"]


def test_overrides_are_read_from_the_environment():
    assert run_settings(POLICY_DEFAULT_EFFECT="Allow", MAX_POLICY_RULES="20").stdout.split() == ["allow", "20"]


@pytest.mark.parametrize(
    ("name", "value"), [("POLICY_DEFAULT_EFFECT", "permit"), ("MAX_POLICY_RULES", "lots"), ("MAX_POLICY_RULES", "0")]
)
def test_a_bad_value_is_a_configuration_error(name, value):
    result = run_settings(**{name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr
