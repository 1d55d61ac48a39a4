from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from kernel.api.health import register_check
        from models_app.artifacts.storage import probe
        from models_app.metrics import register_collector

        register_collector()
        register_check("storage", probe)  # reachable and writable; degraded, not unready (kernel/api/health.py)
