"""Re-read every stored artifact file (or one model's), recompute its BLAKE3 and size, and report mismatches and
missing files; exits 1 when any file fails, so a cron job or CI step notices."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from kernel.models.changelog import acting_as
from models_app.artifacts.verify import verify_files
from models_app.models import ArtifactFile
from registry_project.private_apis.for_django import output_stream


class Command(BaseCommand):
    help = "Verify stored artifact files against their recorded BLAKE3 digests and sizes."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="Only this model's files.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, model: str | None = None, no_progress: bool = False, **options):
        files = ArtifactFile.objects.all()
        if model:
            files = files.of_model(model)
        total = files.count()
        progress = tqdm(total=total, unit="file", disable=no_progress, file=output_stream(self.stderr))
        with progress as bar, acting_as("command:verify_artifacts"):
            summary = verify_files(files, progress=lambda artifact: bar.update(1))
        for failure in summary["failures"]:
            self.stdout.write(f"{failure['integrity'].upper()}: {failure['file']}")
        self.stdout.write(
            f"checked {summary['checked']}: {summary['ok']} ok, {summary['mismatch']} mismatch, {summary['missing']} missing"
        )
        if summary["failures"]:
            raise CommandError(f"{len(summary['failures'])} artifact file(s) failed the integrity check.")
