"""The PostgreSQL function that registers a model version in one statement (``registry_project.registration``)."""

from django.db import migrations

from registry_project.migration_operations import registration_function


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0011_retention_live_releases"),
    ]

    operations = [
        registration_function("models_app_model_register_v1", "models_app_model", "models_app_modelversion", "model_id"),
    ]
