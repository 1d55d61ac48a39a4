from django.apps import AppConfig


class PipelinesAppConfig(AppConfig):
    name = "pipelines_app"
    verbose_name = "Pipeline registry"

    def ready(self) -> None:
        from kernel.rules.dependencies import register_guard, register_name_guard
        from pipelines_app.guards import (
            model_versions_protected,
            pipelines_naming_model,
            pipelines_using_alias,
            pipelines_using_model,
            pipelines_using_model_version,
        )

        # The model app asks these before archiving a version or deleting a model; it never imports us.
        register_guard("models_app.Model", pipelines_using_model)
        register_guard("models_app.ModelVersion", pipelines_using_model_version, protected_ids=model_versions_protected)
        register_guard("registry_project.Alias", pipelines_using_alias)
        # Renaming a model is refused while a pipeline's steps name it (kernel.writes.rename).
        register_name_guard("models_app.Model", pipelines_naming_model)
