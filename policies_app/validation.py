"""Policy-document rules beyond the JSON Schema. Each rule checks the types it relies on (the document may have
failed the schema) and adds every problem it finds to the report, with the path of the rule at fault."""

from __future__ import annotations

from pathlib import Path

from kernel.rules.validation import DocumentValidator, Issue, Report, at_most, objects_in, pointer
from policies_app.patterns import InvalidPattern, Pattern

SCHEMAS = Path(__file__).parent / "schemas"

# The field naming who a rule applies to, by policy type.
WHO_FIELD = {"rate_limit": "entity", "quota": "entity", "rbac": "subject"}


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def burst_at_least_requests(document: dict, report: Report) -> None:
    if document.get("type") != "rate_limit":
        return
    for index, rule in objects_in(document, "rules"):
        requests, burst = _int(rule.get("requests")), _int(rule.get("burst"))
        if requests is not None and burst is not None and burst < requests:
            report.error(
                pointer("rules", index, "burst"),
                "burst_below_requests",
                f"burst ({burst}) must be at least requests ({requests}): a burst allows more than the steady rate, never less.",
            )


def _parsed(rule: dict, field: str) -> Pattern | None:
    try:
        return Pattern.parse(rule.get(field))
    except InvalidPattern:
        return None  # the schema already reported it


def _actions(rule: dict) -> set[str]:
    actions = rule.get("actions")
    return {a for a in actions if isinstance(a, str)} if isinstance(actions, list) else set()


def _outcome(policy_type: str, rule: dict):
    """What a rule decides, or None when the schema already rejected it; two rules for the same entity and
    resource contradict when this differs."""
    if policy_type == "rate_limit":
        outcome = (
            _int(rule.get("requests")),
            _int(rule.get("window_seconds")),
            _int(rule.get("burst", rule.get("requests"))),
        )
        return None if None in outcome else outcome
    if policy_type == "quota":
        limit = rule.get("limit")
        return limit if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None
    effect = rule.get("effect")
    return effect if effect in ("allow", "deny") and _actions(rule) else None


def no_contradicting_rules(document: dict, report: Report) -> None:
    """Within one policy, two rules for the same entity and resource must agree: otherwise which one applies
    would depend on their order. Quotas only contradict for the same period and unit; rbac rules only when their
    actions overlap ('*' overlaps everything). Exact duplicates are a warning.

    Near-linear: rules are grouped by (who, resource[, period, unit]) and each group keeps only the first rule of
    every distinct (outcome, actions); a rule is compared with those representatives (at most 2 effects x 31
    action sets for rbac), never with every earlier rule, and reported once, against the first rule it
    contradicts or repeats."""
    policy_type = document.get("type")
    if not isinstance(policy_type, str) or policy_type not in WHO_FIELD:
        return
    who = WHO_FIELD[policy_type]
    # group key -> {(outcome, actions): (first index, subject text, resource text)}
    seen: dict[tuple, dict[tuple, int]] = {}
    for index, rule in objects_in(document, "rules"):
        subject, resource = _parsed(rule, who), _parsed(rule, "resource")
        outcome = _outcome(policy_type, rule)
        if subject is None or resource is None or outcome is None:
            continue
        key = (subject.text, resource.text)
        if policy_type == "quota":
            period, unit = rule.get("period"), rule.get("unit")
            if not (isinstance(period, str) and isinstance(unit, str)):
                continue  # the schema already reported it
            key += (period, unit)
        actions = frozenset(_actions(rule)) if policy_type == "rbac" else frozenset()
        representatives = seen.setdefault(key, {})
        where = lambda earlier: f"rule {earlier} ({who} {subject.text}, resource {resource.text})"  # noqa: E731,B023  (called within this iteration)
        contradicted = repeated = None
        for (their_outcome, their_actions), earlier in representatives.items():
            if policy_type == "rbac" and not ("*" in actions or "*" in their_actions or actions & their_actions):
                continue
            if their_outcome != outcome:
                contradicted = earlier if contradicted is None else min(contradicted, earlier)
            elif policy_type != "rbac" or their_actions == actions:
                repeated = earlier if repeated is None else min(repeated, earlier)
        if contradicted is not None:
            report.error(
                pointer("rules", index),
                "contradicting_rules",
                f"This rule contradicts {where(contradicted)}; merge them or make one more specific.",
            )
        elif repeated is not None:
            report.warn(pointer("rules", index), "duplicate_rule", f"This rule repeats {where(repeated)}.")
        representatives.setdefault((outcome, actions), index)


policy_validator = DocumentValidator(
    "policy",
    SCHEMAS / "policy.json",
    rules=[
        at_most("rules", "MAX_POLICY_RULES", code="too_many_items", kind="policy"),
        burst_at_least_requests,
        no_contradicting_rules,
    ],
)

# An evaluate request is not a registry document: only its JSON Schema applies (and it is not counted in the
# document-validation metrics).
evaluation_request_validator = DocumentValidator("policy evaluation", SCHEMAS / "evaluation.json")


def evaluation_request_issues(body) -> list[Issue]:
    """Every problem with a ``POST /api/v1/policies/evaluate`` body (the admin's evaluate form checks the same)."""
    if not isinstance(body, dict):
        return [Issue("", "invalid_type", f"Expected a JSON object, got {type(body).__name__}.")]
    return list(evaluation_request_validator.schema_issues(body))
