"""Apply retention now: the same ``Model.objects.apply_retention`` as beat's task and the API."""

import json

from django.core.management.base import BaseCommand, CommandError

from kernel.management.progress import progress_bar
from models_app.models import MAX_RETENTION_KEEP, Model


def keep_value(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_RETENTION_KEEP:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Archive model versions beyond each model's newest `keep` releases (never the current one nor one in use) "
        "and purge long-archived ones. Exit status: 0 done, 1 some purges failed (reported), 2 bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="Only this model (by name).")
        parser.add_argument(
            "--keep",
            type=keep_value,
            help=f"Keep this many newest releases (1-{MAX_RETENTION_KEEP}) instead of each model's setting.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; change nothing.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the full report as JSON.")

    def handle(self, *, model, keep, dry_run, as_json: bool, **options):
        models = Model.objects.all()
        if model is not None:
            if not Model.objects.alive().filter(name=model).exists():
                raise CommandError(f"No model named {model!r}.", returncode=2)
            models = models.filter(name=model)
        with progress_bar(models.alive().count(), "retention", unit="model") as advance:
            report = models.apply_retention(keep=keep, dry_run=dry_run, progress=advance)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            counts = report.counts
            verb = "would archive" if dry_run else "archived"
            self.stdout.write(
                f"{counts['models']} models: {verb} {counts['archived']}, kept {counts['protected']} protected, "
                f"{'would purge' if dry_run else 'purged'} {counts['purged']}, purge failures {counts['purge_failed']}"
            )
            for item in report.protected:
                self.stdout.write(f"  kept {item['name']}@{item['version']}: {'; '.join(item['reasons'])}")
        if report.counts["purge_failed"]:
            for item in report.purge_failed:
                self.stderr.write(f"purge failed: {item['name']}@{item['version']}: {item['error']}")
            raise CommandError(
                f"{report.counts['purge_failed']} purge(s) failed; those versions stay archived.", returncode=1
            )
