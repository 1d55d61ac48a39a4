"""The shared shape of a versioned definition (models, pipelines, policies).

A ``Definition`` row holds identity (unique name, owner, soft-delete marker) and the few document fields that
belong to the whole definition (``parent_fields``, e.g. a model's family). A ``DefinitionVersion`` row holds one
semantic version: its immutable ``spec`` and its mutable lifecycle state, tags, description and metadata.

Every write that protects an invariant (one row per version, one current version) locks the parent row first;
the unique constraints stay as a backstop under concurrency and surface as a 409.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from registry_project.dependencies import ensure_unused
from registry_project.exceptions import Conflict, DefinitionNotFound
from registry_project.logs import log_write
from registry_project.semver import InvalidVersion, ParsedVersion, SortKeyField, parse_version
from registry_project.validation import DocumentInvalid, DocumentValidator, Issue, pointer

# \Z, not $: Python's $ also matches before a final newline ("p\n" would pass).
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}\Z"
name_validator = RegexValidator(
    NAME_PATTERN, "A name is a lowercase slug: a-z, 0-9, '.', '_' or '-', starting with a letter or digit."
)

# Fields every document carries besides its spec.
IDENTITY_FIELDS = ("name", "version")
MUTABLE_VERSION_FIELDS = ("description", "tags", "metadata")
READ_ONLY_FIELDS = ("id", "status", "is_current", "created_at", "updated_at", "warnings")
MUTABLE_DEFAULTS: dict[str, Any] = {"description": "", "tags": [], "metadata": {}}


class Lifecycle(models.TextChoices):
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"
    ARCHIVED = "archived", "Archived"


def latest_order() -> list:
    """Order that puts a definition's *latest* version first.

    Latest is the highest release by semver precedence; a prerelease only when no release exists. Archived
    versions count only when every version is archived, so "latest" never serves a retired spec while a live
    one exists.
    """
    return [
        Case(When(status=Lifecycle.ARCHIVED, then=Value(1)), default=Value(0)),
        Case(When(prerelease="", then=Value(0)), default=Value(1)),
        "-major",
        "-minor",
        "-patch",
        "-prerelease_key",
    ]


NEWEST_FIRST = ("-major", "-minor", "-patch", "-prerelease_key")


@dataclass
class Registration:
    version: DefinitionVersion
    warnings: list[Issue] = field(default_factory=list)
    created_definition: bool = False


class DefinitionQuerySet(models.QuerySet):
    def alive(self) -> DefinitionQuerySet:
        return self.filter(deleted_at__isnull=True)


class Definition(models.Model):
    """Identity of a named, versioned definition. Subclasses set ``kind``, ``validator`` and ``parent_fields``."""

    kind: ClassVar[str] = "definition"
    validator: ClassVar[DocumentValidator]
    # Document fields stored on the definition (shared by all versions) rather than in a version's spec.
    parent_fields: ClassVar[tuple[str, ...]] = ()

    name = models.CharField(max_length=128, unique=True, validators=[name_validator])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft-delete marker; nothing is removed.")

    objects = DefinitionQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=Q(name__regex=r"^[a-z0-9][a-z0-9._-]*$"), name="%(app_label)s_%(class)s_name_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    # -- reads ------------------------------------------------------------------------------------------------

    @classmethod
    def get_alive(cls, name: str) -> Definition:
        try:
            return cls.objects.alive().get(name=name)
        except cls.DoesNotExist:
            raise DefinitionNotFound(f"No {cls.kind} named '{name}'.", path="name") from None

    @classmethod
    def lookup(cls, name: str, ref: str | None = None) -> DefinitionVersion:
        """A live definition's version by name and reference in one query (the services' hot path). On a miss,
        the slower path finds out which part was missing for the 404."""
        version_model = cls.versions.rel.related_model
        parent = version_model.parent_field
        versions = version_model.objects.filter(**{f"{parent}__name": name, f"{parent}__deleted_at__isnull": True})
        try:
            found = versions.select_related(parent).named(ref or "latest")
        except InvalidVersion:
            found = None
        return found if found is not None else cls.get_alive(name).resolve_version(ref)

    def resolve_version(self, ref: str | None) -> DefinitionVersion:
        """A version by number, or ``latest`` (highest release) or ``current`` (the activated one)."""
        ref = ref or "latest"
        try:
            found = self.versions.all().named(ref)
        except InvalidVersion as exc:
            raise DefinitionNotFound(str(exc), code="invalid_version", path="version") from None
        if found is None:
            if ref == "latest":
                raise DefinitionNotFound(f"{self} has no versions.")
            if ref == "current":
                raise DefinitionNotFound(f"{self} has no current version; activate one first.", code="no_current")
            raise DefinitionNotFound(f"{self} has no version {ref}.", path="version")
        # The caller renders the document; spare it a query for the parent we already hold.
        setattr(found, found.parent_field, self)
        return found

    @classmethod
    def changed(cls) -> None:
        """Runs once a write that changes this kind's documents, or which version is in force, has committed:
        registration, updates, lifecycle moves, deletion and restore. A kind that keeps derived state elsewhere
        (the policies' compiled rule index) invalidates it here; the default does nothing."""

    @classmethod
    def changing(cls) -> None:
        """Runs inside the transaction of every such write, so derived state kept in the database (the policies'
        generation row) commits or rolls back with the change itself. The default does nothing."""

    @classmethod
    def announce_change(cls) -> None:
        """Call ``changing`` now, in the writer's transaction, and schedule ``changed`` for after it commits."""
        cls.changing()
        transaction.on_commit(cls.changed)

    # -- registration -----------------------------------------------------------------------------------------

    @classmethod
    def register(cls, document: Any, *, user=None) -> Registration:
        """Register a version, creating the definition on its first version."""
        report = cls.validator.check(document)
        if report.errors:
            raise DocumentInvalid(report.errors)
        with transaction.atomic():
            definition, created = cls._lock_or_create(document["name"], user)
            registration = definition._add_version(document, report.warnings, user)
            cls.announce_change()
        registration.created_definition = created
        return registration

    def register_version(self, document: Any, *, user=None) -> Registration:
        """Register a new version of this (existing) definition."""
        if isinstance(document, dict):
            document = {"name": self.name, **document}
        report = self.validator.check(document)
        if isinstance(document, dict) and document["name"] != self.name:
            report.error("/name", "name_mismatch", f"The document names {document['name']!r} but the URL names '{self.name}'.")
        if report.errors:
            raise DocumentInvalid(report.errors)
        with transaction.atomic():
            locked = type(self).objects.select_for_update().get(pk=self.pk)
            if locked.deleted_at:
                raise DefinitionNotFound(f"No {self.kind} named '{self.name}'.")
            self.announce_change()
            return locked._add_version(document, report.warnings, user)

    @classmethod
    def _lock_or_create(cls, name: str, owner) -> tuple[Definition, bool]:
        try:
            definition = cls.objects.select_for_update().get(name=name)
            created = False
        except cls.DoesNotExist:
            try:
                # Savepoint: a concurrent first registration may create the same name before us.
                with transaction.atomic():
                    return cls.objects.create(name=name, owner=owner), True
            except IntegrityError:
                definition = cls.objects.select_for_update().get(name=name)
                created = False
        if definition.deleted_at is not None:
            raise Conflict(
                f"The {cls.kind} name '{name}' belongs to a deleted {cls.kind}; an administrator can restore it.",
                code="deleted",
                path="/name",
            )
        return definition, created

    def _add_version(self, document: dict, warnings: list[Issue], user) -> Registration:
        """Create the version row. The caller holds the lock on this definition's row."""
        parsed = parse_version(document["version"])
        version_model = self.versions.model
        if self.versions.filter(**parsed.identity()).exists():
            raise Conflict(
                f"{self} already has version {parsed.text}; a registered spec is immutable, so register a new "
                "version number instead.",
                code="version_exists",
                path="/version",
            )
        warnings = list(warnings)
        latest = self.versions.filter(prerelease="").order_by(*NEWEST_FIRST).first()
        if latest is not None and parsed.sort_tuple() < latest.parsed.sort_tuple():
            warnings.append(
                Issue("/version", "lower_than_latest", f"{parsed.text} is lower than the latest release {latest.version}; registered as a hotfix.")
            )
        warnings.extend(self._apply_parent_fields(document))
        spec, mutable = version_model.split_document(document)
        try:
            with transaction.atomic():
                version = version_model.objects.create(
                    **{version_model.parent_field: self},
                    **parsed.as_fields(),
                    spec=spec,
                    created_by=user if getattr(user, "is_authenticated", False) else None,
                    **mutable,
                )
        except IntegrityError:
            # Backstop for the unique constraint; the lock above makes this rare.
            raise Conflict(f"{self} already has version {parsed.text}.", code="version_exists", path="/version") from None
        self.save(update_fields=["updated_at", *self.parent_fields])
        log_write("registered", self, version.version)
        return Registration(version=version, warnings=warnings)

    def _apply_parent_fields(self, document: dict) -> list[Issue]:
        """Definition-wide fields follow the newest registration that gives them; a change is reported."""
        warnings = []
        for name in self.parent_fields:
            if name not in document:
                continue
            old, new = getattr(self, name), document[name]
            if old not in (None, "") and old != new:
                warnings.append(Issue(pointer(name), "definition_field_changed", f"{name} of {self} changed from {old!r} to {new!r}."))
            self.set_document_field(name, new)
        return warnings

    def set_document_field(self, name: str, value: Any) -> None:
        """Set a definition-wide document field; ``None`` clears it to the column's empty value."""
        if value is None and not self._meta.get_field(name).null:
            value = self._meta.get_field(name).get_default()
        setattr(self, name, value)

    # -- deletion ---------------------------------------------------------------------------------------------

    def soft_delete(self) -> None:
        with transaction.atomic():
            locked = type(self).objects.select_for_update().get(pk=self.pk)
            if locked.deleted_at is not None:
                return
            ensure_unused(locked, "delete")
            locked.deleted_at = timezone.now()
            locked.save(update_fields=["deleted_at", "updated_at"])
            self.announce_change()
            log_write("deleted", locked)
        self.deleted_at = locked.deleted_at

    def restore(self) -> None:
        with transaction.atomic():
            type(self).objects.filter(pk=self.pk).update(deleted_at=None, updated_at=timezone.now())
            self.announce_change()
            log_write("restored", self)
        self.deleted_at = None


class VersionQuerySet(models.QuerySet):
    # Text columns that free-text search looks in besides the definition's name; a kind's QuerySet may widen it.
    search_fields: ClassVar[tuple[str, ...]] = ("description",)

    def search(self, text: str) -> VersionQuerySet:
        """Free text over the definition's name and ``search_fields``: PostgreSQL full-text search plus substring
        matches (so 'llama2' finds 'llama2-7b-chat'); substring matches only on SQLite."""
        text = text.strip()
        if not text:
            return self
        fields = (f"{self.model.parent_field}__name", *self.search_fields)
        match = Q()
        for name in fields:
            match |= Q(**{f"{name}__icontains": text})
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            vector = SearchVector(*fields, config="simple")
            return self.annotate(_search=vector).filter(match | Q(_search=SearchQuery(text, config="simple", search_type="websearch")))
        return self.filter(match)

    def named(self, ref: str) -> DefinitionVersion | None:
        """The version ``ref`` names among these: a semver number, ``latest`` (see ``latest_order``) or
        ``current``; None when there is none. An invalid number raises InvalidVersion."""
        if ref == "latest":
            return self.order_by(*latest_order()).first()
        if ref == "current":
            return self.filter(is_current=True).first()
        return self.filter(**parse_version(ref).identity()).first()

    def newest_first(self) -> VersionQuerySet:
        return self.order_by(*NEWEST_FIRST)

    def releases(self) -> VersionQuerySet:
        return self.filter(prerelease="")

    def current(self) -> VersionQuerySet:
        return self.filter(is_current=True)

    def with_parent(self) -> VersionQuerySet:
        return self.select_related(self.model.parent_field)

    def of_alive(self) -> VersionQuerySet:
        return self.filter(**{f"{self.model.parent_field}__deleted_at__isnull": True})

    def containing(self, field_path: str, item: str) -> VersionQuerySet:
        """Rows whose JSON list at ``field_path`` (e.g. ``tags``, ``spec__capabilities``) holds ``item``.

        PostgreSQL answers with JSONB containment (GIN-indexable); SQLite has no containment operator, so the
        embedded default matches the item's JSON text instead.
        """
        if connection.vendor == "postgresql":
            return self.filter(**{f"{field_path}__contains": [item]})
        return self.filter(**{f"{field_path}__icontains": json.dumps(item)})

    def tagged(self, tag: str) -> VersionQuerySet:
        return self.containing("tags", tag)

    def first_per_definition(self, *ordering, **among) -> VersionQuerySet:
        """For each live definition, its first version by ``ordering`` among the versions matching ``among``:
        one correlated subquery per definition, resolved by the database."""
        parent_field = self.model.parent_field
        parent_model = self.model._meta.get_field(parent_field).related_model
        first = self.model.objects.filter(**{parent_field: OuterRef("pk")}, **among).order_by(*ordering).values("pk")[:1]
        return self.filter(pk__in=parent_model.objects.alive().annotate(first_id=Subquery(first)).values("first_id"))

    def latest_per_definition(self) -> VersionQuerySet:
        """Each live definition's latest version (see ``latest_order``)."""
        return self.first_per_definition(*latest_order())


class DefinitionVersion(models.Model):
    """One semantic version of a definition. Subclasses add ``<parent_field> = ForeignKey(..., related_name="versions")``."""

    parent_field: ClassVar[str]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.CharField(max_length=128, help_text="Canonical semver text, e.g. 1.2.0-rc.1+build.5")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    prerelease = models.CharField(max_length=128, blank=True, default="")
    prerelease_key = SortKeyField(max_length=255, editable=False, help_text="Byte-ordered semver precedence key.")
    build = models.CharField(max_length=128, blank=True, default="")
    spec = models.JSONField(help_text="The immutable part of the document.")
    description = models.TextField(blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.ACTIVE, db_index=True)
    is_current = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.definition.name}@{self.version}"

    @property
    def definition(self) -> Definition:
        return getattr(self, self.parent_field)

    @property
    def parsed(self) -> ParsedVersion:
        return ParsedVersion(self.major, self.minor, self.patch, self.prerelease, self.build)

    @classmethod
    def constraints_for(cls, parent_field: str) -> list[models.BaseConstraint]:
        """The database invariants every versioned kind shares; each subclass lists them in its Meta."""
        return [
            models.UniqueConstraint(
                fields=[parent_field, "major", "minor", "patch", "prerelease"],
                name="%(app_label)s_%(class)s_unique_version",
            ),
            models.UniqueConstraint(
                fields=[parent_field],
                condition=Q(is_current=True),
                name="%(app_label)s_%(class)s_one_current",
            ),
            models.CheckConstraint(
                condition=Q(is_current=False) | Q(status=Lifecycle.ACTIVE),
                name="%(app_label)s_%(class)s_current_is_active",
            ),
            models.CheckConstraint(
                condition=Q(status__in=Lifecycle.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
        ]

    # -- documents --------------------------------------------------------------------------------------------

    @classmethod
    def split_document(cls, document: dict) -> tuple[dict, dict]:
        """(spec, mutable fields) of a registrable document."""
        parent_model = cls._meta.get_field(cls.parent_field).related_model
        skip = set(IDENTITY_FIELDS) | set(parent_model.parent_fields) | set(MUTABLE_VERSION_FIELDS)
        spec = {k: v for k, v in document.items() if k not in skip}
        # A copy: every version gets its own list/dict, never the shared default.
        mutable = {k: copy.deepcopy(document.get(k, MUTABLE_DEFAULTS[k])) for k in MUTABLE_VERSION_FIELDS}
        return spec, mutable

    def document(self) -> dict:
        """The registrable document: identity, definition-wide fields, spec and mutable fields."""
        definition = self.definition
        doc: dict[str, Any] = {"name": definition.name, "version": self.version}
        for name in definition.parent_fields:
            value = getattr(definition, name)
            if value not in (None, ""):
                doc[name] = value
        doc.update(self.spec)
        doc["description"] = self.description
        doc["tags"] = self.tags
        doc["metadata"] = self.metadata
        return doc

    def update_document(self, changes: Any, *, partial: bool) -> DefinitionVersion:
        """Apply a PUT (``partial=False``) or PATCH of the mutable fields; the spec stays as registered."""
        definition_model = type(self.definition)
        with transaction.atomic():
            definition = definition_model.objects.select_for_update().get(pk=self.definition.pk)
            version = type(self).objects.get(pk=self.pk)
            setattr(version, self.parent_field, definition)
            proposed = version.proposed_document(changes, partial=partial)
            for name in MUTABLE_VERSION_FIELDS:
                setattr(version, name, proposed[name])
            version.save(update_fields=[*MUTABLE_VERSION_FIELDS, "updated_at"])
            for name in definition.parent_fields:
                definition.set_document_field(name, proposed.get(name))
            definition.save(update_fields=[*definition.parent_fields, "updated_at"])
            definition.announce_change()
            log_write("version_updated", definition, version.version)
        return version

    def proposed_document(self, changes: Any, *, partial: bool) -> dict:
        """The document this version would have after ``changes``; raises if a change touches the spec
        (Conflict) or makes the document invalid (DocumentInvalid). Saves nothing."""
        if not isinstance(changes, dict):
            raise DocumentInvalid([Issue("", "invalid_type", "Expected a JSON object.")])
        definition = self.definition
        current = self.document()
        self._check_immutable(current, changes)
        proposed = dict(current)
        for name in (*MUTABLE_VERSION_FIELDS, *definition.parent_fields):
            if name in changes:
                proposed[name] = changes[name]
            elif not partial:
                proposed[name] = copy.deepcopy(MUTABLE_DEFAULTS.get(name))
        for name in definition.parent_fields:
            if proposed.get(name) in (None, ""):
                proposed.pop(name, None)  # unset: leave it out rather than validate an empty value
        report = definition.validator.check(proposed)
        if report.errors:
            raise DocumentInvalid(report.errors)
        return proposed

    def _check_immutable(self, current: dict, changes: dict) -> None:
        errors = []
        mutable = set(MUTABLE_VERSION_FIELDS) | set(self.definition.parent_fields)
        changed_spec = []
        for key, value in changes.items():
            if key in mutable:
                continue
            if key == "name" and value != current["name"]:
                errors.append(Issue("/name", "read_only", "A definition cannot be renamed."))
            elif key == "version" and value != current["version"]:
                changed_spec.append("version")
            elif key in READ_ONLY_FIELDS:
                if key in ("status", "is_current") and value != getattr(self, key):
                    errors.append(Issue(pointer(key), "read_only", f"{key} changes through the lifecycle actions (activate, deprecate, archive)."))
            elif key in self.definition.validator.top_level_fields and key not in IDENTITY_FIELDS:
                if current.get(key) != value:
                    changed_spec.append(key)
            elif key not in IDENTITY_FIELDS:
                errors.append(Issue(pointer(key), "unknown_field", f"Unknown field: {key}."))
        if errors:
            raise DocumentInvalid(errors)
        if changed_spec:
            raise Conflict(
                f"The spec of {self} is immutable (changed: {', '.join(changed_spec)}); register a new version "
                "with the change instead.",
                code="spec_immutable",
                details={"fields": changed_spec},
            )

    # -- lifecycle --------------------------------------------------------------------------------------------

    def _locked(self) -> DefinitionVersion:
        """Lock the definition row (serialising all lifecycle moves of its versions) and re-read this version."""
        definition_model = type(self.definition)
        definition = definition_model.objects.select_for_update().get(pk=self.definition.pk)
        version = type(self).objects.get(pk=self.pk)
        setattr(version, self.parent_field, definition)
        return version

    def activate(self) -> DefinitionVersion:
        """Make this the definition's current version (clearing the previous one)."""
        with transaction.atomic():
            version = self._locked()
            if version.status == Lifecycle.ARCHIVED:
                raise Conflict(f"{version} is archived; archived versions cannot be activated.", code="archived")
            type(self).objects.filter(**{self.parent_field: version.definition}, is_current=True).exclude(pk=version.pk).update(
                is_current=False, updated_at=timezone.now()
            )
            version.status = Lifecycle.ACTIVE
            version.is_current = True
            version.save(update_fields=["status", "is_current", "updated_at"])
            version.definition.announce_change()
            log_write("version_activated", version.definition, version.version)
        return version

    def deprecate(self) -> DefinitionVersion:
        with transaction.atomic():
            version = self._locked()
            if version.status == Lifecycle.ARCHIVED:
                raise Conflict(f"{version} is archived; it cannot move back to deprecated.", code="archived")
            version.status = Lifecycle.DEPRECATED
            version.is_current = False
            version.save(update_fields=["status", "is_current", "updated_at"])
            version.definition.announce_change()
            log_write("version_deprecated", version.definition, version.version)
        return version

    def archive(self) -> DefinitionVersion:
        with transaction.atomic():
            version = self._locked()
            if version.status != Lifecycle.ARCHIVED:
                ensure_unused(version, "archive")
                version.status = Lifecycle.ARCHIVED
                version.is_current = False
                version.save(update_fields=["status", "is_current", "updated_at"])
                version.definition.announce_change()
                log_write("version_archived", version.definition, version.version)
        return version

    LIFECYCLE_MOVES: ClassVar[tuple[str, ...]] = ("activate", "deprecate", "archive")

    def move(self, action: str) -> DefinitionVersion:
        if action not in self.LIFECYCLE_MOVES:
            raise ValueError(action)
        return getattr(self, action)()
