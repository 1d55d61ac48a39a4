"""MLflow's view of the registry (models_app/mlflow_api/): a version's MLflow number and a model's MLflow tags.

MLflow numbers a model's versions 1, 2, 3 in registration order. ``mlflow_number`` is that number, kept beside the
semver: existing versions are numbered in the order they were registered (created_at, then id), and from now on the
database numbers every inserted version (one more than the model's highest) in a trigger, so the ORM path and the
PostgreSQL one-statement registration (migration 0012, which inserts the row itself) both get one, with no Python
in between. Every registration holds the model row's lock while it inserts, so two never take the same number; the
unique constraint is the backstop. Versions are never removed (soft deletion, tombstones), so a number is never
reused, as in MLflow.
"""

from django.db import migrations, models

NUMBER_EXISTING = """
UPDATE models_app_modelversion SET mlflow_number = numbered.n
FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY model_id ORDER BY created_at, id) AS n FROM models_app_modelversion
) AS numbered
WHERE models_app_modelversion.id = numbered.id
"""

POSTGRESQL_TRIGGER = """
CREATE FUNCTION models_app_version_mlflow_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.mlflow_number IS NULL THEN
        SELECT COALESCE(MAX(mlflow_number), 0) + 1 INTO NEW.mlflow_number
        FROM models_app_modelversion WHERE model_id = NEW.model_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER models_app_version_mlflow_number BEFORE INSERT ON models_app_modelversion
FOR EACH ROW EXECUTE FUNCTION models_app_version_mlflow_number();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS models_app_version_mlflow_number ON models_app_modelversion;
DROP FUNCTION IF EXISTS models_app_version_mlflow_number();
"""

# SQLite's BEFORE triggers cannot set NEW's columns: the number is set right after the insert, in the same statement.
SQLITE_TRIGGER = """
CREATE TRIGGER models_app_version_mlflow_number AFTER INSERT ON models_app_modelversion
WHEN NEW.mlflow_number IS NULL
BEGIN
    UPDATE models_app_modelversion SET mlflow_number = (
        SELECT COALESCE(MAX(mlflow_number), 0) + 1 FROM models_app_modelversion WHERE model_id = NEW.model_id
    ) WHERE id = NEW.id;
END
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS models_app_version_mlflow_number"


def number_versions(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(NUMBER_EXISTING)


def create_trigger(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(POSTGRESQL_TRIGGER)
        else:
            cursor.execute(SQLITE_TRIGGER)


def drop_trigger(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(POSTGRESQL_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0012_one_statement_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="model",
            name="mlflow_tags",
            field=models.JSONField(
                blank=True, default=dict, editable=False, help_text="MLflow's registered-model tags (key -> value)."
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="mlflow_number",
            field=models.PositiveIntegerField(
                blank=True,
                editable=False,
                help_text="MLflow's version number: registration order per model.",
                null=True,
            ),
        ),
        migrations.RunPython(number_versions, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="modelversion",
            constraint=models.UniqueConstraint(
                fields=("model", "mlflow_number"), name="models_app_version_mlflow_number"
            ),
        ),
        # Last: on SQLite, AddConstraint rebuilds the table, and a rebuilt table has lost its triggers. A later
        # migration that rebuilds models_app_modelversion on SQLite must create this trigger again
        # (tests/mlflow_compat/test_numbering.py fails on the SQLite run if it is gone).
        migrations.RunPython(create_trigger, drop_trigger),
    ]
