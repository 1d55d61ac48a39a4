"""Every definition's key-value labels (issue #27); ``?label=`` is JSONB containment, answered by a GIN index on
PostgreSQL."""

from django.db import migrations, models

from kernel.migration_operations import RunSQLOnPostgreSQL


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines_app", "0007_one_statement_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipeline",
            name="labels",
            field=models.JSONField(blank=True, help_text="Key-value labels, e.g. subject: math.", null=True),
        ),
        RunSQLOnPostgreSQL(
            "CREATE INDEX pipelines_app_pipeline_labels_gin ON pipelines_app_pipeline USING gin (labels jsonb_path_ops)",
            "DROP INDEX IF EXISTS pipelines_app_pipeline_labels_gin",
        ),
    ]
