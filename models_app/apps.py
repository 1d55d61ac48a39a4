from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from models_app.metrics import register_collector

        register_collector()
