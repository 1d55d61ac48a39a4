from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from kernel.api.health import register_check
        from kernel.rules.dependencies import register_name_guard
        from models_app.artifacts.storage import probe
        from models_app.guards import stored_under_its_name
        from models_app.metrics import register_collector

        register_collector()
        register_name_guard("models_app.Model", stored_under_its_name)
        register_check("storage", probe)  # reachable and writable; degraded, not unready (kernel/api/health.py)
