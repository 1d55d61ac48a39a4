"""Patterns and the rule index: which rules a lookup can reach."""

from __future__ import annotations

import pytest

from policies_app.evaluation import CompiledRule, RuleIndex
from policies_app.patterns import ANY, EXACT, KIND_WIDE, PREFIX, InvalidPattern, Pattern


@pytest.mark.parametrize(
    ("text", "rank", "matching", "not_matching"),
    [
        ("user:alice", EXACT, ["user:alice"], ["user:alice2", "user:alic", "team:alice"]),
        ("model:llama2-*", PREFIX, ["model:llama2-7b", "model:llama2-"], ["model:llama3-8b", "dataset:llama2-x"]),
        ("user:*", KIND_WIDE, ["user:alice", "user:bob"], ["users:alice", "role:user"]),
        ("*", ANY, ["user:alice", "api:inference"], []),
    ],
)
def test_patterns_match_what_they_say(text, rank, matching, not_matching):
    pattern = Pattern.parse(text)

    assert pattern.rank == rank
    assert all(pattern.matches(value) for value in matching)
    assert not any(pattern.matches(value) for value in not_matching)


@pytest.mark.parametrize("text", ["user", "user:", "*:alice", "user:al*ce", "User:alice", "user:**", "", None, 3])
def test_malformed_patterns_are_refused(text):
    with pytest.raises(InvalidPattern):
        Pattern.parse(text)


def test_a_lookup_reaches_exactly_the_rules_whose_resource_pattern_matches():
    spec = {"type": "rbac", "priority": 0, "enforcement": "hard"}
    resources = ["model:llama2-7b", "model:llama2-*", "model:llama*", "model:mistral-*", "model:*", "api:*", "*"]
    index = RuleIndex(generation="g")
    for position, resource in enumerate(resources):
        index.add(
            CompiledRule.compile(
                "p",
                "1.0.0",
                spec,
                position,
                {"subject": "*", "resource": resource, "actions": ["*"], "effect": "allow"},
            )
        )

    reached = sorted(rule.resource.text for rule in index.candidates("model:llama2-7b"))

    assert reached == sorted(["model:llama2-7b", "model:llama2-*", "model:llama*", "model:*", "*"])
    assert sorted(rule.resource.text for rule in index.candidates("api:inference")) == ["*", "api:*"]
