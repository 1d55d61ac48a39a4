"""Restore a backup written by ``export_registry``: all of it in one transaction, or nothing."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from kernel import backup
from kernel.management.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Import an export (PATH, .gz or - for stdin). Into a registry that already holds a definition or version of "
        "the file, the import is refused unless --on-conflict skip keeps what exists. Exit status: 0 imported, "
        "1 conflicts refused, 2 unreadable or invalid file."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--on-conflict",
            choices=backup.CONFLICT_POLICIES,
            default="fail",
            help="fail (default): import nothing if anything collides; skip: keep existing records, import the rest.",
        )

    def handle(self, *, path, on_conflict, **options):
        try:
            with backup.open_export(path, "r") as lines, progress_bar(None, "import", unit="rec") as advance:
                context = backup.import_registry(lines, on_conflict=on_conflict, progress=advance)
        except backup.ImportConflict as exc:
            for label in exc.conflicts[:100]:
                self.stderr.write(f"conflict: {label} already exists")
            raise CommandError(str(exc), returncode=1) from None
        except (backup.BackupError, OSError, UnicodeDecodeError, EOFError) as exc:
            raise CommandError(f"{path}: {exc}; nothing was imported.", returncode=2) from None
        except DatabaseError as exc:
            raise CommandError(
                f"{path}: the registry refused a record ({exc}); nothing was imported.".replace("\n", " "), returncode=2
            ) from None
        summary = ", ".join(f"{n} {section} records" for section, n in context.imported.items())
        self.stdout.write(
            f"imported {summary}" + (f"; kept {len(context.skipped)} existing" if context.skipped else "")
        )
        for label in context.skipped[:100]:
            self.stdout.write(f"  kept existing {label}")
