"""Lineage's addresses and document rules (run by ``models_app.validation.model_validator``), and the lookup of
the version a ``derived_from`` names."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from eth_utils import is_checksum_address, is_checksum_formatted_address, is_hex_address, to_checksum_address

from kernel.rules.semver import InvalidVersion, parse_version
from kernel.rules.validation import Issue, Report, objects_in, pointer
from models_app.models import Model, ModelVersion

# "0x" and 40 hex digits; eth-utils then checks the EIP-55 checksum of a mixed-case address (all-lowercase and
# all-uppercase carry no checksum, as EIP-55 says).
ADDRESS_FORMAT = re.compile(r"0x[0-9a-fA-F]{40}")
METRIC_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Contributor weights must add up to 1 within this (0.6 + 0.3 + 0.1 is not exactly 1.0 in floating point);
# what is stored is normalised to sum to 1.
WEIGHT_TOLERANCE = 1e-3


# -- addresses -------------------------------------------------------------------------------------------------


def checksum_address(text: Any) -> str | None:
    """The EIP-55 form of a valid address; None when ``text`` is not one (a mixed-case address whose checksum
    is wrong is a typo, as EIP-55 intends, and is refused)."""
    if not isinstance(text, str) or not ADDRESS_FORMAT.fullmatch(text) or not is_hex_address(text):
        return None
    if is_checksum_formatted_address(text) and not is_checksum_address(text):
        return None
    return to_checksum_address(text)


def address_for_lookup(text: str) -> str | None:
    """Lookups are case-insensitive: any casing of a well-formed address finds its EIP-55 form."""
    return to_checksum_address(text.lower()) if ADDRESS_FORMAT.fullmatch(text) else None


# -- document rules (run by models_app.validation.model_validator) ----------------------------------------------


def metric_names_are_slugs(document: dict, report: Report) -> None:
    """The schema's pattern lets a trailing newline through (``$``); names are matched whole here."""
    for field in ("metrics", "metric_directions"):
        values = document.get(field)
        if isinstance(values, dict):
            for name in values:
                if not METRIC_NAME.fullmatch(name):
                    report.error(
                        pointer(field, name),
                        "invalid_format",
                        "A metric name is a lowercase slug of at most 64 characters, e.g. 'accuracy'.",
                    )


def contributors_are_valid(document: dict, report: Report) -> None:
    items = objects_in(document, "contributors")
    seen: dict[str, int] = {}
    for index, item in items:
        address = checksum_address(item.get("address"))
        if address is None:
            if isinstance(item.get("address"), str):
                report.error(
                    pointer("contributors", index, "address"),
                    "invalid_address",
                    "An Ethereum address is '0x' and 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum.",
                )
        elif address in seen:
            report.error(
                pointer("contributors", index, "address"),
                "duplicate_contributor",
                f"{address} is already listed at /contributors/{seen[address]}.",
            )
        else:
            seen[address] = index
    weights = [(index, item.get("weight")) for index, item in items]
    given = [(index, w) for index, w in weights if isinstance(w, (int, float)) and not isinstance(w, bool)]
    if given and len(given) != len(weights):
        for index, weight in weights:
            if weight is None:
                report.error(
                    pointer("contributors", index, "weight"),
                    "required",
                    "Give every contributor a weight, or none (equal shares).",
                )
    elif given:
        total = sum(w for _, w in given)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            report.error(
                "/contributors", "weights_sum", f"Contributor weights must add up to 1; they add up to {total:g}."
            )


def derived_from_is_registered(document: dict, report: Report) -> None:
    ref = document.get("derived_from")
    if not (isinstance(ref, dict) and isinstance(ref.get("model"), str) and isinstance(ref.get("version"), str)):
        return
    if _names_itself(document, ref):
        path = f"{ref['model']}@{ref['version']} -> {ref['model']}@{ref['version']}"
        report.error(
            "/derived_from",
            "lineage_cycle",
            f"A version cannot derive from itself ({path}); name the version it improves on.",
        )
        return
    parent, issue = resolve_parent(ref)
    if issue is not None:
        report.errors.append(issue)
    elif parent.lineage_depth + 1 > settings.LINEAGE_MAX_DEPTH:
        report.error(
            "/derived_from",
            "lineage_too_deep",
            f"{parent} already has {parent.lineage_depth} ancestors; a lineage holds at most {settings.LINEAGE_MAX_DEPTH} (LINEAGE_MAX_DEPTH).",
        )


RULES = [metric_names_are_slugs, contributors_are_valid, derived_from_is_registered]


def _names_itself(document: dict, ref: dict) -> bool:
    if ref["model"] != document.get("name") or not isinstance(document.get("version"), str):
        return False
    try:
        return parse_version(ref["version"]).identity() == parse_version(document["version"]).identity()
    except InvalidVersion:
        return False


def resolve_parent(ref: dict, *, registering: ModelVersion | None = None) -> tuple[ModelVersion | None, Issue | None]:
    """The version a ``derived_from`` names (a number, ``latest`` or ``current``), of any model, deleted ones
    included (lineage is history: a description edit must not fail because an ancestor's model was deleted).
    ``registering``: the version being registered, which ``latest`` must not resolve to (it names the latest
    before this registration, as validation saw it)."""
    name, version = ref["model"], ref["version"]
    candidates = ModelVersion.objects.filter(model__name=name).select_related("model")
    if registering is not None:
        candidates = candidates.exclude(pk=registering.pk)
    try:
        found = candidates.named(version)
    except InvalidVersion as exc:
        return None, Issue("/derived_from/version", "invalid_version", str(exc))
    if found is not None:
        return found, None
    if not Model.objects.filter(name=name).exists():
        return None, Issue("/derived_from/model", "not_found", f"No model named '{name}' is registered.")
    return None, Issue("/derived_from/version", "not_found", f"Model '{name}' has no version {version}.")
