"""Migration operations for what only PostgreSQL has (GIN indexes, operator classes, pg_trgm): the embedded
SQLite default skips them and keeps working, only without those indexes."""

from __future__ import annotations

from django.db import migrations


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """``RunSQL`` that runs on PostgreSQL only."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def version_search_indexes(table: str) -> list[migrations.operations.base.Operation]:
    """GIN indexes every versioned kind's version table gets: tags (JSONB containment, the ``tag=`` filter), the
    stored search vector (words) and a trigram index on the stored search text (substrings, ``LIKE '%x%'``)."""
    return [
        # The backfill before these leaves deferred foreign-key checks pending, and PostgreSQL will not build an
        # index on a table with pending trigger events: run the checks now.
        RunSQLOnPostgreSQL("SET CONSTRAINTS ALL IMMEDIATE", migrations.RunSQL.noop),
        RunSQLOnPostgreSQL(
            f"CREATE INDEX {table}_tags_gin ON {table} USING gin (tags jsonb_path_ops)",
            f"DROP INDEX IF EXISTS {table}_tags_gin",
        ),
        RunSQLOnPostgreSQL(
            f"CREATE INDEX {table}_search_vector_gin ON {table} USING gin (search_vector)",
            f"DROP INDEX IF EXISTS {table}_search_vector_gin",
        ),
        RunSQLOnPostgreSQL(
            f"CREATE INDEX {table}_search_text_trgm ON {table} USING gin (search_text gin_trgm_ops)",
            f"DROP INDEX IF EXISTS {table}_search_text_trgm",
        ),
    ]


def backfill_search_fields(version_model, parent_field: str, search_fields: tuple[str, ...]):
    """A RunPython function that fills the stored search text (and vector) of existing versions the way
    ``DefinitionVersion.search_document`` does for new ones."""

    def forwards(apps, schema_editor):
        model = apps.get_model(*version_model.split("."))
        batch = []
        for version in model.objects.select_related(parent_field).iterator(chunk_size=2000):
            parts = [getattr(version, parent_field).name]
            for path in search_fields:
                value = version
                for attr in path.split("__"):
                    value = getattr(value, attr)
                parts.append(str(value or ""))
            version.search_text = "\n".join(parts).lower()
            batch.append(version)
            if len(batch) >= 2000:
                model.objects.bulk_update(batch, ["search_text"])
                batch = []
        model.objects.bulk_update(batch, ["search_text"])
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"UPDATE {model._meta.db_table} SET search_vector = to_tsvector('simple', search_text)")

    return forwards


def latest_version_indexes(table: str) -> list[migrations.operations.base.Operation]:
    """Partial indexes over each definition's latest version (``WHERE is_latest``) for the lists' filters, so a
    filtered list reads only latest versions: the effective tags (``tag=``) and the stored search vector and
    text (``search=``). Only the lists filter on these over a whole table, so they replace the full indexes (a
    version list filters one definition's versions, which its foreign key index finds)."""
    return [
        RunSQLOnPostgreSQL("SET CONSTRAINTS ALL IMMEDIATE", migrations.RunSQL.noop),
        RunSQLOnPostgreSQL(
            f"DROP INDEX IF EXISTS {table}_tags_gin; "
            f"CREATE INDEX {table}_latest_tags_gin ON {table} USING gin (effective_tags jsonb_path_ops) WHERE is_latest",
            f"DROP INDEX IF EXISTS {table}_latest_tags_gin; "
            f"CREATE INDEX {table}_tags_gin ON {table} USING gin (tags jsonb_path_ops)",
        ),
        RunSQLOnPostgreSQL(
            f"DROP INDEX IF EXISTS {table}_search_vector_gin; "
            f"CREATE INDEX {table}_latest_search_vector_gin ON {table} USING gin (search_vector) WHERE is_latest",
            f"DROP INDEX IF EXISTS {table}_latest_search_vector_gin; "
            f"CREATE INDEX {table}_search_vector_gin ON {table} USING gin (search_vector)",
        ),
        RunSQLOnPostgreSQL(
            f"DROP INDEX IF EXISTS {table}_search_text_trgm; "
            f"CREATE INDEX {table}_latest_search_text_trgm ON {table} USING gin (search_text gin_trgm_ops) WHERE is_latest",
            f"DROP INDEX IF EXISTS {table}_latest_search_text_trgm; "
            f"CREATE INDEX {table}_search_text_trgm ON {table} USING gin (search_text gin_trgm_ops)",
        ),
    ]


def backfill_latest_version_fields(app_label: str, definition_model: str, version_model: str):
    """A RunPython function for existing rows: flag the versions the ``latest_version`` pointers name, and fill
    every version's ``effective_tags`` from its tags and its definition's."""

    def forwards(apps, schema_editor):
        from registry_project.definitions import backfill_latest_flags, effective_tags_of

        definitions = apps.get_model(app_label, definition_model)
        versions = apps.get_model(app_label, version_model)
        backfill_latest_flags(definitions, versions)
        parent_field = definitions._meta.get_field("versions").field.name
        batch = []
        for version in versions.objects.select_related(parent_field).only("pk", "tags", f"{parent_field}__tags").iterator(chunk_size=2000):
            version.effective_tags = effective_tags_of(version.tags, getattr(version, parent_field).tags)
            batch.append(version)
            if len(batch) >= 2000:
                versions.objects.bulk_update(batch, ["effective_tags"])
                batch = []
        versions.objects.bulk_update(batch, ["effective_tags"])

    return forwards
