"""Policy decisions on the services' hot path.

The rule set in force (each live policy's current version, or its latest active version when none is current)
is compiled once into a ``RuleIndex`` and reused until a policy changes. Freshness is decided by the database:
every change bumps the ``PolicyGeneration`` row in its own transaction, and each evaluation reads that row (one
primary-key lookup) to compare it with the generation its index was compiled under. The generation is read
*before* the rules are loaded, so a change committed during a compile leaves the new index tagged with the old
generation, and the next evaluation compiles again; an index can never be older than what the database says.

Resolution, per policy type, among the rules that match the entity (or one of its roles), the resource and, for
rbac, the action:

1. higher ``priority`` first;
2. then the more specific pattern: the entity/subject pattern counts first, the resource pattern second, each
   ranked exact (3) > prefix wildcard ``kind:abc*`` (2) > whole name ``kind:*`` (1) > ``*`` (0), reported as
   ``specificity = 4 * entity rank + resource rank``;
3. then deny beats allow (rbac), the lower rate (requests per second, then burst) or the lower quota wins;
4. then policy name and rule index, so the answer never depends on load order.

Hard rules bind. Soft rules only report: they appear in ``matched`` and never deny (nor allow what hard rules
deny). A rate limit or quota comes from the best hard rule, or from the best soft rule (marked soft) when no
hard rule matches. With no hard rbac rule, ``POLICY_DEFAULT_EFFECT`` (deny unless configured) decides.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from policies_app.patterns import EXACT, KIND_WIDE, PREFIX, Pattern

logger = logging.getLogger(__name__)

TYPE_ORDER = {"rbac": 0, "rate_limit": 1, "quota": 2}


# -- the generation, decided by the database -------------------------------------------------------------------


def current_generation() -> int:
    """The policy generation (``PolicyGeneration``), read per evaluation: one primary-key lookup on a connection
    that is already open. Redis plays no part, so neither a lost message nor a stalled Redis can make an answer
    staler than the database."""
    from policies_app.models import PolicyGeneration

    return PolicyGeneration.current()


def bump_generation() -> None:
    """For writes that bypass the model methods (a data migration, a shell): make every replica recompile."""
    from policies_app.models import PolicyGeneration

    PolicyGeneration.bump()


# -- compiled rules ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    policy: str
    version: str
    index: int
    type: str
    enforcement: str
    priority: int
    who: Pattern  # entity (rate_limit, quota) or subject (rbac)
    resource: Pattern
    actions: frozenset[str] | None  # rbac only
    rule: dict
    specificity: int
    order: tuple  # the resolution order of point 1-4 above: smaller wins

    @classmethod
    def compile(cls, policy: str, version: str, spec: dict, index: int, rule: dict) -> CompiledRule:
        policy_type = spec["type"]
        priority = spec.get("priority", 0)
        who = Pattern.parse(rule["subject" if policy_type == "rbac" else "entity"])
        resource = Pattern.parse(rule["resource"])
        specificity = 4 * who.rank + resource.rank
        if policy_type == "rbac":
            tiebreak: tuple = (0 if rule["effect"] == "deny" else 1,)
        elif policy_type == "rate_limit":
            burst = rule.get("burst", rule["requests"])
            tiebreak = (rule["requests"] / rule["window_seconds"], burst)
        else:
            tiebreak = (rule["limit"],)
        return cls(
            policy=policy,
            version=version,
            index=index,
            type=policy_type,
            enforcement=spec.get("enforcement", "hard"),
            priority=priority,
            who=who,
            resource=resource,
            actions=frozenset(rule["actions"]) if policy_type == "rbac" else None,
            rule=rule,
            specificity=specificity,
            order=(-priority, -specificity, *tiebreak, policy, index),
        )

    @property
    def hard(self) -> bool:
        return self.enforcement == "hard"

    def applies_to(self, identities: Sequence[str], action: str) -> bool:
        if self.actions is not None and action not in self.actions and "*" not in self.actions:
            return False
        return any(self.who.matches(identity) for identity in identities)

    def explain(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "version": self.version,
            "type": self.type,
            "rule": self.index,
            "enforcement": self.enforcement,
            "priority": self.priority,
            "specificity": self.specificity,
            **self.rule,
        }


@dataclass
class RuleIndex:
    """Rules grouped by their resource pattern, so a lookup touches only rules that can match the resource:
    exact resources by value; prefix and whole-name wildcards by resource kind, then prefix length, then prefix
    (one dict lookup per distinct prefix length, however many prefixes share it); ``*`` apart."""

    generation: int
    compiled_at: float = field(default_factory=time.monotonic)
    exact: dict[str, list[CompiledRule]] = field(default_factory=dict)
    prefixes: dict[str, dict[int, dict[str, list[CompiledRule]]]] = field(default_factory=dict)
    anywhere: list[CompiledRule] = field(default_factory=list)
    policies: int = 0
    rules: int = 0

    def add(self, rule: CompiledRule) -> None:
        resource = rule.resource
        if resource.rank == EXACT:
            self.exact.setdefault(resource.prefix, []).append(rule)
        elif resource.rank in (PREFIX, KIND_WIDE):
            by_length = self.prefixes.setdefault(resource.kind, {})
            by_length.setdefault(len(resource.prefix), {}).setdefault(resource.prefix, []).append(rule)
        else:
            self.anywhere.append(rule)
        self.rules += 1

    def candidates(self, resource: str) -> Iterable[CompiledRule]:
        yield from self.exact.get(resource, ())
        for length, by_prefix in self.prefixes.get(resource.split(":", 1)[0], {}).items():
            yield from by_prefix.get(resource[:length], ())
        yield from self.anywhere

    @classmethod
    def compile(cls, generation: int) -> RuleIndex:
        from policies_app.models import PolicyVersion

        index = cls(generation=generation)
        for policy, version, spec in (
            PolicyVersion.objects.in_force().values_list("policy__name", "version", "spec").iterator()
        ):
            index.policies += 1
            for position, rule in enumerate(spec.get("rules", [])):
                try:
                    index.add(CompiledRule.compile(policy, version, spec, position, rule))
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    # Only a write that bypassed validation gets here; one bad rule must not fail every decision.
                    logger.error("Skipping invalid rule %s of %s@%s", position, policy, version, exc_info=True)
        return index


# -- decisions ---------------------------------------------------------------------------------------------------


def _why(winner: CompiledRule, runner_up: CompiledRule | None) -> str:
    if runner_up is None:
        return "the only matching hard rbac rule"
    if winner.priority != runner_up.priority:
        return f"highest priority ({winner.priority} over {runner_up.priority})"
    if winner.specificity != runner_up.specificity:
        return f"equal priority; most specific patterns (specificity {winner.specificity} over {runner_up.specificity})"
    if winner.rule["effect"] != runner_up.rule["effect"]:
        return "equal priority and specificity; deny beats allow"
    return "equal priority, specificity and effect; first by policy name and rule index"


def _limit(rule: CompiledRule | None, fields: tuple[str, ...]) -> dict | None:
    if rule is None:
        return None
    values = {name: rule.rule.get(name) for name in fields}
    if "burst" in values and values["burst"] is None:
        values["burst"] = values["requests"]
    return {
        **values,
        "policy": rule.policy,
        "version": rule.version,
        "rule": rule.index,
        "enforcement": rule.enforcement,
    }


def _binding(rules: list[CompiledRule]) -> CompiledRule | None:
    """The best hard rule; the best soft rule (reported as soft) only when no hard rule matches."""
    return next((r for r in rules if r.hard), rules[0] if rules else None)


@dataclass
class Decision:
    allowed: bool
    enforcement: str
    decided_by: dict[str, Any]
    rate_limit: dict | None
    quota: dict | None
    matched: list[CompiledRule]
    soft_decision: dict | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "enforcement": self.enforcement,
            "rate_limit": self.rate_limit,
            "quota": self.quota,
            "matched": [rule.explain() for rule in self.matched],
            "decided_by": self.decided_by,
            "soft_decision": self.soft_decision,
        }

    @classmethod
    def resolve(cls, matched: list[CompiledRule]) -> Decision:
        # Priority and specificity first across types; the rest of the order only compares rules of one type.
        matched.sort(key=lambda r: (r.order[:2], TYPE_ORDER[r.type], r.order))
        by_type: dict[str, list[CompiledRule]] = {"rbac": [], "rate_limit": [], "quota": []}
        for rule in matched:
            by_type[rule.type].append(rule)
        rbac = by_type["rbac"]
        hard_rbac = [r for r in rbac if r.hard]
        if hard_rbac:
            winner = hard_rbac[0]
            allowed = winner.rule["effect"] == "allow"
            decided_by = {**winner.explain(), "reason": _why(winner, hard_rbac[1] if len(hard_rbac) > 1 else None)}
        else:
            default = settings.POLICY_DEFAULT_EFFECT
            allowed = default == "allow"
            decided_by = {
                "policy": None,
                "default": default,
                "reason": f"no hard rbac rule matches; POLICY_DEFAULT_EFFECT is {default}",
            }
        enforcement, soft_decision = "hard", None
        # A soft rule that outranks the binding decision and disagrees with it is what "only reports" reports.
        if rbac and not rbac[0].hard and (rbac[0].rule["effect"] == "allow") != allowed:
            enforcement = "soft"
            soft_decision = {"allowed": not allowed, **rbac[0].explain()}
        return cls(
            allowed=allowed,
            enforcement=enforcement,
            decided_by=decided_by,
            rate_limit=_limit(_binding(by_type["rate_limit"]), ("requests", "window_seconds", "burst")),
            quota=_limit(_binding(by_type["quota"]), ("limit", "period", "unit")),
            matched=matched,
            soft_decision=soft_decision,
        )


class PolicyEvaluator:
    """Holds this process's compiled index; safe to share between threads (gunicorn --threads)."""

    def __init__(self) -> None:
        self._index: RuleIndex | None = None
        self._lock = threading.Lock()

    def _fresh(self, index: RuleIndex | None, generation: int) -> bool:
        return index is not None and index.generation == generation

    def rule_index(self) -> RuleIndex:
        generation = current_generation()
        index = self._index
        if self._fresh(index, generation):
            return index
        with self._lock:  # one compile per process at a time; the others wait and reuse it
            index = self._index
            if not self._fresh(index, generation):
                index = RuleIndex.compile(generation)
                self._index = index
        return index

    def forget(self) -> None:
        self._index = None

    def evaluate(self, entity: str, resource: str, action: str, roles: Iterable[str] = ()) -> Decision:
        identities = (entity, *roles)
        matched = [rule for rule in self.rule_index().candidates(resource) if rule.applies_to(identities, action)]
        return Decision.resolve(matched)


evaluator = PolicyEvaluator()
