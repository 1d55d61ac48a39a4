"""The PostgreSQL function that registers and activates a pipeline version in one statement (``kernel.fastpaths.one_statement``)."""

from django.db import migrations

from kernel.migration_operations import activation_function, registration_function


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines_app", "0006_is_latest"),
    ]

    operations = [
        registration_function(
            "pipelines_app_pipeline_register_v1",
            "pipelines_app_pipeline",
            "pipelines_app_pipelineversion",
            "pipeline_id",
        ),
        activation_function(
            "pipelines_app_pipeline_activate_v1",
            "pipelines_app_pipeline",
            "pipelines_app_pipelineversion",
            "pipeline_id",
        ),
    ]
