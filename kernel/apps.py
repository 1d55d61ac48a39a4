from django.apps import AppConfig


class KernelConfig(AppConfig):
    """The registry's shared kernel: what every versioned kind has (identity, versions, lifecycle, aliases, the
    change log, webhooks, API keys), laid out by layer. Its label stays ``registry_project``, the package it grew
    up in, so that every table name and the migration history are unchanged."""

    name = "kernel"
    label = "registry_project"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from kernel.metrics import register_collector, watch_statements
        from kernel.models.aliases import register_alias_guards
        from registry_project import checks  # noqa: F401  (registers the system checks)

        register_collector()
        connection_created.connect(watch_statements, dispatch_uid="registry-watch-statements")
        register_alias_guards()
