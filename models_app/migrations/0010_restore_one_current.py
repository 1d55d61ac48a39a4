"""Put back the partial unique index that keeps one current version per model.

0008_retention_fewer_version_indexes turned off ``db_index`` on ``ModelVersion.model``; Django then dropped every
btree index on ``model_id`` alone, which included ``models_app_modelversion_one_current`` (``UNIQUE (model_id)
WHERE is_current``), while its migration state still lists the constraint. Created again here if it is missing
(tests/models_app/test_concurrency.py checks the database refuses a second current version).
"""

from django.db import migrations

SQL = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "models_app_modelversion_one_current" '
    'ON "models_app_modelversion" ("model_id") WHERE "is_current"'
)


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0009_merge_20261202_1642"),
    ]

    operations = [migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop)]
