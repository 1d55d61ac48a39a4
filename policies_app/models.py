from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction

from policies_app import evaluation
from policies_app.querysets import PolicyVersionQuerySet
from policies_app.validation import policy_validator
from registry_project.definitions import NEWEST_FIRST, Definition, DefinitionVersion, Registration

DEFAULTS = {"enforcement": "hard", "priority": 0}


def _rule_set_changed() -> None:
    """Every change that can alter what evaluation sees bumps the shared policy generation once it is committed,
    so every web replica recompiles its rule index on its next evaluation (and none before the data is visible)."""
    transaction.on_commit(evaluation.bump_generation)


class Policy(Definition):
    """A registered policy (rate limit, quota or RBAC): identity shared by all its versions."""

    kind = "policy"
    validator = policy_validator

    class Meta(Definition.Meta):
        verbose_name_plural = "policies"

    @classmethod
    def register(cls, document: Any, *, user=None) -> Registration:
        registration = super().register(document, user=user)
        _rule_set_changed()
        return registration

    def register_version(self, document: Any, *, user=None) -> Registration:
        registration = super().register_version(document, user=user)
        _rule_set_changed()
        return registration

    def soft_delete(self) -> None:
        super().soft_delete()
        _rule_set_changed()

    def restore(self) -> None:
        super().restore()
        _rule_set_changed()

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

    def update_document(self, changes: Any, *, partial: bool) -> DefinitionVersion:
        version = super().update_document(changes, partial=partial)
        _rule_set_changed()
        return version

    def activate(self) -> DefinitionVersion:
        version = super().activate()
        _rule_set_changed()
        return version

    def deprecate(self) -> DefinitionVersion:
        version = super().deprecate()
        _rule_set_changed()
        return version

    def archive(self) -> DefinitionVersion:
        version = super().archive()
        _rule_set_changed()
        return version
