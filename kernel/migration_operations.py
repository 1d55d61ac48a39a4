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
            schema_editor.execute(
                f"UPDATE {model._meta.db_table} SET search_vector = to_tsvector('simple', search_text)"
            )

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
        from kernel.documents.shape import effective_tags_of
        from kernel.models.definitions import backfill_latest_flags

        definitions = apps.get_model(app_label, definition_model)
        versions = apps.get_model(app_label, version_model)
        backfill_latest_flags(definitions, versions)
        parent_field = definitions._meta.get_field("versions").field.name
        batch = []
        for version in (
            versions.objects.select_related(parent_field)
            .only("pk", "tags", f"{parent_field}__tags")
            .iterator(chunk_size=2000)
        ):
            version.effective_tags = effective_tags_of(version.tags, getattr(version, parent_field).tags)
            batch.append(version)
            if len(batch) >= 2000:
                versions.objects.bulk_update(batch, ["effective_tags"])
                batch = []
        versions.objects.bulk_update(batch, ["effective_tags"])

    return forwards


# The registration function's source, frozen here: a migration created it from this text, so a change to it is a
# new function (a new ``_vN`` name, named in the kind's ``write_functions``) in a new migration, never an edit.
REGISTRATION_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION {function}(
    p_name text, p_create boolean, p_definition jsonb, p_parent jsonb, p_version jsonb, p_search jsonb
) RETURNS TABLE (r_outcome text, r_created boolean, r_definition jsonb, r_latest jsonb, r_is_latest boolean, r_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $registration$
DECLARE
    d {definitions}%ROWTYPE;
    v {versions}%ROWTYPE;
    l {versions}%ROWTYPE;
    was_created boolean := false;
    -- The write's moment, read once the lock is held (as the ORM path reads it): a registration that waited for
    -- another write is stamped after it, so change-log times follow the order the writes took.
    stamp timestamptz;
BEGIN
    -- Each statement below takes a fresh snapshot (a VOLATILE function under READ COMMITTED), so what is read
    -- after the lock includes whatever a registration we waited for committed.
    SELECT * INTO d FROM {definitions} WHERE name = p_name FOR UPDATE;
    stamp := clock_timestamp();
    IF NOT FOUND THEN
        IF NOT p_create THEN
            RETURN QUERY SELECT 'fallback'::text, false, NULL::jsonb, NULL::jsonb, NULL::boolean, NULL::timestamptz;
            RETURN;
        END IF;
        d := jsonb_populate_record(NULL::{definitions}, p_definition);
        d.id := nextval(pg_get_serial_sequence('{definitions}', 'id'));
        d.created_at := stamp;
        d.updated_at := stamp;
        -- A concurrent first registration of the name makes this wait for it and then do nothing.
        INSERT INTO {definitions} SELECT (d).* ON CONFLICT (name) DO NOTHING;
        IF FOUND THEN
            was_created := true;
        ELSE
            SELECT * INTO d FROM {definitions} WHERE name = p_name FOR UPDATE;
            stamp := clock_timestamp();
        END IF;
    END IF;
    -- Nothing has been written unless the definition was created; the cases the ORM path words (a deleted
    -- definition, a definition-wide field that changes, a version number already taken) go back to it.
    IF d.deleted_at IS NOT NULL OR (NOT was_created AND EXISTS (
        SELECT 1 FROM jsonb_each(p_parent) p WHERE to_jsonb(d) -> p.key IS DISTINCT FROM p.value
    )) THEN
        RETURN QUERY SELECT 'fallback'::text, false, NULL::jsonb, NULL::jsonb, NULL::boolean, NULL::timestamptz;
        RETURN;
    END IF;
    -- A document that leaves out a definition-wide field the search text includes (a model's family): the text
    -- takes the stored value (p_search: the parts in order, {{"parent": field}} for those). Python lowercases
    -- the other parts; PostgreSQL's lower() agrees with Python's on ASCII only, so other text goes back.
    IF p_search IS NOT NULL AND NOT was_created AND EXISTS (
        SELECT 1 FROM jsonb_array_elements(p_search) p
        WHERE jsonb_typeof(p.value) = 'object' AND (
            jsonb_typeof(to_jsonb(d) -> (p.value ->> 'parent')) NOT IN ('string', 'null')
            OR octet_length(to_jsonb(d) ->> (p.value ->> 'parent')) <> char_length(to_jsonb(d) ->> (p.value ->> 'parent'))
        )
    ) THEN
        RETURN QUERY SELECT 'fallback'::text, false, NULL::jsonb, NULL::jsonb, NULL::boolean, NULL::timestamptz;
        RETURN;
    END IF;
    v := jsonb_populate_record(NULL::{versions}, p_version);
    v.{parent} := d.id;
    v.created_at := stamp;
    v.updated_at := stamp;
    IF p_search IS NOT NULL THEN
        v.search_text := (
            SELECT string_agg(
                CASE WHEN jsonb_typeof(p.value) = 'string' THEN p.value #>> '{{}}'
                     ELSE lower(COALESCE(to_jsonb(d) ->> (p.value ->> 'parent'), '')) END,
                chr(10) ORDER BY p.ordinality)
            FROM jsonb_array_elements(p_search) WITH ORDINALITY p
        );
    END IF;
    IF NOT was_created THEN
        PERFORM 1 FROM {versions} x WHERE x.{parent} = d.id AND x.major = v.major AND x.minor = v.minor
            AND x.patch = v.patch AND x.prerelease = v.prerelease;
        IF FOUND THEN
            RETURN QUERY SELECT 'fallback'::text, false, NULL::jsonb, NULL::jsonb, NULL::boolean, NULL::timestamptz;
            RETURN;
        END IF;
        IF d.latest_version_id IS NOT NULL THEN
            SELECT * INTO l FROM {versions} x WHERE x.id = d.latest_version_id;
        END IF;
    END IF;
    -- DefinitionVersion.latest_rank, compared as Python compares it (prerelease_key byte by byte).
    v.is_latest := l.id IS NULL OR
        ROW(v.status <> 'archived', v.prerelease = '', v.major, v.minor, v.patch, v.prerelease_key COLLATE "C")
        > ROW(l.status <> 'archived', l.prerelease = '', l.major, l.minor, l.patch, l.prerelease_key COLLATE "C");
    IF v.is_latest AND l.id IS NOT NULL THEN
        -- Before the insert: the one-latest constraint is checked row by row.
        UPDATE {versions} x SET is_latest = false WHERE x.{parent} = d.id AND x.is_latest;
    END IF;
    -- effective_tags_of: the version's tags, then the definition's it does not carry itself.
    v.effective_tags := COALESCE(v.tags, '[]'::jsonb) || COALESCE((
        SELECT jsonb_agg(t.value ORDER BY t.ordinality)
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.tags) = 'array' THEN d.tags ELSE '[]'::jsonb END)
            WITH ORDINALITY t
        WHERE NOT COALESCE(v.tags, '[]'::jsonb) @> jsonb_build_array(t.value)
    ), '[]'::jsonb);
    v.search_vector := to_tsvector('simple'::regconfig, COALESCE(v.search_text, ''));
    INSERT INTO {versions} SELECT (v).*;
    UPDATE {definitions} x SET updated_at = stamp,
        latest_version_id = CASE WHEN v.is_latest THEN v.id ELSE x.latest_version_id END
        WHERE x.id = d.id RETURNING * INTO d;
    RETURN QUERY SELECT 'registered'::text, was_created, to_jsonb(d),
        CASE WHEN l.id IS NULL THEN NULL ELSE jsonb_build_object(
            'version', l.version, 'major', l.major, 'minor', l.minor, 'patch', l.patch, 'prerelease', l.prerelease
        ) END,
        v.is_latest, stamp;
END
$registration$;
"""


def registration_function(function: str, definitions: str, versions: str, parent: str) -> RunSQLOnPostgreSQL:
    """Create the PostgreSQL function that registers a version of one kind in one call (``registry_project.
    one_statement``): lock or create the definition, check the number is free, move the latest flag, insert the
    version and repoint the definition, under the same lock and constraints as the ORM path, which it hands
    back to (having written nothing) for every case it does not handle."""
    return RunSQLOnPostgreSQL(
        REGISTRATION_FUNCTION_V1.format(function=function, definitions=definitions, versions=versions, parent=parent),
        f"DROP FUNCTION IF EXISTS {function}(text, boolean, jsonb, jsonb, jsonb, jsonb)",
    )


_ACTIVATION_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION {function}(p_version uuid, p_kind text)
RETURNS TABLE (r_outcome text, r_version jsonb, r_definition jsonb, r_aliases text, r_changes jsonb, r_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $activation$
DECLARE
    d {definitions}%ROWTYPE;
    v {versions}%ROWTYPE;
    previous text;
    changes jsonb := '{{}}'::jsonb;
    stamp timestamptz;  -- read once the lock is held, as in the registration function
BEGIN
    -- The definition's row lock serialises every lifecycle move of its versions; the version is read after it.
    SELECT * INTO d FROM {definitions} WHERE id = (SELECT x.{parent} FROM {versions} x WHERE x.id = p_version) FOR UPDATE;
    stamp := clock_timestamp();
    SELECT * INTO v FROM {versions} x WHERE x.id = p_version;
    IF NOT FOUND OR v.status = 'archived' THEN
        -- The ORM path words the refusal (an archived version cannot be activated).
        RETURN QUERY SELECT 'fallback'::text, NULL::jsonb, NULL::jsonb, NULL::text, NULL::jsonb, NULL::timestamptz;
        RETURN;
    END IF;
    IF v.is_current THEN
        previous := v.version;  -- the one-current constraint: nothing else to clear
    ELSE
        UPDATE {versions} x SET is_current = false, updated_at = stamp WHERE x.{parent} = d.id AND x.is_current
            RETURNING x.version INTO previous;
    END IF;
    -- _set_lifecycle's entry: what changed, and which version was current before and after.
    IF v.status <> 'active' THEN
        changes := changes || jsonb_build_object('status', jsonb_build_array(v.status, 'active'));
    END IF;
    IF NOT v.is_current THEN
        changes := changes || jsonb_build_object('is_current', jsonb_build_array(false, true));
    END IF;
    IF previous IS DISTINCT FROM v.version THEN
        changes := changes || jsonb_build_object('current', jsonb_build_array(previous, v.version));
    END IF;
    UPDATE {versions} x SET status = 'active', is_current = true, updated_at = stamp WHERE x.id = v.id RETURNING * INTO v;
    IF d.current_version_id IS DISTINCT FROM v.id THEN
        UPDATE {definitions} x SET current_version_id = v.id WHERE x.id = d.id RETURNING * INTO d;
    END IF;
    RETURN QUERY SELECT 'activated'::text, to_jsonb(v) - 'search_vector', to_jsonb(d),
        (SELECT string_agg(a.alias, ',') FROM registry_alias a WHERE a.kind = p_kind AND a.version_id = v.id),
        changes, stamp;
END
$activation$;
"""


def activation_function(function: str, definitions: str, versions: str, parent: str) -> RunSQLOnPostgreSQL:
    """Create the PostgreSQL function that activates a version of one kind in one call (``registry_project.
    one_statement``): the definition's lock, the previous current version cleared, this one made current, the
    pointer moved, and what the change-log entry records. An archived version is handed back to the ORM path."""
    return RunSQLOnPostgreSQL(
        _ACTIVATION_FUNCTION_V1.format(function=function, definitions=definitions, versions=versions, parent=parent),
        f"DROP FUNCTION IF EXISTS {function}(uuid, text)",
    )
