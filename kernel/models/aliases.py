"""Named aliases per definition (``production``, ``champion``, any slug starting with a letter), each pointing at
one version, for every kind. Every move is a change-log entry (``alias.moved`` / ``alias.deleted`` with
``{"alias": a, "version": [before, after]}``), so the log answers what an alias pointed to at any moment and
lists every move; a rollback is a new move, never an erasure.

One table serves every kind (kind, definition name, alias), as the change log does, rather than one table per
app: aliases then need no code in each app. The price is no foreign key to the version row; a version is never
deleted (archived at most, and archiving an aliased version is refused), and the row keeps the version's id.
"""

from __future__ import annotations

import re

from django.db import models, transaction
from django.db.models import Q

from kernel.exceptions import Conflict, DefinitionNotFound, RegistryError
from kernel.models import changelog
from kernel.rules.dependencies import ensure_unused

ALIAS_PATTERN = r"[a-z][a-z0-9._-]{0,63}"
_alias_re = re.compile(ALIAS_PATTERN)
RESERVED_ALIASES = frozenset({"latest", "current"})


class PreconditionFailed(RegistryError):
    """``If-Match`` named a state the alias is no longer in (someone moved it first)."""

    status_code = 412
    code = "precondition_failed"


def check_alias_name(alias: str) -> None:
    if not _alias_re.fullmatch(alias) or alias in RESERVED_ALIASES:
        raise DefinitionNotFound(
            f"'{alias[:70]}' is not an alias name: a lowercase slug starting with a letter (not latest or current).",
            code="invalid_alias",
            path="alias",
        )


class Alias(models.Model):
    kind = models.CharField(max_length=32)
    definition_name = models.CharField(max_length=128)
    alias = models.CharField(max_length=64)
    version = models.CharField(max_length=128, help_text="The target's canonical version text.")
    version_id = models.UUIDField(help_text="The target version's id.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "registry_project"
        db_table = "registry_alias"
        ordering = ("kind", "definition_name", "alias")
        constraints = [
            models.UniqueConstraint(fields=["kind", "definition_name", "alias"], name="registry_alias_unique_name"),
            models.CheckConstraint(condition=Q(alias__regex=r"^[a-z][a-z0-9._-]*\Z"), name="registry_alias_slug"),
        ]
        indexes = [models.Index(fields=["version_id"], name="registry_alias_target")]

    def __str__(self) -> str:
        return f"{self.kind} {self.definition_name}@{self.alias} -> {self.version}"

    def etag(self) -> str:
        return f'"{self.version}"'

    def as_dict(self) -> dict:
        return {
            "alias": self.alias,
            "name": self.definition_name,
            "version": self.version,
            "version_id": str(self.version_id),
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }

    # -- moves (each locks the definition row, as lifecycle moves do, so moves of one definition serialise) --

    @classmethod
    def get(cls, definition, alias: str) -> Alias:
        check_alias_name(alias)
        found = cls.objects.filter(kind=definition.kind, definition_name=definition.name, alias=alias).first()
        if found is None:
            raise DefinitionNotFound(f"{definition} has no alias '{alias}'.", code="no_alias", path="alias")
        return found

    @classmethod
    def move(cls, definition, alias: str, ref: str, *, if_match: str | None = None) -> Alias:
        """Point ``alias`` at the version ``ref`` names (number, latest, current or @other). With ``if_match``
        (the version it points at now, or its ETag; ``*`` for any, or none for "must not exist"), a move that
        someone else made first is refused with 412."""
        check_alias_name(alias)
        with transaction.atomic():
            locked = type(definition).objects.select_for_update().get(pk=definition.pk)
            target = locked.resolve_version(ref)
            if target.status == "archived":
                raise Conflict(f"{target} is archived; an alias cannot point at it.", code="archived", path="/version")
            row = (
                cls.objects.select_for_update()
                .filter(kind=locked.kind, definition_name=locked.name, alias=alias)
                .first()
            )
            cls._check_precondition(row, if_match)
            before = row.version if row else None
            if row is None:
                row = cls(kind=locked.kind, definition_name=locked.name, alias=alias)
            row.version, row.version_id = target.version, target.pk
            row.save()
            changelog.record(
                "alias.moved",
                kind=locked.kind,
                name=locked.name,
                version=target.version,
                object_id=target.pk,
                changes={"alias": alias, "version": [before, target.version]},
            )
            locked.announce_change()
        return row

    @classmethod
    def remove(cls, definition, alias: str, *, if_match: str | None = None) -> None:
        with transaction.atomic():
            locked = type(definition).objects.select_for_update().get(pk=definition.pk)
            row = cls.get(locked, alias)
            cls._check_precondition(row, if_match)
            ensure_unused(row, "delete")  # a pipeline step naming name@alias would no longer resolve
            row.delete()
            changelog.record(
                "alias.deleted",
                kind=locked.kind,
                name=locked.name,
                version=row.version,
                object_id=row.version_id,
                changes={"alias": alias, "version": [row.version, None]},
            )
            locked.announce_change()

    @classmethod
    def rollback(cls, definition, alias: str) -> Alias:
        """Move ``alias`` back to where its last move took it from (a new move in the log)."""
        check_alias_name(alias)
        last = history(definition, alias).order_by("-id").first()
        previous = last.changes["version"][0] if last else None
        if previous is None:
            raise Conflict(f"{definition}@{alias} has no earlier target to roll back to.", code="no_previous_target")
        current = last.changes["version"][1]
        return cls.move(definition, alias, previous, if_match=f'"{current}"' if current else None)

    @staticmethod
    def _check_precondition(row: Alias | None, if_match: str | None) -> None:
        if if_match is None:
            return
        if if_match.strip() == "*":
            if row is None:
                raise PreconditionFailed("If-Match: * needs the alias to exist.", path="If-Match")
            return
        tags = [tag.strip() for tag in if_match.split(",")]
        # RFC 9110 13.1.1: If-Match compares strongly, so a weak tag (W/"...") never matches; a bare version
        # number is taken as the strong tag it names.
        wanted = {tag.strip('"') for tag in tags if not tag.startswith("W/")}
        if row is None or row.version not in wanted:
            if not wanted:
                raise PreconditionFailed(
                    f"If-Match {if_match[:140]} holds only weak tags, and If-Match compares strongly (RFC 9110): a "
                    f'weak tag never matches. Send the strong tag, e.g. If-Match: "{row.version if row else "1.0.0"}".',
                    path="If-Match",
                )
            now = row.version if row else "nothing"
            raise PreconditionFailed(
                f"The alias points at {now}, not {if_match[:140]}; someone moved it first.", path="If-Match"
            )

    # -- reads --------------------------------------------------------------------------------------------------

    @classmethod
    def names_by_version(cls, kind: str, version_ids) -> dict:
        """{version id: [alias, ...]} for the given versions, in one query."""
        found: dict = {}
        for version_id, alias in (
            cls.objects.filter(kind=kind, version_id__in=list(version_ids))
            .order_by("alias")
            .values_list("version_id", "alias")
        ):
            found.setdefault(version_id, []).append(alias)
        return found

    @classmethod
    def ensure_unaliased(cls, version) -> None:
        """Archiving is refused while an alias points at the version (the alias would serve a retired spec)."""
        aliases = sorted(
            cls.objects.filter(kind=version.definition.kind, version_id=version.pk).values_list("alias", flat=True)
        )
        if aliases:
            raise Conflict(
                f"Cannot archive {version}: alias{'es' if len(aliases) > 1 else ''} {', '.join('@' + a for a in aliases)} "
                "point at it; move or delete them first.",
                code="aliased",
                details={"aliases": aliases},
            )


def aliases_of_version(version) -> list[str]:
    """The guard form of alias protection (``register_alias_guards``): the aliases pointing at ``version``."""
    aliases = Alias.objects.filter(kind=version.definition.kind, version_id=version.pk).order_by("alias")
    return [f"alias @{alias}" for alias in aliases.values_list("alias", flat=True)]


def aliased_version_ids(versions) -> set:
    """The set form: primary keys among the version queryset ``versions`` that an alias points at (one query)."""
    kind = versions.model._meta.get_field(versions.model.parent_field).related_model.kind
    targets = Alias.objects.filter(kind=kind, version_id__in=versions.order_by().values("pk"))
    return set(targets.order_by().values_list("version_id", flat=True).distinct())


def register_alias_guards() -> None:
    """Register alias protection as a guard on every versioned kind (from ``RegistryProjectConfig.ready``), so
    set-based jobs such as retention keep aliased versions too; ``kernel.writes.lifecycle.archive`` still asks
    ``Alias.ensure_unaliased`` first for its own message and code."""
    from django.apps import apps

    from kernel.models.definitions import DefinitionVersion
    from kernel.rules.dependencies import register_guard

    for model in apps.get_models():
        if issubclass(model, DefinitionVersion):
            register_guard(model._meta.label, aliases_of_version, protected_ids=aliased_version_ids)


def history(definition, alias: str):
    """The alias's moves and deletions, oldest first."""
    return changelog.ChangeLogEntry.objects.of_definition(definition).filter(
        action__in=("alias.moved", "alias.deleted"), changes__alias=alias
    )


def alias_at(definition, alias: str, moment) -> str | None:
    """The version ``alias`` pointed at, at ``moment``, from the change log (None: it pointed nowhere)."""
    _, version = history(definition, alias).state_at("version", moment)
    return version


def current_at(definition, moment) -> str | None:
    """The definition's current version at ``moment``, from the lifecycle entries' ``current`` changes."""
    _, version = changelog.ChangeLogEntry.objects.of_definition(definition).state_at("current", moment)
    return version
