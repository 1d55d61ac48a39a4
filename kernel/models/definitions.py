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
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import RegexValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Aggregate, Case, CharField, F, OuterRef, Q, Subquery, Value, When
from django.db.models.constants import OnConflict
from django.utils import timezone
from jsonschema import Draft202012Validator

from kernel.models import changelog

from kernel import credentials
from kernel.models.aliases import Alias
from kernel.rules.dependencies import ensure_unused
from kernel.exceptions import Conflict, DefinitionNotFound
from registry_project.logs import log_write
from kernel.fastpaths.one_statement import activate_in_one_statement, in_one_statement, register_in_one_statement
from kernel.fastpaths.prepared import Placeholder, PreparedQuery
from kernel.rules.semver import InvalidVersion, ParsedVersion, SortKeyField, parse_version
from kernel.rules.validation import DocumentInvalid, DocumentValidator, Issue, Report, pointer, same_json
from kernel.rules.validation import _issue_from_schema_error as issue_from_schema_error

# \Z, not $: Python's $ also matches before a final newline ("p\n" would pass).
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}\Z"
name_validator = RegexValidator(
    NAME_PATTERN, "A name is a lowercase slug: a-z, 0-9, '.', '_' or '-', starting with a letter or digit."
)

# Fields every document carries besides its spec.
IDENTITY_FIELDS = ("name", "version")
MUTABLE_VERSION_FIELDS = ("description", "tags", "metadata")
# Server-managed fields a document as GET returned it carries; a write ignores them (with a warning) rather than
# rejecting the document, so a client can send a document back after changing what it means to change.
READ_ONLY_FIELDS = ("id", "status", "is_current", "active", "aliases", "created_at", "updated_at", "warnings", "stored_artifacts",
                    "storage_tier", "archived_at", "purged_at")
MUTABLE_DEFAULTS: dict[str, Any] = {"description": "", "tags": [], "metadata": {}}
# The definition's own tags and description (as MLflow keeps registered-model tags apart from version tags),
# nested under one key so the document shape is the same for every kind: {"definition": {"tags", "description"}}.
DEFINITION_KEY = "definition"
DEFINITION_FIELDS = ("tags", "description")
DEFINITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The definition's own tags and description, shared by every version (a version keeps its own).",
    "properties": {
        "tags": {
            "type": "array", "maxItems": 64, "uniqueItems": True,
            "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._:-]{0,63}\\Z",
                      "x-message": "Each item is a lowercase slug of at most 64 characters."},
        },
        "description": {"type": "string", "maxLength": 10000},
    },
}


def ignore_read_only(document: Any) -> tuple[Any, list[Issue]]:
    """The document without server-managed fields, and a warning for each one dropped."""
    if not isinstance(document, dict):
        return document, []
    dropped = [key for key in READ_ONLY_FIELDS if key in document]
    warnings = [Issue(pointer(key), "read_only_ignored", f"{key} is managed by the registry; the value sent was ignored.") for key in dropped]
    return {k: v for k, v in document.items() if k not in dropped}, warnings


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
# Columns a version row stores only for free-text search; reads that serve documents leave them unread.
SEARCH_COLUMNS = ("search_text", "search_vector")


def version_pointer(version_model: str, role: str) -> models.ForeignKey:
    """A definition's denormalised pointer to its ``latest`` or ``current`` version.

    Lookups and lists read the pointer (one row) instead of ranking every version of every definition, so their
    cost follows the page, not the registry. Every write that can move a pointer runs under the definition's
    row lock and sets it there (``Definition._add_version``, ``DefinitionVersion.activate/deprecate/archive``);
    ``Definition.repoint`` recomputes both from the versions for any other write path. A kind declares the two
    fields itself (the target is its own version model): ``latest_version = version_pointer("ModelVersion",
    "latest")``.
    """
    return models.ForeignKey(
        version_model, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name=f"{role}_of",
        help_text=f"Denormalised: the {role} version, kept under this row's lock.",
    )


@dataclass
class Registration:
    version: DefinitionVersion
    warnings: list[Issue] = field(default_factory=list)
    created_definition: bool = False
    # The version was already registered with the same content (a retry): answered 200, nothing written.
    existing: bool = False


def backfill_pointers(definition_model, version_model, parent_field: str) -> None:
    """Set every definition's pointers from its versions in one statement (for migrations: works on historical
    models, which have none of the methods below)."""
    versions = version_model.objects.filter(**{parent_field: OuterRef("pk")})
    definition_model.objects.update(
        latest_version=Subquery(versions.order_by(*latest_order()).values("pk")[:1]),
        current_version=Subquery(versions.filter(is_current=True).values("pk")[:1]),
    )


def backfill_latest_flags(definition_model, version_model, definition_ids: list | None = None) -> None:
    """Set ``is_latest`` on exactly the versions the definitions' ``latest_version`` pointers name, set-based (for
    migrations, which see historical models, and for bulk loads such as a backup import). ``definition_ids``
    limits it to those definitions."""
    versions = version_model.objects.all()
    pointers = definition_model.objects.exclude(latest_version=None)
    if definition_ids is not None:
        parent_field = definition_model._meta.get_field("versions").field.name
        versions = versions.filter(**{f"{parent_field}__in": definition_ids})
        pointers = pointers.filter(pk__in=definition_ids)
    # Cleared first: the one-latest constraint is checked row by row.
    versions.filter(is_latest=True).exclude(pk__in=pointers.values("latest_version")).update(is_latest=False)
    versions.filter(pk__in=pointers.values("latest_version"), is_latest=False).update(is_latest=True)


# (definition class, lookup) -> its PreparedQuery; see Definition._prepared.
_PREPARED_LOOKUPS: dict[tuple[type, str], PreparedQuery] = {}


class DefinitionQuerySet(models.QuerySet):
    def alive(self) -> DefinitionQuerySet:
        return self.filter(deleted_at__isnull=True)


class Definition(models.Model):
    """Identity of a named, versioned definition. Subclasses set ``kind``, ``validator`` and ``parent_fields``."""

    kind: ClassVar[str] = "definition"
    validator: ClassVar[DocumentValidator]
    # Document fields stored on the definition (shared by all versions) rather than in a version's spec.
    parent_fields: ClassVar[tuple[str, ...]] = ()
    # The PostgreSQL functions that write in one statement for this kind (kernel.fastpaths.one_statement; a
    # migration creates them): {"register": name, "activate": name}. A write without one takes the ORM path.
    write_functions: ClassVar[dict[str, str] | None] = None

    name = models.CharField(max_length=128, unique=True, validators=[name_validator])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft-delete marker; nothing is removed.")
    tags = models.JSONField(default=list, blank=True, help_text="The definition's own tags; each version has its own too.")
    description = models.TextField(blank=True, default="", help_text="What this definition is, whatever the version.")

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
        ref = ref or "latest"
        if ref in ("latest", "current"):
            found = cls.pointed_at(name, ref)
        elif ref.startswith("@"):
            version_model = cls.versions.rel.related_model
            parent = version_model.parent_field
            versions = version_model.objects.filter(**{f"{parent}__name": name, f"{parent}__deleted_at__isnull": True})
            found = versions.select_related(parent).with_aliases().named(ref)
        else:
            try:
                parsed = parse_version(ref)
            except InvalidVersion:
                found = None
            else:
                found = cls._prepared("number").first(name=name, **parsed.identity())
        return found if found is not None else cls.get_alive(name).resolve_version(ref)

    @classmethod
    def pointed_at(cls, name: str, role: str) -> DefinitionVersion | None:
        """The ``latest`` or ``current`` version of a live definition through its pointer, with its definition and
        its aliases (``with_aliases``), in one query: the version joined with the definition pointing at it."""
        return cls._prepared(role).first(name=name)

    @classmethod
    def version_by_id(cls, pk: uuid.UUID) -> DefinitionVersion | None:
        """A present version of a live definition by its id, with its definition and aliases, in one query."""
        return cls._prepared("id").first(pk=pk)

    @classmethod
    def _prepared(cls, lookup: str) -> PreparedQuery:
        """The document reads' queries (by pointer, number or id), compiled once per process (registry_project
        /prepared.py): the version with its definition and aliases, without the stored search columns."""
        query = _PREPARED_LOOKUPS.get((cls, lookup))
        if query is not None:
            return query
        version_model = cls.versions.rel.related_model
        parent = version_model.parent_field
        # The credential token rides along: a read confirms its cached API key with it (api.auth.ConfirmsCredentialsLate).
        documents = (
            version_model.objects.select_related(parent).defer(*SEARCH_COLUMNS).with_aliases()
            .annotate(credential_token=credentials.token_column())
        )
        alive = {f"{parent}__deleted_at__isnull": True}
        if lookup in ("latest", "current"):
            query = PreparedQuery(
                lambda name: documents.filter(**{f"{parent}__name": name, f"{parent}__{lookup}_version": F("pk")}, **alive),
                name=Placeholder.TEXT,
            )
        elif lookup == "number":
            query = PreparedQuery(
                lambda name, **identity: documents.filter(**{f"{parent}__name": name}, **alive).present().filter(**identity),
                name=Placeholder.TEXT, major=Placeholder.INTEGER, minor=Placeholder.INTEGER, patch=Placeholder.INTEGER,
                prerelease=Placeholder.TEXT,
            )
        elif lookup == "id":
            query = PreparedQuery(lambda pk: documents.filter(pk=pk, **alive).present(), pk=Placeholder.UUID)
        else:
            raise ValueError(lookup)
        _PREPARED_LOOKUPS[(cls, lookup)] = query
        return query

    def repoint(self) -> None:
        """Recompute both pointers from the versions and store them (the caller holds this row's lock). Any write
        path that changes which version is latest or current without going through the methods that keep the
        pointers (``_add_version``, the lifecycle moves) calls this before it commits."""
        present = self.versions.present()
        self.latest_version_id = present.order_by(*latest_order()).values_list("pk", flat=True).first()
        self.current_version_id = present.filter(is_current=True).values_list("pk", flat=True).first()
        type(self).objects.filter(pk=self.pk).update(latest_version=self.latest_version_id, current_version=self.current_version_id)
        self.flag_latest(self.latest_version_id)

    def flag_latest(self, latest_id) -> None:
        """Put the version rows' ``is_latest`` flag on ``latest_id`` alone (or on none), to match the
        ``latest_version`` pointer, which the caller stores in the same transaction under this row's lock.

        The flag lets a list find each definition's latest version in the version table itself, through partial
        indexes (``WHERE is_latest``) on tags, capabilities and search, so a filtered page is an index scan of the
        matches rather than a join against every definition. The old flag is cleared first: the one-latest
        constraint is checked row by row."""
        flagged = self.versions.filter(is_latest=True)
        if latest_id is not None:
            flagged = flagged.exclude(pk=latest_id)
        flagged.update(is_latest=False)
        if latest_id is not None:
            self.versions.filter(pk=latest_id, is_latest=False).update(is_latest=True)

    def resolve_version(self, ref: str | None) -> DefinitionVersion:
        """A version by number, ``latest`` (highest release), ``current`` (the activated one) or ``@alias``."""
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
            if ref.startswith("@"):
                raise DefinitionNotFound(f"{self} has no alias '{ref[1:]}'.", code="no_alias", path="version")
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
    def check_document(cls, document: Any) -> tuple[Any, Report]:
        """(the registrable document, its validation report). Server-managed fields are dropped with a warning,
        the nested ``definition`` block is checked here (it is the same for every kind), the rest by the kind's
        validator. Registration and the ``validate`` endpoint both call this, so they always agree."""
        document, ignored = ignore_read_only(document)
        has_block = isinstance(document, dict) and DEFINITION_KEY in document
        block = document.pop(DEFINITION_KEY) if has_block else None
        report = cls.validator.check(document)
        report.warnings[:0] = ignored
        if has_block:
            report.errors.extend(check_definition_block(block))
            document[DEFINITION_KEY] = block
        return document, report

    @classmethod
    def register(cls, document: Any, *, user=None) -> Registration:
        """Register a version, creating the definition on its first version."""
        document, report = cls.check_document(document)
        if report.errors:
            raise DocumentInvalid(report.errors)
        if in_one_statement(cls, document):
            done = register_in_one_statement(cls, document, report.warnings, user, create=True)
            if done is not None:
                return done
        with transaction.atomic():
            definition, created = cls._lock_or_create(document["name"], user)
            registration = definition._add_version(document, report.warnings, user, created=created)
            if not registration.existing:
                cls.announce_change()
        registration.created_definition = created
        return registration

    def register_version(self, document: Any, *, user=None) -> Registration:
        """Register a new version of this (existing) definition."""
        return type(self).register_version_of(self.name, document, user=user)

    @classmethod
    def register_version_of(cls, name: str, document: Any, *, user=None) -> Registration:
        """Register a new version of the live definition ``name`` (POST .../{name}/versions): the document is
        validated before any lock is taken, and the definition is then found and locked in one query."""
        if isinstance(document, dict):
            document = {"name": name, **document}
        document, report = cls.check_document(document)
        if isinstance(document, dict) and document["name"] != name:
            report.error("/name", "name_mismatch", f"The document names {document['name']!r} but the URL names '{name}'.")
        if report.errors:
            cls.get_alive(name)  # a missing definition is the 404 it always was, whatever the document
            raise DocumentInvalid(report.errors)
        if in_one_statement(cls, document):
            done = register_in_one_statement(cls, document, report.warnings, user, create=False)
            if done is not None:
                return done
        with transaction.atomic():
            locked = cls.objects.select_for_update().filter(name=name, deleted_at__isnull=True).first()
            if locked is None:
                raise DefinitionNotFound(f"No {cls.kind} named '{name}'.", path="name")
            registration = locked._add_version(document, report.warnings, user)
            if not registration.existing:
                cls.announce_change()
            return registration

    @classmethod
    def _lock_or_create(cls, name: str, owner) -> tuple[Definition, bool]:
        definition = cls.objects.select_for_update().filter(name=name).first()
        created = False
        if definition is None:
            # One statement and no savepoint: a concurrent first registration of the same name makes this insert
            # wait for it and then do nothing, and the lock below finds the row it committed.
            definition = cls(name=name, owner=owner)
            created = definition._insert_unless_named()
            if not created:
                definition = cls.objects.select_for_update().get(name=name)
        if definition.deleted_at is not None:
            raise Conflict(
                f"The {cls.kind} name '{name}' belongs to a deleted {cls.kind}; an administrator can restore it.",
                code="deleted",
                path="/name",
            )
        return definition, created

    def _insert_unless_named(self) -> bool:
        """INSERT this new row unless its name is taken (``ON CONFLICT DO NOTHING ... RETURNING``); True if it was
        inserted (the row is then ours, locked until the transaction ends)."""
        meta = self._meta
        fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        rows = type(self)._base_manager._insert(
            [self], fields=fields, returning_fields=meta.db_returning_fields, using="default", on_conflict=OnConflict.IGNORE
        )
        if not rows or rows[0] is None:
            return False
        for value, returned in zip(rows[0], meta.db_returning_fields):
            setattr(self, returned.attname, value)
        self._state.adding, self._state.db = False, "default"
        return True

    def _add_version(self, document: dict, warnings: list[Issue], user, *, created: bool = False) -> Registration:
        """Create the version row and its change-log entry. The caller holds the lock on this definition's row."""
        parsed = parse_version(document["version"])
        version_model = self.versions.model
        # The version being registered (if it exists: a retry or a conflict) and the one "latest" points at, in one
        # query. Read in its own statement after the lock is held: a join in the locking SELECT would see the
        # pointed-at row as of the statement's snapshot, which misses a version a concurrent registration
        # committed while we waited.
        # A definition this transaction has just inserted has no versions (no other transaction can reference a row
        # it cannot see yet): its first registration skips the read.
        known = [] if created else list(self.versions.filter(Q(**parsed.identity()) | Q(pk=self.latest_version_id)).order_by())
        existing = next((v for v in known if (v.major, v.minor, v.patch, v.prerelease) == tuple(parsed.identity().values())), None)
        if existing is not None and existing.deleted_at is not None:
            raise Conflict(
                f"{self} had version {parsed.text}; it was deleted, and a version number is never reused.",
                code="version_exists",
                path="/version",
            )
        if existing is not None and existing.is_same_registration(document):
            spec, _ = version_model.split_document(document)
            ignored = sorted(k for k in spec.keys() | existing.spec.keys() if not same_json(spec.get(k), existing.spec.get(k)))
            note = f"{existing} was registered before with the same content; this is that version" + (
                f" (these fields differ and were not applied: {', '.join(ignored)})." if ignored else "."
            )
            return Registration(version=existing, warnings=[Issue("/version", "already_registered", note)], existing=True)
        if existing is not None:
            raise Conflict(
                f"{self} already has version {parsed.text}; a registered spec is immutable, so register a new "
                "version number instead.",
                code="version_exists",
                path="/version",
            )
        warnings = list(warnings)
        # The latest pointer is the highest live release when one exists (see latest_order).
        latest = next((v for v in known if v.pk == self.latest_version_id), None)
        if latest is not None and not latest.prerelease and parsed.sort_tuple() < latest.parsed.sort_tuple():
            warnings.append(
                Issue("/version", "lower_than_latest", f"{parsed.text} is lower than the latest release {latest.version}; registered as a hotfix.")
            )
        before = {name: getattr(self, name) for name in self.parent_fields}
        warnings.extend(self._apply_parent_fields(document))
        block = document.get(DEFINITION_KEY) or {}
        tags_before = self.tags
        for name in DEFINITION_FIELDS:
            if name in block:
                setattr(self, name, block[name])
        if self.tags != tags_before and self.latest_version_id is not None:
            self.refresh_effective_tags()  # the versions registered before; the new one computes its own
        spec, mutable = version_model.split_document(document)
        version = version_model(
            **{version_model.parent_field: self},
            **parsed.as_fields(),
            spec=spec,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            **mutable,
        )
        version.is_latest = latest is None or version.latest_rank() > latest.latest_rank()
        if version.is_latest and latest is not None:
            self.flag_latest(None)  # before the insert: the one-latest constraint is checked row by row
        try:
            # No savepoint and no "exists?" query first: under this row's lock the unique constraint is the
            # check, and a violation rolls back the caller's whole transaction, which is what a rejected
            # registration must do anyway.
            with transaction.atomic(savepoint=False):
                version.save(force_insert=True)
        except IntegrityError:
            raise Conflict(
                f"{self} already has version {parsed.text}; a registered spec is immutable, so register a new "
                "version number instead.",
                code="version_exists",
                path="/version",
            ) from None
        version._aliases = []  # no alias can name a version before it exists: its document needs no alias query
        version.on_registered(document)
        if version.is_latest:
            self.latest_version = version
        self.save(update_fields=["updated_at", "latest_version", *self.parent_fields, *DEFINITION_FIELDS])
        changes = {"spec_sha256": changelog.spec_checksum(spec), **changelog.diff(before, {n: getattr(self, n) for n in self.parent_fields})}
        if created:
            changes["created"] = True
        version.record(f"{self.kind}.version_registered", changes)
        log_write("registered", self, version.version)
        return Registration(version=version, warnings=warnings)

    def _apply_parent_fields(self, document: dict) -> list[Issue]:
        """Definition-wide fields follow the newest registration that gives them; a change is reported."""
        warnings = []
        before = [getattr(self, name) for name in self.parent_fields]
        for name in self.parent_fields:
            if name not in document:
                continue
            old, new = getattr(self, name), document[name]
            if old not in (None, "") and old != new:
                warnings.append(Issue(pointer(name), "definition_field_changed", f"{name} of {self} changed from {old!r} to {new!r}."))
            self.set_document_field(name, new)
        if self.latest_version_id is not None and before != [getattr(self, name) for name in self.parent_fields]:
            self.refresh_search_fields()  # a definition without versions yet has nothing to refresh
        return warnings

    def refresh_search_fields(self) -> None:
        """Re-derive every version's stored search text after a definition-wide field changed (rare: a family
        change); the caller holds this row's lock."""
        versions = list(self.versions.only("pk", "description"))
        for version in versions:
            setattr(version, version.parent_field, self)
            version.search_text = version.search_document()
        self.versions.model.objects.bulk_update(versions, ["search_text"], batch_size=500)
        if connection.vendor == "postgresql":
            self.versions.update(search_vector=SearchVector("search_text", config="simple"))

    def refresh_effective_tags(self) -> None:
        """Re-derive every version's ``effective_tags`` after this definition's tags changed (the caller holds
        this row's lock)."""
        versions = list(self.versions.only("pk", "tags"))
        for version in versions:
            version.effective_tags = effective_tags_of(version.tags, self.tags)
        self.versions.model.objects.bulk_update(versions, ["effective_tags"], batch_size=500)

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
            locked.record(f"{self.kind}.deleted", {"deleted": [False, True]})
            self.announce_change()
            log_write("deleted", locked)
        self.deleted_at = locked.deleted_at

    def restore(self) -> None:
        with transaction.atomic():
            locked = type(self).objects.select_for_update().get(pk=self.pk)
            if locked.deleted_at is not None:
                locked.deleted_at = None
                locked.save(update_fields=["deleted_at", "updated_at"])
                locked.record(f"{self.kind}.restored", {"deleted": [True, False]})
                self.announce_change()
                log_write("restored", self)
        self.deleted_at = None

    def record(self, action: str, changes: dict) -> None:
        """Append a change-log entry about this definition, in the caller's transaction."""
        changelog.record(action, kind=self.kind, name=self.name, object_id=self.pk, changes=changes)

    @classmethod
    def restore_named(cls, name: str) -> Definition:
        """Restore the soft-deleted definition ``name`` (a live one is left as it is)."""
        definition = cls.objects.filter(name=name).first()
        if definition is None:
            raise DefinitionNotFound(f"No {cls.kind} named '{name}', deleted or not.", path="name")
        if definition.deleted_at is not None:
            definition.restore()  # records its change-log entry
        return definition


class AliasNames(Aggregate):
    """The aliases of a version as one comma-separated text (alias names are slugs, without commas): STRING_AGG on
    PostgreSQL, GROUP_CONCAT on SQLite."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra)


def check_definition_block(block: Any) -> list[Issue]:
    """Every problem in a document's ``definition`` block, with paths under ``/definition``."""
    return [
        Issue(pointer(DEFINITION_KEY) + issue.path, issue.code, issue.message)
        for issue in map(issue_from_schema_error, _DEFINITION_VALIDATOR.iter_errors(block))
    ]


_DEFINITION_VALIDATOR = Draft202012Validator(DEFINITION_SCHEMA)


def effective_tags_of(version_tags: Any, definition_tags: Any) -> list:
    """A version's ``effective_tags``: its own tags, then its definition's that it does not carry itself."""
    own = list(version_tags) if isinstance(version_tags, list) else []
    return own + [t for t in (definition_tags if isinstance(definition_tags, list) else []) if t not in own]


def containment(field_path: str, item: str) -> dict[str, Any]:
    """The filter for rows whose JSON list at ``field_path`` holds ``item`` (see ``VersionQuerySet.containing``)."""
    if connection.vendor == "postgresql":
        return {f"{field_path}__contains": [item]}
    return {f"{field_path}__icontains": json.dumps(item)}


class VersionQuerySet(models.QuerySet):
    # Text columns that free-text search looks in besides the definition's name; a kind's QuerySet may widen it.
    search_fields: ClassVar[tuple[str, ...]] = ("description",)

    def search(self, text: str) -> VersionQuerySet:
        """Free text over the definition's name and ``search_fields``: PostgreSQL full-text search plus substring
        matches (so 'llama2' finds 'llama2-7b-chat'); substring matches only on SQLite.

        Both look at columns stored on the version row (``search_text``, ``search_vector``; see
        ``DefinitionVersion.search_document``), so one table's GIN indexes answer: the trigram index for the
        substring, the tsvector index for the words."""
        text = text.strip()
        if not text:
            return self
        match = Q(search_text__contains=text.lower())
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery

            match |= Q(search_vector=SearchQuery(text, config="simple", search_type="websearch"))
        return self.filter(match)

    def named(self, ref: str) -> DefinitionVersion | None:
        """The version ``ref`` names among these: a semver number, ``latest`` (see ``latest_order``) or
        ``current`` or ``@alias``; None when there is none. An invalid number raises InvalidVersion."""
        present = self.present()
        if ref.startswith("@"):
            kind = self.model._meta.get_field(self.model.parent_field).related_model.kind
            # Version ids are unique, so the aliases of this name across definitions narrow to ours by the join.
            targets = Alias.objects.filter(kind=kind, alias=ref[1:]).values("version_id")
            return present.filter(pk__in=targets).first()
        if ref == "latest":
            return present.order_by(*latest_order()).first()
        if ref == "current":
            return present.filter(is_current=True).first()
        return present.filter(**parse_version(ref).identity()).first()

    def present(self) -> VersionQuerySet:
        """Versions not soft-deleted one by one (``DefinitionVersion.soft_delete``)."""
        return self.filter(deleted_at__isnull=True)

    def with_aliases(self) -> VersionQuerySet:
        """Each version's aliases, read in the same query (a correlated subquery) for the documents' ``aliases``."""
        kind = self.model._meta.get_field(self.model.parent_field).related_model.kind
        names = (
            Alias.objects.filter(kind=kind, version_id=OuterRef("pk")).order_by().values("kind")
            .annotate(names=AliasNames("alias")).values("names")
        )
        return self.annotate(alias_csv=Subquery(names, output_field=CharField()))

    def newest_first(self) -> VersionQuerySet:
        return self.order_by(*NEWEST_FIRST)

    def releases(self) -> VersionQuerySet:
        return self.filter(prerelease="")

    def current(self) -> VersionQuerySet:
        return self.filter(is_current=True)

    def with_parent(self) -> VersionQuerySet:
        """With the definition joined, for serving documents: the stored search columns are not read."""
        return self.select_related(self.model.parent_field).defer(*SEARCH_COLUMNS)

    def of_alive(self) -> VersionQuerySet:
        """Present versions of live definitions."""
        return self.filter(**{f"{self.model.parent_field}__deleted_at__isnull": True}, deleted_at__isnull=True)

    def containing(self, field_path: str, item: str) -> VersionQuerySet:
        """Rows whose JSON list at ``field_path`` (e.g. ``tags``, ``spec__capabilities``) holds ``item``.

        PostgreSQL answers with JSONB containment (GIN-indexable); SQLite has no containment operator, so the
        embedded default matches the item's JSON text instead.
        """
        return self.filter(**containment(field_path, item))

    def tagged(self, tag: str) -> VersionQuerySet:
        """Versions carrying ``tag`` themselves or whose definition carries it: one column of the version row
        (``effective_tags``), so a list's filter is a partial GIN index scan or a test on each row it walks."""
        return self.containing("effective_tags", tag)

    def first_per_definition(self, *ordering, **among) -> VersionQuerySet:
        """For each live definition, its first version by ``ordering`` among the versions matching ``among``:
        one correlated subquery per definition, resolved by the database."""
        parent_field = self.model.parent_field
        parent_model = self.model._meta.get_field(parent_field).related_model
        first = self.model.objects.filter(**{parent_field: OuterRef("pk")}, deleted_at__isnull=True, **among).order_by(*ordering).values("pk")[:1]
        return self.filter(pk__in=parent_model.objects.alive().annotate(first_id=Subquery(first)).values("first_id"))

    def latest_per_definition(self) -> VersionQuerySet:
        """Each live definition's latest version (see ``latest_order``): the rows flagged ``is_latest`` (kept equal
        to the definition's pointer under its row lock), so a page of a list costs the page, not the registry.

        The flag is a column of the version row, so the lists' filters are answered by partial indexes ``WHERE
        is_latest`` on this one table (tags, capabilities, search text and vector; see the migrations
        ``00NN_is_latest``), and a list ordered by name walks the definitions' name index into the partial
        unique index (parent WHERE is_latest) and stops after the page."""
        return self.filter(is_latest=True, **{f"{self.model.parent_field}__deleted_at__isnull": True})


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
    # What ``?tag=`` matches: this version's tags and its definition's, stored in one column so one (partial) GIN
    # index answers the filter and a list can test it on the row it walks (see tagged, effective_tags_of).
    effective_tags = models.JSONField(default=list, blank=True, editable=False)
    # Denormalised: this is the version the definition's latest_version pointer names (Definition.flag_latest,
    # under the definition's row lock); lists filter on it through partial indexes.
    is_latest = models.BooleanField(default=False, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft-deleted on its own; its number stays taken.")
    # What free-text search looks in (see search_document), stored so that GIN indexes can answer a search:
    # trigram on the text for substrings, and the tsvector for words (PostgreSQL; left empty on SQLite).
    search_text = models.TextField(blank=True, default="", editable=False)
    search_vector = SearchVectorField(null=True, blank=True, editable=False)

    objects = VersionQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.definition.name}@{self.version}"

    @property
    def definition(self) -> Definition:
        return getattr(self, self.parent_field)

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "description" in update_fields:
            self.set_search_fields()
            if update_fields is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "search_text", "search_vector"}
        if update_fields is None or "tags" in update_fields:
            self.effective_tags = effective_tags_of(self.tags, self.definition.tags)
            if update_fields is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "effective_tags"}
        super().save(*args, **kwargs)

    def search_values(self) -> list[tuple[str, str]]:
        """(path, text) of each of the kind's ``search_fields`` (``model__family``, ``spec__...``), in order."""
        values = []
        for path in type(self).objects.all().search_fields:
            value: Any = self
            for attr in path.split("__"):
                value = getattr(value, attr)
            values.append((path, str(value or "")))
        return values

    def search_document(self) -> str:
        """The text free-text search matches: the definition's name and the kind's ``search_fields``, lowercased."""
        return "\n".join([self.definition.name, *(text for _, text in self.search_values())]).lower()

    def set_search_fields(self) -> None:
        self.search_text = self.search_document()
        self.search_vector = SearchVector(Value(self.search_text), config="simple") if connection.vendor == "postgresql" else None

    @property
    def parsed(self) -> ParsedVersion:
        return ParsedVersion(self.major, self.minor, self.patch, self.prerelease, self.build)

    def latest_rank(self) -> tuple:
        """``latest_order`` as a Python key: the version with the greater rank is the later "latest"."""
        return (self.status != Lifecycle.ARCHIVED, not self.prerelease, self.major, self.minor, self.patch, self.prerelease_key)

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
            # Its partial unique index (parent WHERE is_latest) is also how a list ordered by name reaches each
            # definition's latest version.
            models.UniqueConstraint(
                fields=[parent_field],
                condition=Q(is_latest=True),
                name="%(app_label)s_%(class)s_one_latest",
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

    def on_registered(self, document: dict) -> None:
        """Runs inside the registration transaction once the row exists (the definition row is locked): a kind
        that derives rows from the document (a model's lineage, contributors, attestation) adds them here.
        Raising rolls the whole registration back. The default does nothing."""

    @classmethod
    def registers_in_one_statement(cls, document: dict) -> bool:
        """Whether ``on_registered`` has nothing to do for ``document``, so that registering it in one statement
        (``kernel.fastpaths.one_statement``) writes everything the ORM path would. A kind that overrides
        ``on_registered`` says when here."""
        return True

    def derive_from_spec(self) -> None:
        """Set the columns a kind derives from its spec (a pipeline's model references). ``save`` calls it, and
        so does a registration in one statement, which writes the row without ``save``. The default has none."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A page of a list is written by PostgreSQL (page_documents) and a registration may be one statement
        # (one_statement): a kind whose document adds fields, or whose registration does more, must say how.
        companions = (("document", "document_sql_extras"), ("on_registered", "registers_in_one_statement"), ("save", "derive_from_spec"))
        for method, companion in companions:
            if method in vars(cls) and companion not in vars(cls):
                raise TypeError(f"{cls.__name__} overrides {method} without {companion}")

    # -- documents --------------------------------------------------------------------------------------------

    @classmethod
    def split_document(cls, document: dict) -> tuple[dict, dict]:
        """(spec, mutable fields) of a registrable document."""
        parent_model = cls._meta.get_field(cls.parent_field).related_model
        skip = set(IDENTITY_FIELDS) | set(parent_model.parent_fields) | set(MUTABLE_VERSION_FIELDS) | {DEFINITION_KEY}
        spec = {k: v for k, v in document.items() if k not in skip}
        # A copy: every version gets its own list/dict, never the shared default.
        mutable = {k: copy.deepcopy(document.get(k, MUTABLE_DEFAULTS[k])) for k in MUTABLE_VERSION_FIELDS}
        return spec, mutable

    def is_same_registration(self, document: dict) -> bool:
        """Whether registering ``document`` again is a retry of this version's registration (a kind may say so,
        e.g. models by artifact digest); by default a second registration is a conflict."""
        return False

    def document(self) -> dict:
        """The registrable document: identity, definition-wide fields, spec and mutable fields."""
        definition = self.definition
        doc: dict[str, Any] = {"name": definition.name, "version": self.version}
        doc[DEFINITION_KEY] = {name: getattr(definition, name) for name in DEFINITION_FIELDS}
        for name in definition.parent_fields:
            value = getattr(definition, name)
            if value not in (None, ""):
                doc[name] = value
        doc.update(self.spec)
        doc["description"] = self.description
        doc["tags"] = self.tags
        doc["metadata"] = self.metadata
        return doc

    @classmethod
    def document_sql_extras(cls) -> dict:
        """The fields a kind's ``document`` adds after the mutable ones, as PostgreSQL writes them for a page of a
        list (``kernel.fastpaths.page_documents``): name -> expression, NULL when the field is left out."""
        return {}

    def document_etag(self) -> str:
        """A strong validator for ``document()`` and the lifecycle fields: every write that changes them stamps
        this row's or the definition's ``updated_at`` (the spec itself is immutable)."""
        stamp = f"{self.pk.hex}-{self.updated_at.timestamp():.6f}-{self.definition.updated_at.timestamp():.6f}"
        return f'"{stamp}"'

    def update_document(self, changes: Any, *, partial: bool) -> Registration:
        """Apply a PUT (``partial=False``) or PATCH of the mutable fields; the spec stays as registered.
        Returns the updated version with warnings (server-managed fields that were sent and ignored)."""
        definition_model = type(self.definition)
        changes, warnings = ignore_read_only(changes) if not self._changes_lifecycle(changes) else (changes, [])
        with transaction.atomic():
            definition = definition_model.objects.select_for_update().get(pk=self.definition.pk)
            version = type(self).objects.get(pk=self.pk)
            setattr(version, self.parent_field, definition)
            proposed = version.proposed_document(changes, partial=partial)
            before = version.document()
            for name in MUTABLE_VERSION_FIELDS:
                setattr(version, name, proposed[name])
            version.save(update_fields=[*MUTABLE_VERSION_FIELDS, "updated_at"])
            parent_before = [getattr(definition, name) for name in definition.parent_fields]
            tags_before = definition.tags
            for name in definition.parent_fields:
                definition.set_document_field(name, proposed.get(name))
            for name in DEFINITION_FIELDS:
                setattr(definition, name, proposed[DEFINITION_KEY][name])
            definition.save(update_fields=[*definition.parent_fields, *DEFINITION_FIELDS, "updated_at"])
            if parent_before != [getattr(definition, name) for name in definition.parent_fields]:
                definition.refresh_search_fields()
            if definition.tags != tags_before:
                definition.refresh_effective_tags()
                version.effective_tags = effective_tags_of(version.tags, definition.tags)
            version.record(f"{definition.kind}.version_updated", changelog.diff(before, version.document()))
            definition.announce_change()
            log_write("version_updated", definition, version.version)
        return Registration(version=version, warnings=warnings)

    def _changes_lifecycle(self, changes: Any) -> bool:
        """Whether ``changes`` asks for a different status: that is meant, so it is refused, not ignored."""
        if not isinstance(changes, dict):
            return False
        return ("status" in changes and changes["status"] != self.status) or (
            "is_current" in changes and changes["is_current"] != self.is_current
        ) or ("active" in changes and changes["active"] != (self.status == Lifecycle.ACTIVE))

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
        block = changes.get(DEFINITION_KEY, {} if partial else {name: MUTABLE_DEFAULTS[name] for name in DEFINITION_FIELDS})
        errors = check_definition_block(block)
        if not errors:
            # PATCH {"definition": {"tags": [...]}} changes the definition's tags and keeps its description.
            proposed[DEFINITION_KEY] = {**current[DEFINITION_KEY], **block}
        _, report = definition.check_document(proposed)
        if errors or report.errors:
            raise DocumentInvalid([*report.errors, *errors])
        return proposed

    def _check_immutable(self, current: dict, changes: dict) -> None:
        errors = []
        mutable = set(MUTABLE_VERSION_FIELDS) | set(self.definition.parent_fields) | {DEFINITION_KEY}
        changed_spec = []
        for key, value in changes.items():
            if key in mutable:
                continue
            if key == "name" and value != current["name"]:
                errors.append(Issue("/name", "read_only", "A definition cannot be renamed."))
            elif key == "version" and value != current["version"]:
                changed_spec.append("version")
            elif key in READ_ONLY_FIELDS:
                lifecycle = {"status": self.status, "is_current": self.is_current, "active": self.status == Lifecycle.ACTIVE}
                if key in lifecycle and value != lifecycle[key]:
                    errors.append(Issue(pointer(key), "read_only", f"{key} changes through the lifecycle actions (activate, deprecate, archive)."))
            elif key in self.definition.validator.top_level_fields and key not in IDENTITY_FIELDS:
                if not same_json(current.get(key), value):
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
        # With its aliases: the lifecycle moves answer with the version's document.
        version = type(self).objects.with_aliases().get(pk=self.pk)
        setattr(version, self.parent_field, definition)
        return version

    def _point_definition(self, *, latest_may_move: bool = False) -> None:
        """Store the definition's pointers after a lifecycle move of this version (the caller holds the lock)."""
        definition = self.definition
        before = (definition.latest_version_id, definition.current_version_id)
        if self.is_current:
            definition.current_version_id = self.pk
        elif definition.current_version_id == self.pk:
            definition.current_version_id = None
        if latest_may_move:
            definition.latest_version_id = definition.versions.present().order_by(*latest_order()).values_list("pk", flat=True).first()
        if (definition.latest_version_id, definition.current_version_id) == before:
            return
        type(definition).objects.filter(pk=definition.pk).update(
            latest_version=definition.latest_version_id, current_version=definition.current_version_id
        )
        if definition.latest_version_id != before[0]:
            definition.flag_latest(definition.latest_version_id)
            self.is_latest = definition.latest_version_id == self.pk

    def activate(self) -> DefinitionVersion:
        """Make this the definition's current version (clearing the previous one)."""
        done = activate_in_one_statement(self)  # PostgreSQL: the same, in one statement
        if done is not None:
            return done
        with transaction.atomic():
            version = self._locked()
            if version.status == Lifecycle.ARCHIVED:
                raise Conflict(f"{version} is archived; archived versions cannot be activated.", code="archived")
            # Re-read under the lock, is_current is settled: a version already current is the only one (the
            # one-current constraint), so there is nothing to clear.
            previous = version.version if version.is_current else version._clear_current()
            version._set_lifecycle("activated", Lifecycle.ACTIVE, is_current=True, previous_current=previous)
        return version

    def _clear_current(self) -> str | None:
        """Clear the definition's current version and return its number (None when there was none), in one
        statement (UPDATE ... RETURNING, on PostgreSQL and SQLite alike) rather than a read and then an update; the
        caller holds the definition's lock."""
        meta = type(self)._meta
        quote = connection.ops.quote_name
        is_current, updated_at = meta.get_field("is_current"), meta.get_field("updated_at")
        parent = meta.get_field(self.parent_field)
        sql = (
            f"UPDATE {quote(meta.db_table)} SET {quote(is_current.column)} = %s, {quote(updated_at.column)} = %s"
            f" WHERE {quote(parent.column)} = %s AND {quote(is_current.column)} RETURNING {quote(meta.get_field('version').column)}"
        )
        params = [
            is_current.get_db_prep_save(False, connection), updated_at.get_db_prep_save(timezone.now(), connection),
            parent.get_db_prep_save(getattr(self, parent.attname), connection),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cleared = cursor.fetchall()
        return cleared[0][0] if cleared else None

    def deprecate(self) -> DefinitionVersion:
        with transaction.atomic():
            version = self._locked()
            if version.status == Lifecycle.ARCHIVED:
                raise Conflict(f"{version} is archived; it cannot move back to deprecated.", code="archived")
            version._set_lifecycle("deprecated", Lifecycle.DEPRECATED, is_current=False)
        return version

    def archive(self) -> DefinitionVersion:
        with transaction.atomic():
            version = self._locked()
            if version.status != Lifecycle.ARCHIVED:
                Alias.ensure_unaliased(version)
                ensure_unused(version, "archive")
                version._set_lifecycle("archived", Lifecycle.ARCHIVED, is_current=False)
        return version

    def _set_lifecycle(self, verb: str, status: str, *, is_current: bool, previous_current: str | None = None) -> None:
        """Save a lifecycle move with its change-log entry; the caller holds the definition's lock. ``current``
        records which version was current before and after, so point-in-time answers need only the log."""
        changes = changelog.diff({"status": self.status, "is_current": self.is_current}, {"status": status, "is_current": is_current})
        if is_current:
            if previous_current != self.version:
                changes["current"] = [previous_current, self.version]
        elif self.is_current:
            changes["current"] = [self.version, None]
        self.status, self.is_current = status, is_current
        self.save(update_fields=["status", "is_current", "updated_at"])
        # Archiving may retire the version "latest" pointed at; the other moves only touch "current".
        self._point_definition(latest_may_move=status == Lifecycle.ARCHIVED)
        self.record(f"{self.definition.kind}.version_{verb}", changes)
        self.definition.announce_change()
        log_write(f"version_{verb}", self.definition, self.version)

    def record(self, action: str, changes: dict) -> None:
        """Append a change-log entry about this version, in the caller's transaction."""
        definition = self.definition
        changelog.record(action, kind=definition.kind, name=definition.name, version=self.version, object_id=self.pk, changes=changes)

    def soft_delete(self) -> None:
        """Take this version out of every answer; the row stays and its number is never reused. Refused (409)
        while it is the current version or something depends on it, as deleting a definition is."""
        with transaction.atomic():
            version = self._locked()
            if version.deleted_at is not None:
                return
            if version.is_current:
                raise Conflict(f"{version} is the current version; activate another one (or deprecate this one) first.", code="is_current")
            ensure_unused(version, "delete")
            version.deleted_at = timezone.now()
            version.save(update_fields=["deleted_at", "updated_at"])
            version.definition.repoint()  # a deleted version is never "latest"
            version.record(f"{version.definition.kind}.version_deleted", {"deleted": [False, True]})
            version.definition.announce_change()
        self.deleted_at = version.deleted_at

    LIFECYCLE_MOVES: ClassVar[tuple[str, ...]] = ("activate", "deprecate", "archive")

    def move(self, action: str) -> DefinitionVersion:
        if action not in self.LIFECYCLE_MOVES:
            raise ValueError(action)
        return getattr(self, action)()
