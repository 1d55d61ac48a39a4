"""Every definition's key-value labels (issue #27); ``?label=`` is JSONB containment, answered by a GIN index on
PostgreSQL."""

from django.db import migrations, models

from kernel.migration_operations import RunSQLOnPostgreSQL


class Migration(migrations.Migration):
    dependencies = [
        ("policies_app", "0006_is_latest"),
    ]

    operations = [
        migrations.AddField(
            model_name="policy",
            name="labels",
            field=models.JSONField(blank=True, help_text="Key-value labels, e.g. subject: math.", null=True),
        ),
        RunSQLOnPostgreSQL(
            "CREATE INDEX policies_app_policy_labels_gin ON policies_app_policy USING gin (labels jsonb_path_ops)",
            "DROP INDEX IF EXISTS policies_app_policy_labels_gin",
        ),
    ]
