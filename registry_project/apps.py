from django.apps import AppConfig


class RegistryProjectConfig(AppConfig):
    name = "registry_project"
    verbose_name = "Registry"

    def ready(self) -> None:
        from registry_project import checks  # noqa: F401  (registers the system checks)
        from registry_project.aliases import register_alias_guards
        from registry_project.metrics import register_collector

        register_collector()
        register_alias_guards()
