"""Lint definition documents (JSON or YAML) with the API's validators, for CI pipelines."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kernel.documents.files import check_files, definition_models


class Command(BaseCommand):
    help = (
        "Validate model, pipeline or policy documents without registering them. Each error names the file and the "
        "JSON Pointer. Exit status: 0 all valid, 1 some invalid or unreadable."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument(
            "--kind", choices=sorted(definition_models()), help="The documents' kind (default: detected)."
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="One JSON report per file on stdout.")

    def handle(self, *, files, kind, as_json, **options):
        failed = 0
        for item in check_files(files, kind):
            failed += bool(item.errors)
            self.report(
                as_json,
                {
                    "file": item.label,
                    "kind": item.kind,
                    "valid": not item.errors,
                    "errors": [e.as_dict() for e in item.errors],
                    "warnings": [w.as_dict() for w in item.warnings],
                },
            )
        if failed:
            raise CommandError(f"{failed} document(s) invalid.", returncode=1)

    def report(self, as_json: bool, result: dict) -> None:
        if as_json:
            self.stdout.write(json.dumps(result, sort_keys=True))
            return
        for error in result["errors"]:
            self.stderr.write(f"{result['file']}: {error['path'] or '/'}: {error['code']}: {error['message']}")
        for warning in result.get("warnings", []):
            self.stdout.write(
                f"{result['file']}: {warning['path'] or '/'}: warning {warning['code']}: {warning['message']}"
            )
        if result["valid"]:
            self.stdout.write(f"{result['file']}: valid {result['kind']}")
