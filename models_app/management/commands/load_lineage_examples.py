"""Register the example lineage chain (models_app/examples/lineage/*.json, in file-name order): a baseline, its
retrain and a finetune with contributors, and a quantized model derived across models. Idempotent."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kernel.exceptions import Conflict
from kernel.rules.validation import DocumentInvalid
from kernel.writes.register import register
from models_app.models import Model

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "lineage"


class Command(BaseCommand):
    help = "Register the example lineage chain with metrics and contributors."

    def handle(self, **options):
        for path in sorted(FOLDER.glob("*.json")):
            document = json.loads(path.read_text())
            label = f"  model {document['name']}@{document['version']}"
            try:
                registration = register(Model, document)
            except Conflict as exc:
                self.stdout.write(f"{label}: left as it is ({exc.message})")
                continue
            except DocumentInvalid as exc:
                raise CommandError(f"{path}: {exc}") from None
            self.stdout.write(f"{label}: {'already registered' if registration.existing else 'registered'}")
