"""Recording an API key's use (``last_used_at``, written at most once a minute) no longer changes the credential
token: the cached key is not checked against it, and bumping the token there made each key's first use in a
minute empty every process's verified-key cache (kernel.credentials). Any other change to an API key
(revoke, expiry, secret, owner, read-only flag, rate limits, name), and every insert, delete or truncate, still
changes it in the same transaction. The user table's trigger (0002_credential_generation) is unchanged.
"""

from django.db import migrations

GENERATION = "registry_project_credentialgeneration"
FUNCTION = "registry_project_change_credential_token"  # created by 0002_credential_generation
NOT_WATCHED = {"last_used_at"}


def key_table_and_columns(apps, schema_editor) -> tuple[str, str]:
    model = apps.get_model("registry_project", "ApiKey")
    quote = schema_editor.quote_name
    columns = [field.column for field in model._meta.concrete_fields if field.column not in NOT_WATCHED]
    return model._meta.db_table, ", ".join(quote(column) for column in columns)


def ignore_last_used_at(apps, schema_editor):
    table, columns = key_table_and_columns(apps, schema_editor)
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        execute(f"DROP TRIGGER IF EXISTS {table}_credential_token ON {table}")
        execute(
            f"CREATE TRIGGER {table}_credential_token AFTER INSERT OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
        # UPDATE OF fires when a watched column is assigned, changed or not (a model save() assigns them all).
        execute(
            f"CREATE TRIGGER {table}_credential_token_update AFTER UPDATE OF {columns} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    else:
        execute(f"DROP TRIGGER IF EXISTS {table}_credential_token_update")
        execute(
            f"CREATE TRIGGER {table}_credential_token_update AFTER UPDATE OF {columns} ON {table} BEGIN "
            f"INSERT OR REPLACE INTO {GENERATION} (id, token) VALUES (1, lower(hex(randomblob(16)))); END"
        )


def watch_every_update(apps, schema_editor):
    table, _ = key_table_and_columns(apps, schema_editor)
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        execute(f"DROP TRIGGER IF EXISTS {table}_credential_token_update ON {table}")
        execute(f"DROP TRIGGER IF EXISTS {table}_credential_token ON {table}")
        execute(
            f"CREATE TRIGGER {table}_credential_token AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    else:
        execute(f"DROP TRIGGER IF EXISTS {table}_credential_token_update")
        execute(
            f"CREATE TRIGGER {table}_credential_token_update AFTER UPDATE ON {table} BEGIN "
            f"INSERT OR REPLACE INTO {GENERATION} (id, token) VALUES (1, lower(hex(randomblob(16)))); END"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("registry_project", "0008_merge_20261123_1518"),
    ]

    operations = [
        migrations.RunPython(ignore_last_used_at, watch_every_update),
    ]
