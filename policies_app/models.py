from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from kernel.models.definitions import Definition, DefinitionVersion, version_pointer
from kernel.rules.latest import NEWEST_FIRST
from policies_app import evaluation
from policies_app.querysets import PolicyVersionQuerySet
from policies_app.validation import policy_validator

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
    def changing(cls) -> None:
        """Every change that can alter what evaluation sees bumps the policy generation in the same transaction,
        so the database alone decides freshness: the bump becomes visible exactly when the change does, on every
        web replica, whatever state Redis is in."""
        PolicyGeneration.bump()

    @staticmethod
    def evaluate(entity: str, resource: str, action: str, roles: Iterable[str] = ()) -> evaluation.Decision:
        """What applies to ``entity`` asking to ``action`` on ``resource``: the API and the admin both ask here."""
        return evaluation.evaluator.evaluate(entity, resource, action, roles)


class PolicyGeneration(models.Model):
    """One row whose ``value`` grows with every change to the policies in force. Each evaluation reads it (a
    primary-key lookup) and recompiles its rule index when it differs from the one the index was built under.
    Writers update it under the row lock, in their own transaction."""

    ROW = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=ROW)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="%(app_label)s_%(class)s_single_row")]

    @classmethod
    def bump(cls) -> None:
        if not cls.objects.filter(pk=cls.ROW).update(value=models.F("value") + 1):
            cls.objects.get_or_create(pk=cls.ROW)  # the migration creates the row; this only heals a deleted one
            cls.objects.filter(pk=cls.ROW).update(value=models.F("value") + 1)

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=cls.ROW).values_list("value", flat=True).first() or 0


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
