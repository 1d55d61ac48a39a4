"""What a binding's config may hold, and what a report must look like. Every problem is returned at once, each
with a JSON Pointer path into the request body.

Secrets are never stored. A config names a secret (``api_key_secret: "vault:kv/openai#key"``, any key ending in
``_secret``, whose value must be a reference such as ``vault:...`` or ``env:...``); a key that names a credential
(``api_key``, ``token``, ``password``, ...) or a value that looks like one (``sk-...``, ``AKIA...``, a PEM private
key, a bearer token or JWT) is refused, wherever it sits in the config.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bindings_app.choices import Provider
from kernel.rules.validation import DocumentInvalid, Issue, Report, SchemaValidator, pointer

SCHEMAS = Path(__file__).parent / "schemas"

# A key ending in this names a secret held elsewhere; its value must be a reference, never the secret.
SECRET_REFERENCE_SUFFIX = "_secret"
SECRET_REFERENCE = re.compile(r"(vault|env|aws-sm|gcp-sm|azure-kv|k8s|file):[^\s]{1,500}")
# Key names that hold a credential itself (compared with '-', '_' and case removed).
# ``max_tokens`` is a setting, ``token`` / ``access_token`` a credential.
CREDENTIAL_KEY = re.compile(
    r".*(apikey|accesskey|secretkey|privatekey|password|passwd|passphrase|credentials?|authorization|sessionkey|secret)"
    r"|(access|auth|bearer|session|refresh|id|api|oauth|security|github|hf)?token"
)
CREDENTIAL_VALUES = [
    (re.compile(r".*\bsk-[A-Za-z0-9_-]{8,}.*", re.S), "an API key (sk-...)"),
    (re.compile(r".*\bAKIA[0-9A-Z]{16}.*", re.S), "an AWS access key id"),
    (re.compile(r".*-----BEGIN [A-Z ]*PRIVATE KEY-----.*", re.S), "a private key"),
    (re.compile(r".*\bBearer\s+[A-Za-z0-9._~+/-]{8,}.*", re.S | re.I), "a bearer token"),
    (re.compile(r".*\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\..*", re.S), "a JSON Web Token"),
    (re.compile(r".*\b(ghp|gho|ghs|github_pat|xox[abpr]|glpat)[-_][A-Za-z0-9_-]{8,}.*", re.S), "an access token"),
    (re.compile(r".*\bAIza[0-9A-Za-z_-]{30,}.*", re.S), "a Google API key"),
]


def _normalised(key: str) -> str:
    return re.sub(r"[-_\s]", "", key).lower()


def secrets_in(config: Any, base: tuple = ("config",)) -> list[Issue]:
    """Every place in ``config`` that holds a credential rather than the name of one."""
    issues: list[Issue] = []
    stack: list[tuple[Any, tuple]] = [(config, base)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                child_path = (*path, key)
                if key.endswith(SECRET_REFERENCE_SUFFIX):
                    if not (isinstance(child, str) and SECRET_REFERENCE.fullmatch(child)):
                        issues.append(
                            Issue(
                                pointer(*child_path),
                                "secret_reference_required",
                                f"'{key}' names a secret; give its reference (e.g. 'vault:kv/path#key' or 'env:VAR'), never the secret itself.",
                            )
                        )
                    continue
                if CREDENTIAL_KEY.fullmatch(_normalised(key)):
                    issues.append(
                        Issue(
                            pointer(*child_path),
                            "secret_in_config",
                            f"'{key}' would store a credential; secrets are never stored. Name it instead: '{key.rstrip('_')}_secret': 'vault:...'.",
                        )
                    )
                    continue
                stack.append((child, child_path))
        elif isinstance(value, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(value))
        elif isinstance(value, str):
            for pattern, what in CREDENTIAL_VALUES:
                if pattern.fullmatch(value):
                    issues.append(
                        Issue(
                            pointer(*path),
                            "secret_in_config",
                            f"This value looks like {what}; secrets are never stored. Store a reference in a '..._secret' key.",
                        )
                    )
                    break
    return sorted(issues, key=lambda issue: issue.path)


@cache
def config_validator(provider: str) -> SchemaValidator:
    return SchemaValidator(f"binding config ({provider})", SCHEMAS / "config" / f"{provider}.json")


def check_config(provider: str, config: Any) -> list[Issue]:
    """Every problem with a binding's config for ``provider``: credentials anywhere, then the provider's schema."""
    issues = secrets_in(config)
    if provider in Provider.values:
        if not isinstance(config, dict):
            issues.append(Issue("/config", "invalid_type", "Expected a JSON object."))
        else:
            refused = {issue.path for issue in issues}
            for issue in config_validator(provider).check(config).errors:
                path = f"/config{issue.path}"
                if path not in refused:  # a refused credential is not also an unknown field
                    issues.append(Issue(path, issue.code, issue.message))
    return issues


# -- reports ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    success: bool
    latency_ms: float | None
    input_tokens: int
    output_tokens: int
    at: dt.datetime


outcome_validator = SchemaValidator("binding report", SCHEMAS / "outcome.json")


def parse_outcomes(data: Any, *, now: dt.datetime | None = None) -> list[Outcome]:
    """One outcome (an object) or a batch (a list of 1..BINDING_MAX_REPORT_BATCH objects); raises DocumentInvalid
    with every problem."""
    now = now or timezone.now()
    limit = settings.BINDING_MAX_REPORT_BATCH
    if isinstance(data, dict):
        items, prefix = [data], lambda index: ()
    elif isinstance(data, list):
        if not data:
            raise DocumentInvalid([Issue("", "too_few_items", "A batch holds at least one outcome.")])
        if len(data) > limit:
            raise DocumentInvalid(
                [Issue("", "too_many_items", f"A batch holds at most {limit} outcomes; got {len(data)}.")]
            )
        items, prefix = data, lambda index: (index,)
    else:
        raise DocumentInvalid([Issue("", "invalid_type", "Expected an outcome object or a list of them.")])

    report = Report()
    outcomes = []
    latest_allowed = now + dt.timedelta(seconds=settings.BINDING_REPORT_MAX_CLOCK_SKEW_SECONDS)
    for index, item in enumerate(items):
        base = pointer(*prefix(index))
        item_report = outcome_validator.check(item)
        report.errors.extend(Issue(base + issue.path, issue.code, issue.message) for issue in item_report.errors)
        if item_report.errors:
            continue
        at = now
        if "at" in item:
            try:
                at = parse_datetime(item["at"]) if len(item["at"]) <= 40 else None
            except ValueError:  # well formed but no date (month 13, hour 25)
                at = None
            if at is None or at.tzinfo is None:
                report.error(
                    f"{base}/at", "invalid_format", "Expected an ISO 8601 time with a zone, e.g. 2026-11-23T10:00:00Z."
                )
                continue
            if at > latest_allowed:
                report.error(
                    f"{base}/at",
                    "in_the_future",
                    f"{item['at']} is in the future (more than {settings.BINDING_REPORT_MAX_CLOCK_SKEW_SECONDS} s ahead).",
                )
                continue
        outcomes.append(
            Outcome(
                item["success"], item.get("latency_ms"), item.get("input_tokens", 0), item.get("output_tokens", 0), at
            )
        )
    if report.errors:
        raise DocumentInvalid(report.errors)
    return outcomes
