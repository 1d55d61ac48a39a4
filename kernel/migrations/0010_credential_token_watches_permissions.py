"""The credential token also changes with any change to who holds which permission: a user's own permissions, a
user's groups, a group's permissions, and the permissions themselves. The verified-key cache keeps each key's
user with the permissions it held when the key was verified (kernel.credentials), so a revoked
permission must invalidate it on the next request exactly as a revoked key does.
"""

from django.conf import settings
from django.db import migrations

GENERATION = "registry_project_credentialgeneration"
FUNCTION = "registry_project_change_credential_token"  # created by 0002_credential_generation


def permission_tables(apps) -> list[str]:
    user = apps.get_model(settings.AUTH_USER_MODEL)
    group = apps.get_model("auth", "Group")
    tables = [apps.get_model("auth", "Permission")._meta.db_table, group.permissions.through._meta.db_table]
    for name in ("groups", "user_permissions"):  # a custom user model may have neither
        try:
            tables.append(user._meta.get_field(name).remote_field.through._meta.db_table)
        except Exception:
            continue
    return tables


def watch_permissions(apps, schema_editor):
    execute = schema_editor.execute
    for table in permission_tables(apps):
        if schema_editor.connection.vendor == "postgresql":
            execute(
                f"CREATE TRIGGER {table}_credential_token AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )
        else:
            # An UPDATE, not INSERT OR REPLACE as in 0002: SQLite applies the firing statement's conflict policy to
            # the trigger's own statements, and Django adds m2m rows with INSERT OR IGNORE, which would turn the
            # replace into an ignore and leave the token unchanged. The row exists since 0002.
            for event in ("INSERT", "UPDATE", "DELETE"):
                execute(
                    f"CREATE TRIGGER {table}_credential_token_{event.lower()} AFTER {event} ON {table} BEGIN "
                    f"UPDATE {GENERATION} SET token = lower(hex(randomblob(16))) WHERE id = 1; END"
                )


def unwatch_permissions(apps, schema_editor):
    for table in permission_tables(apps):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_credential_token ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_credential_token_{event}")


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("registry_project", "0009_credential_token_ignores_last_used_at"),
    ]

    operations = [
        migrations.RunPython(watch_permissions, unwatch_permissions),
    ]
