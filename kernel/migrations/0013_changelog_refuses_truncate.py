"""The change log refuses TRUNCATE on PostgreSQL too (migration 0002's row trigger cannot see it: TRUNCATE fires
no row triggers). A statement-level BEFORE TRUNCATE trigger refuses it, ``manage.py flush`` included, for every
role, unless the session says it resets this database on purpose: ``registry.changelog_truncate = 'allowed'``
(``kernel.models.changelog.TRUNCATE_ALLOWANCE``), which the test suite sets on its own test database so that
pytest-django's flushes between transactional tests keep working. SQLite, the embedded default, relies on the
application never offering an edit, as for UPDATE and DELETE."""

from django.db import migrations

# The literal setting name and value are kernel.models.changelog.TRUNCATE_ALLOWANCE (frozen here, as a migration
# must be). No '%' in the SQL: schema_editor.execute formats it with an empty parameter list.
REFUSE_TRUNCATE = """
CREATE OR REPLACE FUNCTION registry_changelog_refuses_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('registry.changelog_truncate', true) = 'allowed' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'registry_changelog is append-only: TRUNCATE refused'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'The change log is the registry''s audit trail and webhook outbox; no entry is ever removed.',
              HINT = 'Only a database being reset on purpose (a test database) sets registry.changelog_truncate = ''allowed''.';
END
$$;
CREATE TRIGGER registry_changelog_refuses_truncate BEFORE TRUNCATE ON registry_changelog
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changelog_refuses_truncate();
"""
ALLOW_TRUNCATE = """
DROP TRIGGER IF EXISTS registry_changelog_refuses_truncate ON registry_changelog;
DROP FUNCTION IF EXISTS registry_changelog_refuses_truncate();
"""


def refuse_truncate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_TRUNCATE)


def allow_truncate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALLOW_TRUNCATE)


class Migration(migrations.Migration):
    dependencies = [
        ("registry_project", "0012_idempotency_key"),
    ]

    operations = [
        migrations.RunPython(refuse_truncate, allow_truncate),
    ]
