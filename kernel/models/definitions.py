"""The shared shape of a versioned definition (models, pipelines, policies).

A ``Definition`` row holds identity (unique name, owner, soft-delete marker) and the few document fields that
belong to the whole definition (``parent_fields``, e.g. a model's family). A ``DefinitionVersion`` row holds one
semantic version: its immutable ``spec`` and its mutable lifecycle state, tags, description and metadata.

Every write that protects an invariant (one row per version, one current version) locks the parent row first;
the unique constraints stay as a backstop under concurrency and surface as a 409.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import connection, models, transaction
from django.db.models import Aggregate, CharField, OuterRef, Q, Subquery, Value

from kernel.choices import Lifecycle
from kernel.documents.shape import (
    DEFINITION_FIELDS,
    DEFINITION_KEY,
    MUTABLE_VERSION_FIELDS,
    READ_ONLY_FIELDS,
    DocumentField,
    effective_tags_of,
    registrable_extras,
    split_document,
)
from kernel.exceptions import DefinitionNotFound
from kernel.models import changelog
from kernel.models.aliases import Alias
from kernel.rules.latest import NEWEST_FIRST, latest_order
from kernel.rules.names import name_validator
from kernel.rules.semver import InvalidVersion, ParsedVersion, SortKeyField, parse_version
from kernel.rules.validation import DocumentValidator, differing_paths

# Columns a version row stores only for free-text search; reads that serve documents leave them unread.
SEARCH_COLUMNS = ("search_text", "search_vector")


def version_pointer(version_model: str, role: str) -> models.ForeignKey:
    """A definition's denormalised pointer to its ``latest`` or ``current`` version.

    Lookups and lists read the pointer (one row) instead of ranking every version of every definition, so their
    cost follows the page, not the registry. Every write that can move a pointer runs under the definition's
    row lock and sets it there (``kernel.writes.register``, ``kernel.writes.lifecycle``);
    ``Definition.repoint`` recomputes both from the versions for any other write path. A kind declares the two
    fields itself (the target is its own version model): ``latest_version = version_pointer("ModelVersion",
    "latest")``.
    """
    return models.ForeignKey(
        version_model,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name=f"{role}_of",
        help_text=f"Denormalised: the {role} version, kept under this row's lock.",
    )


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


class DefinitionQuerySet(models.QuerySet):
    def alive(self) -> DefinitionQuerySet:
        return self.filter(deleted_at__isnull=True)


class Definition(models.Model):
    """Identity of a named, versioned definition. Subclasses set ``kind``, ``validator`` and ``parent_fields``."""

    kind: ClassVar[str] = "definition"
    validator: ClassVar[DocumentValidator]
    # Document fields stored on the definition (shared by all versions) rather than in a version's spec; every kind
    # has ``labels``, a kind adds its own (a model's family).
    parent_fields: ClassVar[tuple[str, ...]] = ("labels",)
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
    tags = models.JSONField(
        default=list, blank=True, help_text="The definition's own tags; each version has its own too."
    )
    description = models.TextField(blank=True, default="", help_text="What this definition is, whatever the version.")
    # Key-value labels (issue #27: the earlier services' subject and category), a definition-wide document field
    # of every kind, checked by kernel.documents.shape.LABELS_SCHEMA; ?label=key:value filters on them (a GIN
    # index per kind on PostgreSQL).
    labels = models.JSONField(null=True, blank=True, help_text="Key-value labels, e.g. subject: math.")

    objects = DefinitionQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ("name",)
        constraints = [
            # kernel.rules.names.NAME, with the length left to the column (written before that rule, so kept as the
            # migrations made it); tests/kernel/test_name_rule.py holds the database to the Python rule.
            models.CheckConstraint(
                condition=Q(name__regex=r"^[a-z0-9][a-z0-9._-]*$"), name="%(app_label)s_%(class)s_name_slug"
            ),
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

    def repoint(self) -> None:
        """Recompute both pointers from the versions and store them (the caller holds this row's lock). Any write
        path that changes which version is latest or current without going through the methods that keep the
        pointers (``kernel.writes.register``, ``kernel.writes.lifecycle``) calls this before it commits."""
        present = self.versions.present()
        self.latest_version_id = present.order_by(*latest_order()).values_list("pk", flat=True).first()
        self.current_version_id = present.filter(is_current=True).values_list("pk", flat=True).first()
        type(self).objects.filter(pk=self.pk).update(
            latest_version=self.latest_version_id, current_version=self.current_version_id
        )
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

    def record(self, action: str, changes: dict) -> None:
        """Append a change-log entry about this definition, in the caller's transaction."""
        changelog.record(action, kind=self.kind, name=self.name, object_id=self.pk, changes=changes)


class AliasNames(Aggregate):
    """The aliases of a version as one comma-separated text (alias names are slugs, without commas): STRING_AGG on
    PostgreSQL, GROUP_CONCAT on SQLite."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra)


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
        """Versions not soft-deleted one by one (``kernel.writes.delete.soft_delete``)."""
        return self.filter(deleted_at__isnull=True)

    def with_aliases(self) -> VersionQuerySet:
        """Each version's aliases, read in the same query (a correlated subquery) for the documents' ``aliases``."""
        kind = self.model._meta.get_field(self.model.parent_field).related_model.kind
        names = (
            Alias.objects.filter(kind=kind, version_id=OuterRef("pk"))
            .order_by()
            .values("kind")
            .annotate(names=AliasNames("alias"))
            .values("names")
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
        first = (
            self.model.objects.filter(**{parent_field: OuterRef("pk")}, deleted_at__isnull=True, **among)
            .order_by(*ordering)
            .values("pk")[:1]
        )
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
    # The fields a kind's document adds (kernel.documents.shape, DocumentField), declared once for the Python
    # document, the page PostgreSQL writes and the OpenAPI schema: registrable ones after the mutable fields,
    # server-managed ones after the lifecycle fields, each group in the order given.
    document_extras: ClassVar[tuple[DocumentField, ...]] = ()
    # Spec fields that are facts about running the version rather than what was registered (a model's price, its
    # latest evaluation score): kept in ``spec`` beside the rest, so every filter, page and export reads them where
    # it always did, but an update may change them (logged like every change) and a registration retried after
    # such an update is still a retry (``registration_differences`` leaves them out).
    operational_fields: ClassVar[tuple[str, ...]] = ()

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
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Soft-deleted on its own; its number stays taken."
    )
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
        self.search_vector = (
            SearchVector(Value(self.search_text), config="simple") if connection.vendor == "postgresql" else None
        )

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

    def on_archived(self) -> None:
        """Runs inside the archiving transaction once the version is archived (the definition row is locked): a
        kind that keeps more state about retired versions (a model's storage tier) sets it here. The default does
        nothing."""

    def on_registered(self, document: dict) -> None:
        """Runs inside the registration transaction once the row exists (the definition row is locked): a kind
        that derives rows from the document (a model's lineage, contributors, attestation) adds them here.
        Raising rolls the whole registration back. The default does nothing."""

    def derived_from_version(self) -> DefinitionVersion | None:
        """The version this one was derived from, which a comparison takes when it is given no other
        (``kernel.reads.diff``); None for a kind without lineage, as here."""
        return None

    def comparison(self, base: DefinitionVersion) -> dict[str, Any]:
        """What a kind adds to the comparison of this version with ``base`` (``kernel.reads.diff``; a model's
        metric deltas and lineage). The default adds nothing."""
        return {}

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
        # (one_statement): a kind whose registration does more must say how. A kind's document fields are
        # declared (document_extras), never added by an override that the page's SQL would not know of.
        if "document" in vars(cls):
            raise TypeError(f"{cls.__name__} overrides document: declare its fields in document_extras")
        companions = (("on_registered", "registers_in_one_statement"), ("save", "derive_from_spec"))
        for method, companion in companions:
            if method in vars(cls) and companion not in vars(cls):
                raise TypeError(f"{cls.__name__} overrides {method} without {companion}")
        unlisted = [f.name for f in cls.document_extras if f.server_managed and f.name not in READ_ONLY_FIELDS]
        if unlisted:
            raise TypeError(f"{cls.__name__}'s server-managed {', '.join(unlisted)} missing from READ_ONLY_FIELDS")

    # -- documents --------------------------------------------------------------------------------------------

    @classmethod
    def split_document(cls, document: dict) -> tuple[dict, dict]:
        """(spec, mutable fields) of a registrable document; a kind that normalises its spec says how here."""
        return split_document(cls, document)

    def registration_differences(self, document: dict, omitted: list[str]) -> list[str]:
        """The JSON Pointers at which registering ``document`` again would store something else than this
        version holds: its spec as a registration stores it (``split_document``), and what a kind adds (a model's
        lineage link). None: the document states nothing this version contradicts, so the registration is a
        retry, answered with this version; any: a 409 naming them. What the document leaves out and this version
        has contradicts nothing: those paths are appended to ``omitted`` (a shorter quick-start document of a
        version registered in full is a retry, told what the stored version adds). The one rule for every kind;
        the mutable fields are not part of it (an update changes them, and a retry sent after it is still a
        retry)."""
        spec, _ = self.split_document(document)
        operational = set(self.operational_fields)
        return differing_paths(
            {k: v for k, v in self.spec.items() if k not in operational},
            {k: v for k, v in spec.items() if k not in operational},
            omitted=omitted,
        )

    def document(self) -> dict:
        """The registrable document: identity, definition-wide fields, spec, mutable fields and the kind's
        registrable ``document_extras`` (the API adds the server-managed fields: ``shape.api_document``)."""
        definition = self.definition
        doc: dict[str, Any] = {"name": definition.name, "version": self.version}
        doc[DEFINITION_KEY] = {name: getattr(definition, name) for name in DEFINITION_FIELDS}
        for name in definition.parent_fields:
            value = getattr(definition, name)
            if value not in (None, ""):
                doc[name] = value
        doc.update(self.spec)
        for name in MUTABLE_VERSION_FIELDS:
            doc[name] = getattr(self, name)
        for field in registrable_extras(type(self)):
            value = field.value(self)
            if value not in (None, ""):
                doc[field.name] = value
        return doc

    def document_etag(self) -> str:
        """A strong validator for ``document()`` and the lifecycle fields: every write that changes them stamps
        this row's or the definition's ``updated_at`` (the spec itself is immutable)."""
        stamp = f"{self.pk.hex}-{self.updated_at.timestamp():.6f}-{self.definition.updated_at.timestamp():.6f}"
        return f'"{stamp}"'

    def record(self, action: str, changes: dict) -> None:
        """Append a change-log entry about this version, in the caller's transaction."""
        definition = self.definition
        changelog.record(
            action, kind=definition.kind, name=definition.name, version=self.version, object_id=self.pk, changes=changes
        )
