"""Two indexes of the model-version table that no query needs, dropped because retention rewrites rows by the
hundred thousand and every index of a row costs each rewrite (status is indexed, so an archive is never a HOT
update): measured at ~10% of the WAL records and buffer accesses of an archiving batch.

- ``model_id`` alone: the unique (model_id, major, minor, patch, prerelease) index leads with it.
- ``status`` with ``varchar_pattern_ops`` (Django adds it beside every indexed CharField on PostgreSQL): only
  ``LIKE 'prefix%'`` uses it, and nothing matches a status by prefix. The plain ``status`` index stays.
"""

import django.db.models.deletion
from django.db import migrations, models


LIKE_INDEX = "models_app_modelversion_status_4d7fe761_like"


def drop_status_prefix_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")


def create_status_prefix_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON models_app_modelversion (status varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0007_merge_0002_name_anchored_0006_merge_20261123_1515"),
    ]

    operations = [
        migrations.AlterField(
            model_name="modelversion",
            name="model",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="versions",
                to="models_app.model",
            ),
        ),
        # Not in Django's model state (it comes with db_index on a CharField, on PostgreSQL only), hence SQL.
        migrations.RunPython(drop_status_prefix_index, create_status_prefix_index),
    ]
