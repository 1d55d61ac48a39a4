"""Write a complete backup of the registry as JSON Lines (``kernel.backup``), streamed."""

from django.core.management.base import BaseCommand

from kernel import backup
from kernel.management.progress import progress_bar


class Command(BaseCommand):
    help = "Export every definition, version and lifecycle state (and each plugged-in section) to PATH (.gz compresses; - is stdout)."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *, path, **options):
        with backup.open_export(path, "w") as out, progress_bar(None, "export", unit="rec") as advance:
            counts = backup.export_registry(out, progress=advance)
        summary = ", ".join(f"{n} {section} records" for section, n in counts.items())
        (self.stderr if path == "-" else self.stdout).write(f"exported {summary}")
