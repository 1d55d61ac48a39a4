"""A complete backup of the registry as JSON Lines, streamed both ways in bounded memory.

The file is a header line, then one line per record, section after section, then a trailer::

    {"format": "ml-registry-export", "format_version": 2, "sections": ["models", "pipelines", "policies"]}
    {"section": "models", "type": "definition", "name": "llama2-7b-chat", ...}
    {"section": "models", "type": "version", "definition": "llama2-7b-chat", "id": "...", "spec": {...}, ...}
    {"trailer": {"counts": {"models": 2, ...}, "records": 2, "sha256": "<hex>"}}

The trailer's ``sha256`` is the digest of every byte before the trailer line (header included), its ``counts`` the
records of each section. An import checks both before it commits anything, so a file cut short (even at a record
boundary), with its trailer missing, or with a byte changed imports nothing. Format 1 files (written before the
trailer existed) are read only when the operator says so (``allow_untrailed``), as nothing proves them whole.

Every row is checked as the API would check it (a section's ``check`` hook: storage keys inside the artifact
store, an attestation's signed subject naming its own version, a binding's config free of credentials), and user
references name users of this registry: a missing one is refused, set to null or mapped to a named user, as the
operator chooses (``MISSING_USER_POLICIES``), and reported either way.

Sections are pluggable: each app may have an ``exports`` module (``models_app/exports.py``) with

- ``SECTION`` (its name), ``ORDER`` (sections are written and read in this order: what others reference first),
- ``section()`` returning an object with ``export_records() -> Iterator[dict]`` (streamed, e.g. with
  ``QuerySet.iterator``) and ``import_records(records: Iterator[dict], context: ImportContext) -> int``
  (bulk-creates in chunks, asks ``context.conflict(...)`` when a record collides with what the registry holds).
  ``DefinitionSection`` below is that object for a versioned kind.

Bindings, lineage, artifacts and the change history add their module; this file does not change. Records carry
every stored field (timestamps, ids, lifecycle state, tombstones), so importing an export into an empty registry
and exporting again gives the same bytes.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import importlib
import importlib.util
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby, islice
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction

FORMAT = "ml-registry-export"
FORMAT_VERSION = 2
UNTRAILED_FORMAT_VERSION = 1  # before the trailer: readable only when asked for
CHUNK = 2000
MAX_LINE_BYTES = 64 * 1024 * 1024  # one record; a spec is bounded far below this by the API's request limit
CONFLICT_POLICIES = ("fail", "skip")
MISSING_USER_POLICIES = ("fail", "null", "map")


class BackupError(Exception):
    """The file is not a registry export this version can read, or a record is malformed."""


class ImportConflict(Exception):
    def __init__(self, conflicts: list[str]):
        super().__init__(
            f"{len(conflicts)} record(s) already exist in this registry, e.g. {', '.join(conflicts[:10])}; "
            "nothing was imported. Import into an empty registry, or pass --on-conflict skip to keep what exists."
        )
        self.conflicts = conflicts


class MissingUsers(Exception):
    def __init__(self, missing: dict[str, int]):
        names = sorted(missing)
        super().__init__(
            f"{len(names)} user(s) referenced by the file do not exist in this registry: {', '.join(names[:20])}; "
            "nothing was imported. Create them, or pass --missing-users=null or --map-missing-users-to=<username>."
        )
        self.missing = missing


@dataclass
class ImportContext:
    on_conflict: str = "fail"
    missing_users: str = "fail"
    map_missing_users_to: int | None = None  # the user id that ``map`` gives missing users' references
    imported: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)  # username -> references to it
    progress: Callable[[int], None] = lambda n: None

    def conflict(self, label: str) -> None:
        """A record collides with the registry's content: skip it (``skip``) or collect it for the refusal."""
        (self.skipped if self.on_conflict == "skip" else self.conflicts).append(label)
        if self.on_conflict == "fail" and len(self.conflicts) >= 100:
            raise ImportConflict(self.conflicts)

    def missing_user(self, username: str) -> int | None:
        """A reference to a user this registry does not have: counted for the report; what it becomes follows the
        policy (``map``: the named user; ``null`` and ``fail``, which refuses the import at the end: null)."""
        self.missing[username] = self.missing.get(username, 0) + 1
        return self.map_missing_users_to if self.missing_users == "map" else None


def project_apps():
    """This project's apps (third-party apps may have modules of the same names)."""
    root = Path(settings.BASE_DIR).resolve()
    return [config for config in apps.get_app_configs() if Path(config.path).resolve().parent == root]


def sections() -> list[ModuleType]:
    found = []
    for app_config in project_apps():
        name = f"{app_config.name}.exports"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        found.append(module)
        found.extend(getattr(module, "MORE", ()))  # an app may add sections (objects with the same three names)
    return sorted(found, key=lambda module: (module.ORDER, module.SECTION))


# -- files ------------------------------------------------------------------------------------------------------


@contextmanager
def open_export(path: str, mode: str) -> Iterator[IO[str]]:
    """``-`` is stdin/stdout; a name ending in ``.gz`` is gzip-compressed."""
    if path == "-":
        yield sys.stdout if mode == "w" else sys.stdin
        return
    if path.endswith(".gz"):
        handle = io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8", newline="\n")
    else:
        handle = Path(path).open(mode, encoding="utf-8", newline="\n")
    with handle:
        yield handle


def dumps(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def export_registry(out: IO[str], progress: Callable[[int], None] = lambda n: None) -> dict[str, int]:
    """Write every section's records, then the trailer; returns counts per section."""
    chosen = sections()
    digest = hashlib.sha256()

    def write(record: dict) -> None:
        line = dumps(record) + "\n"
        digest.update(line.encode("utf-8"))
        out.write(line)

    write({"format": FORMAT, "format_version": FORMAT_VERSION, "sections": [m.SECTION for m in chosen]})
    counts = {}
    for module in chosen:
        n = 0
        for record in module.section().export_records():
            write({"section": module.SECTION, **record})
            n += 1
            if n % 1000 == 0:
                progress(1000)
        progress(n % 1000)
        counts[module.SECTION] = n
    trailer = {"counts": counts, "records": sum(counts.values()), "sha256": digest.hexdigest()}
    out.write(dumps({"trailer": trailer}) + "\n")
    return counts


def read_records(lines: Iterable[str], *, allow_untrailed: bool = False) -> Iterator[tuple[int, dict]]:
    """(line number, record) for each line after the header, which is checked. The trailer is checked when it is
    reached (digest of every byte before it, count of each section's records), and the file must end with it: an
    import that consumes this generator inside its transaction has checked the whole file before it commits."""
    numbered = enumerate(lines, start=1)
    try:
        _, first = next(numbered)
    except StopIteration:
        raise BackupError("The file is empty; an export starts with a header line.") from None
    header = _parse(1, first)
    versions = (FORMAT_VERSION, UNTRAILED_FORMAT_VERSION) if allow_untrailed else (FORMAT_VERSION,)
    if type(header.get("format_version")) is not int:  # noqa: E721 (true == 1 in Python; not a version)
        header["format_version"] = None
    if header.get("format") != FORMAT or header.get("format_version") not in versions:
        if header.get("format") == FORMAT and header.get("format_version") == UNTRAILED_FORMAT_VERSION:
            raise BackupError(
                f"Line 1: a format_version {UNTRAILED_FORMAT_VERSION} file has no trailer, so nothing proves it whole; "
                "pass --allow-untrailed to import it anyway."
            )
        raise BackupError(f"Line 1: not a {FORMAT} file of format_version {FORMAT_VERSION}.")
    if header["format_version"] == UNTRAILED_FORMAT_VERSION:
        for number, line in numbered:
            if line.strip():
                yield number, _parse(number, line)
        return
    digest = hashlib.sha256(_encoded(1, first))
    counts: dict[str, int] = {}
    last = 1
    for number, line in numbered:
        last = number
        if not line.strip():
            digest.update(_encoded(number, line))
            continue
        record = _parse(number, line)
        if "trailer" in record and "section" not in record:
            _check_trailer(number, record, digest.hexdigest(), counts)
            for extra_number, extra in numbered:
                if extra.strip():
                    raise BackupError(f"Line {extra_number}: records after the trailer (line {number}).")
            return
        digest.update(_encoded(number, line))
        section = record.get("section")
        counts[str(section)] = counts.get(str(section), 0) + 1
        yield number, record
    raise BackupError(
        f"The file ends at line {last} without its trailer: it was cut short or not written by export_registry."
    )


def check_file(lines: Iterable[str], *, allow_untrailed: bool = False) -> None:
    """Read a whole export without importing it: its records parse and it matches its trailer."""
    for _ in read_records(lines, allow_untrailed=allow_untrailed):
        pass


def _encoded(number: int, line: str) -> bytes:
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        raise BackupError(f"Line {number}: not UTF-8 text.") from None


def _check_trailer(number: int, record: dict, digest: str, counts: dict[str, int]) -> None:
    trailer = record["trailer"]
    if not isinstance(trailer, dict) or not isinstance(trailer.get("counts"), dict):
        raise BackupError(f'Line {number}: the trailer is {{"trailer": {{"counts": {{...}}, "sha256": ...}}}}.')
    if trailer.get("sha256") != digest:
        raise BackupError(
            f"Line {number}: the file's bytes do not match its trailer's sha256: it was altered or damaged."
        )
    declared = {str(k): v for k, v in trailer["counts"].items() if v != 0}
    if declared != counts or trailer.get("records") != sum(counts.values()):
        differ = sorted(
            f"{section}: {counts.get(section, 0)} record(s), the trailer says {declared.get(section, 0)}"
            for section in set(declared) | set(counts)
            if declared.get(section) != counts.get(section)
        )
        if trailer.get("records") != sum(counts.values()):
            differ.append(f"{sum(counts.values())} record(s) in all, the trailer says {trailer.get('records')!r}")
        raise BackupError(f"Line {number}: the records do not match the trailer's counts ({'; '.join(differ)}).")


def _parse(number: int, line: str) -> dict:
    if len(line) > MAX_LINE_BYTES:
        raise BackupError(f"Line {number}: longer than {MAX_LINE_BYTES} characters.")
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise BackupError(f"Line {number}: not JSON ({exc}).") from None
    if not isinstance(record, dict):
        raise BackupError(f"Line {number}: a record is a JSON object.")
    return record


def import_registry(
    lines: Iterable[str],
    *,
    on_conflict: str = "fail",
    missing_users: str = "fail",
    map_missing_users_to: str | None = None,
    allow_untrailed: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> ImportContext:
    """Import an export in one transaction: all of it, or (on a refused conflict, a bad record, a missing user
    under ``missing_users="fail"``, or a file that does not match its trailer) nothing."""
    if on_conflict not in CONFLICT_POLICIES:
        raise ValueError(on_conflict)
    if missing_users not in MISSING_USER_POLICIES or (missing_users == "map") != (map_missing_users_to is not None):
        raise ValueError(missing_users)
    by_name = {module.SECTION: module for module in sections()}
    order = {name: index for index, name in enumerate(by_name)}
    context = ImportContext(on_conflict=on_conflict, missing_users=missing_users, progress=progress)
    if map_missing_users_to is not None:
        context.map_missing_users_to = UserNames().id(map_missing_users_to)
        if context.map_missing_users_to is None:
            raise BackupError(f"--map-missing-users-to names {map_missing_users_to!r}, who is not a user here.")
    last_section = -1
    records = read_records(lines, allow_untrailed=allow_untrailed)
    with transaction.atomic():
        for section, group in groupby(records, key=lambda item: item[1].get("section")):
            if section not in by_name:
                raise BackupError(f"Unknown section {section!r}; this registry has {', '.join(by_name)}.")
            if order[section] <= last_section:
                raise BackupError(f"Section {section!r} appears out of order or twice.")
            last_section = order[section]
            context.imported[section] = by_name[section].section().import_records(_checked(group), context)
        if context.conflicts:
            raise ImportConflict(context.conflicts)
        if context.missing and missing_users == "fail":
            raise MissingUsers(context.missing)
    return context


def _checked(group: Iterable[tuple[int, dict]]) -> Iterator[dict]:
    for number, record in group:
        record = dict(record)
        record.pop("section")
        record["_line"] = number
        yield record


def chunks(iterable: Iterable, size: int = CHUNK) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


# -- rows <-> records ---------------------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class UserNames:
    """User foreign keys travel as usernames. On import, a name this registry does not know is the import
    context's to settle (``ImportContext.missing_user``); without a context it imports as empty."""

    def __init__(self):
        self._names: dict[int, str] | None = None
        self._ids: dict[str, int] | None = None

    def name(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if self._names is None:
            self._names = dict(get_user_model().objects.values_list("pk", get_user_model().USERNAME_FIELD))
        return self._names.get(user_id)

    def id(self, username: str | None, context: ImportContext | None = None) -> int | None:
        if username is None:
            return None
        if self._ids is None:
            self._ids = {v: k for k, v in get_user_model().objects.values_list("pk", get_user_model().USERNAME_FIELD)}
        found = self._ids.get(username)
        if found is None and context is not None:
            return context.missing_user(username)
        return found


class RowCodec:
    """Every concrete field of ``model`` to and from a JSON record, except the integer primary key (not stable
    across databases) and ``references`` (foreign key name -> the record key holding the referenced row's name)."""

    def __init__(
        self, model: type[models.Model], references: dict[str, str] | None = None, derived: tuple[str, ...] = ()
    ):
        self.model = model
        self.references = references or {}
        self.derived = derived  # state the registry recomputes after an import; not carried in the file
        self.users = UserNames()
        user_model = get_user_model()
        self.fields = []
        for f in model._meta.concrete_fields:
            if f.primary_key and isinstance(f, (models.AutoField, models.BigAutoField)):
                continue
            if f.name in self.references or f.name in self.derived:
                continue
            self.fields.append(f)
        self.user_fields = {f.name for f in self.fields if f.is_relation and f.related_model is user_model}

    def record(self, row: models.Model) -> dict:
        out = {}
        for f in self.fields:
            if f.name in self.user_fields:
                out[f.name] = self.users.name(getattr(row, f.attname))
            else:
                out[f.name] = _to_json(f.value_from_object(row))
        return out

    def row(self, record: dict, context: ImportContext | None = None, **references) -> models.Model:
        line = record.get("_line", "?")
        values = {}
        for f in self.fields:
            if f.name not in record:
                if f.has_default() or f.null:
                    continue
                raise BackupError(f"Line {line}: {f.name} is missing.")
            value = record[f.name]
            try:
                if f.name in self.user_fields:
                    if value is not None and not isinstance(value, str):
                        raise ValueError("a user is named by a username (a string) or null")
                    values[f.attname] = self.users.id(value, context)
                elif value is None:
                    values[f.attname] = None
                else:
                    values[f.attname] = f.to_python(value)
            except Exception as exc:  # a malformed value is the file's fault, reported with its line
                raise BackupError(f"Line {line}: {f.name}: {exc}") from None
        return self.model(**values, **references)


@contextmanager
def stored_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Keep the exported ``auto_now``/``auto_now_add`` values instead of stamping the import's time. Used by the
    import command only (it flips a class attribute for the duration)."""
    flipped = []
    for model in model_classes:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                flipped.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in flipped:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


# -- the section every versioned kind shares ------------------------------------------------------------------------


class DefinitionSection:
    """Export and import of one versioned kind: its definitions, then all their versions (by name, then semver)."""

    def __init__(self, definition_model):
        self.definition_model = definition_model
        self.version_model = definition_model.versions.rel.related_model
        self.parent = self.version_model.parent_field
        # The latest/current pointers, the is_latest flags, the effective tags and the search vector are derived from
        # the rows: recomputed after an import.
        self.definitions = RowCodec(definition_model, derived=("latest_version", "current_version"))
        self.versions = RowCodec(
            self.version_model, {self.parent: "definition"}, derived=("search_vector", "is_latest", "effective_tags")
        )

    def export_records(self) -> Iterator[dict]:
        for definition in self.definition_model.objects.order_by("name").iterator(chunk_size=CHUNK):
            yield {"type": "definition", **self.definitions.record(definition)}
        versions = self.version_model.objects.select_related(self.parent).order_by(
            f"{self.parent}__name", "major", "minor", "patch", "prerelease_key", "build"
        )
        for version in versions.iterator(chunk_size=CHUNK):
            yield {"type": "version", "definition": getattr(version, self.parent).name, **self.versions.record(version)}

    def import_records(self, records: Iterator[dict], context: ImportContext) -> int:
        ids: dict[str, int] = {}
        skipped: set[str] = set()
        count = 0
        with stored_timestamps(self.definition_model, self.version_model):
            for chunk in chunks(records):
                definitions = [r for r in chunk if r.get("type") == "definition"]
                versions = [r for r in chunk if r.get("type") == "version"]
                if len(definitions) + len(versions) != len(chunk):
                    bad = next(r for r in chunk if r.get("type") not in ("definition", "version"))
                    raise BackupError(f"Line {bad['_line']}: type must be 'definition' or 'version'.")
                count += self._import_definitions(definitions, ids, skipped, context)
                count += self._import_versions(versions, ids, skipped, context)
                context.progress(len(chunk))
        self._derive(list(ids.values()))
        return count

    def _derive(self, definition_ids: list) -> None:
        """Set the imported definitions' latest/current pointers, the ``is_latest`` flags that follow the latest
        pointer, their versions' effective tags and search vectors."""
        from django.db import connection
        from django.db.models import OuterRef, Subquery

        from kernel.documents.shape import effective_tags_of
        from kernel.models.definitions import backfill_latest_flags
        from kernel.rules.latest import latest_order

        for start in range(0, len(definition_ids), CHUNK):
            batch = definition_ids[start : start + CHUNK]
            versions = self.version_model.objects.filter(**{self.parent: OuterRef("pk")}).present()
            self.definition_model.objects.filter(pk__in=batch).update(
                latest_version=Subquery(versions.order_by(*latest_order()).values("pk")[:1]),
                current_version=Subquery(versions.filter(is_current=True).values("pk")[:1]),
            )
            backfill_latest_flags(self.definition_model, self.version_model, batch)
            tagged = []
            for version in (
                self.version_model.objects.filter(**{f"{self.parent}__in": batch})
                .select_related(self.parent)
                .only("pk", "tags", f"{self.parent}__tags")
                .iterator(chunk_size=CHUNK)
            ):
                version.effective_tags = effective_tags_of(version.tags, version.definition.tags)
                tagged.append(version)
            self.version_model.objects.bulk_update(tagged, ["effective_tags"], batch_size=CHUNK)
            if connection.vendor == "postgresql":
                from django.contrib.postgres.search import SearchVector

                self.version_model.objects.filter(**{f"{self.parent}__in": batch}).update(
                    search_vector=SearchVector("search_text", config="simple")
                )

    def _import_definitions(self, records, ids, skipped, context) -> int:
        if not records:
            return 0
        names = [r.get("name") for r in records]
        existing = set(
            self.definition_model.objects.filter(name__in=[n for n in names if isinstance(n, str)]).values_list(
                "name", flat=True
            )
        )
        rows = []
        for record in records:
            if record.get("name") in existing:
                context.conflict(f"{self.definition_model.kind} {record['name']}")
                skipped.add(record["name"])
                continue
            rows.append(self.definitions.row(record, context))
        created = self.definition_model.objects.bulk_create(rows)
        ids.update({row.name: row.pk for row in created})
        return len(created)

    def _import_versions(self, records, ids, skipped, context) -> int:
        if not records:
            return 0
        existing = set(
            str(pk)
            for pk in self.version_model.objects.filter(pk__in=[_uuid(r) for r in records if _uuid(r)]).values_list(
                "pk", flat=True
            )
        )
        rows = []
        for record in records:
            name = record.get("definition")
            if name in skipped:
                continue
            if name not in ids:
                raise BackupError(f"Line {record['_line']}: version of {name!r}, which no earlier record defines.")
            if record.get("id") in existing:
                context.conflict(f"{self.definition_model.kind} version id {record['id']}")
                continue
            rows.append(self.versions.row(record, context, **{f"{self.parent}_id": ids[name]}))
        self.version_model.objects.bulk_create(rows)
        return len(rows)


def _uuid(record: dict) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(record.get("id")))
    except ValueError:
        return None
