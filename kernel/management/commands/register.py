"""Register definition documents (JSON or YAML) from files: the same validation and errors as the API."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kernel.documents.files import check_files, definition_models
from kernel.exceptions import RegistryError
from kernel.models import changelog
from kernel.rules.validation import DocumentInvalid
from kernel.writes import lifecycle
from kernel.writes.register import register


class Command(BaseCommand):
    help = (
        "Register model, pipeline or policy versions from files (one document or a list per file; kind detected or "
        "given). Files are registered in order, so a model's file can precede the pipeline naming it. Exit status: "
        "0 all registered, 1 some invalid, conflicting or unreadable (the others are registered)."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument(
            "--kind", choices=sorted(definition_models()), help="The documents' kind (default: detected)."
        )
        parser.add_argument(
            "--activate", action="store_true", help="Make each registered version its definition's current one."
        )

    def handle(self, *, files, kind, activate, **options):
        with changelog.acting_as("command:register"):
            self.register_all(files, kind, activate)

    def register_all(self, files, kind, activate) -> None:
        models = definition_models()
        failed = 0
        for item in check_files(files, kind):
            try:
                if item.errors:
                    raise DocumentInvalid(item.errors)
                registration = register(models[item.kind], item.source)
                if activate:
                    lifecycle.activate(registration.version)
            except DocumentInvalid as exc:
                failed += 1
                for error in exc.errors:
                    self.stderr.write(f"{item.label}: {error.path or '/'}: {error.code}: {error.message}")
                continue
            except RegistryError as exc:
                failed += 1
                self.stderr.write(f"{item.label}: {exc.path or '/'}: {exc.code}: {exc.message}")
                continue
            for warning in registration.warnings:
                self.stdout.write(f"{item.label}: {warning.path}: warning {warning.code}: {warning.message}")
            if registration.existing:
                self.stdout.write(f"{item.label}: already registered {item.kind} {registration.version} (unchanged)")
            else:
                self.stdout.write(f"{item.label}: registered {item.kind} {registration.version}")
        if failed:
            raise CommandError(f"{failed} document(s) not registered.", returncode=1)
