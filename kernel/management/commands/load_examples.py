"""Load every app's example documents (``<app>/examples/*.json``), in INSTALLED_APPS order so models exist
before the pipelines that name them. Idempotent: a version already registered is left as it is."""

import json
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from kernel.exceptions import Conflict
from kernel.models.changelog import acting_as
from kernel.models.definitions import Definition
from kernel.rules.validation import DocumentInvalid
from kernel.writes.lifecycle import activate
from kernel.writes.register import register


def definition_model_of(app_config) -> type[Definition] | None:
    for model in app_config.get_models():
        if issubclass(model, Definition):
            return model
    return None


class Command(BaseCommand):
    help = "Register the example documents shipped in each app's examples/ folder."

    def handle(self, **options):
        with acting_as("command:load_examples"):
            self.load_all()

    def load_all(self) -> None:
        for app_config in apps.get_app_configs():
            folder = Path(app_config.path) / "examples"
            if hasattr(app_config, "load_examples"):  # an app of plain entities (bindings) loads its own
                app_config.load_examples(self.stdout)
                continue
            definition_model = definition_model_of(app_config)
            if definition_model is None or not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.json")):
                document = json.loads(path.read_text())
                label = f"  {definition_model.kind} {document['name']}@{document['version']}"
                try:
                    registration = register(definition_model, document)
                except Conflict as exc:
                    self.stdout.write(f"{label}: left as it is ({exc.message})")
                    continue
                except DocumentInvalid as exc:
                    raise CommandError(f"{path}: {exc}") from None
                if registration.existing:  # the same spec: a retry, nothing written
                    self.stdout.write(f"{label}: already registered")
                    continue
                version = registration.version
                if not version.definition.versions.current().exists():
                    activate(version)
                self.stdout.write(f"{label}: registered")
