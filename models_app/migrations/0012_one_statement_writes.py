"""The PostgreSQL function that registers and activates a model version in one statement (``kernel.fastpaths.one_statement``)."""

from django.db import migrations

from kernel.migration_operations import activation_function, registration_function


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0011_retention_live_releases"),
    ]

    operations = [
        registration_function(
            "models_app_model_register_v1", "models_app_model", "models_app_modelversion", "model_id"
        ),
        activation_function("models_app_model_activate_v1", "models_app_model", "models_app_modelversion", "model_id"),
    ]
