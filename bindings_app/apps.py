from django.apps import AppConfig


class BindingsAppConfig(AppConfig):
    name = "bindings_app"
    verbose_name = "Provider bindings"

    def ready(self) -> None:
        from bindings_app.guards import (
            bindings_of_model,
            bindings_of_model_version,
            model_versions_with_bindings,
            models_with_bindings,
        )
        from kernel.rules.dependencies import register_guard

        # The model app asks these before archiving a version or deleting a model; it never imports us.
        register_guard("models_app.Model", bindings_of_model, protected_ids=models_with_bindings)
        register_guard("models_app.ModelVersion", bindings_of_model_version, protected_ids=model_versions_with_bindings)

    def load_examples(self, stdout) -> None:
        """Create the bindings in examples/bindings.json (idempotent); ``load_examples`` calls this after the
        models are registered."""
        import json
        from pathlib import Path

        from bindings_app.models import ProviderBinding
        from kernel.reads.lookups import lookup
        from models_app.models import Model

        for entry in json.loads((Path(self.path) / "examples" / "bindings.json").read_text()):
            version = lookup(Model, entry.pop("model"), entry.pop("version"))
            placement = {k: entry[k] for k in ("provider", "region", "environment")}
            label = f"binding {version}: {'/'.join(placement.values())}"
            if ProviderBinding.objects.filter(model_version=version, **placement).exists():
                stdout.write(f"  {label}: already there")
                continue
            ProviderBinding.deploy(version, **entry)
            stdout.write(f"  {label}: created")
