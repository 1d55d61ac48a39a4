from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from policies_app import evaluation
from policies_app.querysets import PolicyVersionQuerySet
from policies_app.validation import policy_validator
from registry_project.definitions import NEWEST_FIRST, Definition, DefinitionVersion, version_pointer

DEFAULTS = {"enforcement": "hard", "priority": 0}


class Policy(Definition):
    """A registered policy (rate limit, quota or RBAC): identity shared by all its versions."""

    kind = "policy"
    validator = policy_validator

    latest_version = version_pointer("PolicyVersion", "latest")
    current_version = version_pointer("PolicyVersion", "current")

    class Meta(Definition.Meta):
        verbose_name_plural = "policies"

    @classmethod
    def changed(cls) -> None:
        """Every committed change that can alter what evaluation sees bumps the shared policy generation, so
        every web replica recompiles its rule index on its next evaluation (and none before the data is visible)."""
        evaluation.bump_generation()

    @staticmethod
    def evaluate(entity: str, resource: str, action: str, roles: Iterable[str] = ()) -> evaluation.Decision:
        """What applies to ``entity`` asking to ``action`` on ``resource``: the API and the admin both ask here."""
        return evaluation.evaluator.evaluate(entity, resource, action, roles)


class PolicyVersion(DefinitionVersion):
    parent_field = "policy"

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = NEWEST_FIRST
        constraints = DefinitionVersion.constraints_for("policy")

    @classmethod
    def split_document(cls, document: dict) -> tuple[dict, dict]:
        # Store the defaults with the spec: the returned document then says what applies, and a later change of
        # default cannot silently change a registered policy.
        spec, mutable = super().split_document(document)
        return {**spec, **{k: spec.get(k, v) for k, v in DEFAULTS.items()}}, mutable

    @property
    def rules(self) -> list[dict]:
        return self.spec.get("rules", [])
