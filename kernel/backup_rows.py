"""Backup sections for plain tables (not versioned documents): bindings, lineage contributions, attestations,
artifact file rows, aliases and the change history. See ``kernel.backup`` for the file format.

``RowsSection(model, key=..., keep_ids=...)`` exports every row of ``model`` in a fixed order and imports them with
``bulk_create`` in chunks. Foreign keys to model versions travel as the versions' UUIDs (stable across
databases). Tables others refer to by integer id (bindings: the change log's ``object_id``, status changes; the
change log: its id is the cursor of /api/v1/changes and webhooks) keep their ids (``keep_ids``), and the
database sequence is moved past them after the import. A row whose key already exists is a conflict
(refused, or skipped with ``--on-conflict skip``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from django.core.management.color import no_style
from django.db import connection, models

from kernel.backup import CHUNK, BackupError, ImportContext, RowCodec, chunks, stored_timestamps


class KeepIdCodec(RowCodec):
    """A RowCodec that also carries the integer primary key, and decimals as exact text."""

    def __init__(self, model, references=None, *, keep_ids: bool = False):
        super().__init__(model, references)
        if keep_ids:
            self.fields.insert(0, model._meta.pk)

    def record(self, row: models.Model) -> dict:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in super().record(row).items()}


class RowsSection:
    def __init__(
        self,
        model: type[models.Model],
        *,
        key: tuple[str, ...],
        order: tuple[str, ...] | None = None,
        keep_ids: bool = False,
        queryset=None,
        check: Callable[[list[tuple[int, models.Model]]], list[str]] | None = None,
    ):
        self.model = model
        # The API's rules for these rows: given a chunk of (line, unsaved row), the problems, each "Line N: ...".
        self.check = check
        self.key = key
        self.order = order or key
        self.keep_ids = keep_ids
        self.queryset = queryset
        self.codec = KeepIdCodec(model, keep_ids=keep_ids)

    def export_records(self) -> Iterator[dict]:
        rows = (self.queryset if self.queryset is not None else self.model.objects.all()).order_by(*self.order)
        for row in rows.iterator(chunk_size=CHUNK):
            yield self.codec.record(row)

    def _key_of(self, record: dict) -> tuple:
        return tuple(str(record.get(name)) for name in self.key)

    def import_records(self, records: Iterator[dict], context: ImportContext) -> int:
        count = 0
        label = self.model._meta.verbose_name
        with stored_timestamps(self.model):
            for chunk in chunks(records):
                for record in chunk:
                    record.pop("type", None)
                if self.check:
                    # Before anything queries the database with the file's values (PostgreSQL refuses a NUL in a
                    # lookup with an error that would hide which rule the row breaks). Users are settled below,
                    # for the rows actually imported.
                    problems = self.check([(record.get("_line", "?"), self.codec.row(record)) for record in chunk])
                    if problems:
                        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
                        raise BackupError("; ".join(problems[:10]) + more)
                first = self.key[0]
                attname = self.model._meta.get_field(first).attname
                wanted = [r.get(first) for r in chunk if r.get(first) is not None]
                existing = (
                    {
                        tuple(str(v) for v in values)
                        for values in self.model.objects.filter(**{f"{attname}__in": wanted}).values_list(
                            *(self.model._meta.get_field(name).attname for name in self.key)
                        )
                    }
                    if wanted
                    else set()
                )
                rows = []
                for record in chunk:
                    if self._key_of(record) in existing:
                        context.conflict(f"{label} {'/'.join(self._key_of(record))}")
                        continue
                    rows.append(self.codec.row(record, context))
                try:
                    self.model.objects.bulk_create(rows)
                except (ValueError, TypeError) as exc:
                    raise BackupError(f"{label}: {exc}") from None
                count += len(rows)
                context.progress(len(chunk))
        if self.keep_ids and count:
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [self.model]):
                    cursor.execute(sql)
        return count


class SectionGroup:
    """Several tables in one section, each record tagged with ``type``; written and read in the given order."""

    def __init__(self, parts: dict[str, RowsSection]):
        self.parts = parts

    def export_records(self) -> Iterator[dict]:
        for name, part in self.parts.items():
            for record in part.export_records():
                yield {"type": name, **record}

    def import_records(self, records: Iterator[dict], context: ImportContext) -> int:
        from itertools import groupby

        count = 0
        order = list(self.parts)
        last = -1
        for name, group in groupby(records, key=lambda r: r.get("type")):
            if name not in self.parts:
                raise BackupError(f"type must be one of {', '.join(order)}, not {name!r}.")
            if order.index(name) <= last:
                raise BackupError(f"Records of type {name!r} appear out of order.")
            last = order.index(name)
            count += self.parts[name].import_records(group, context)
        return count
