"""A model's classification (issue #27): ``task`` and ``labels``, model-wide; ``?label=`` is JSONB containment,
answered by a GIN index on PostgreSQL."""

from django.db import migrations, models

from kernel.migration_operations import RunSQLOnPostgreSQL


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0013_mlflow_version_number"),
    ]

    operations = [
        migrations.AddField(
            model_name="model",
            name="task",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="model",
            name="labels",
            field=models.JSONField(blank=True, help_text="Key-value labels, e.g. subject: math.", null=True),
        ),
        RunSQLOnPostgreSQL(
            "CREATE INDEX models_app_model_labels_gin ON models_app_model USING gin (labels jsonb_path_ops)",
            "DROP INDEX IF EXISTS models_app_model_labels_gin",
        ),
    ]
