"""Restore a backup written by ``export_registry``: all of it in one transaction, or nothing."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from kernel import backup
from kernel.management.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Import an export (PATH, .gz or - for stdin). The file must end with its trailer (its sha256 and counts), "
        "checked before anything is committed. Into a registry that already holds a definition or version of the "
        "file, the import is refused unless --on-conflict skip keeps what exists. Exit status: 0 imported, "
        "1 conflicts refused, 2 unreadable, cut, altered or invalid file, 3 references to users that do not exist."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--on-conflict",
            choices=backup.CONFLICT_POLICIES,
            default="fail",
            help="fail (default): import nothing if anything collides; skip: keep existing records, import the rest.",
        )
        parser.add_argument(
            "--missing-users",
            choices=("fail", "null"),
            default=None,
            help="A record names a user this registry does not have. fail (default): import nothing and list them; "
            "null: import the references as empty and list them.",
        )
        parser.add_argument(
            "--map-missing-users-to",
            metavar="USERNAME",
            help="Give references to users this registry does not have to this (existing) user, and list them.",
        )
        parser.add_argument(
            "--allow-untrailed",
            action="store_true",
            help="Also read format_version 1 files, written before exports carried a trailer (nothing proves them "
            "whole).",
        )

    def handle(self, *, path, on_conflict, missing_users, map_missing_users_to, allow_untrailed, **options):
        if missing_users and map_missing_users_to:
            raise CommandError("Give --missing-users or --map-missing-users-to, not both.", returncode=2)
        policy = "map" if map_missing_users_to else (missing_users or "fail")
        try:
            if path != "-":  # a file can be read twice: the whole of it is checked before any database work
                with backup.open_export(path, "r") as lines:
                    backup.check_file(lines, allow_untrailed=allow_untrailed)
            with backup.open_export(path, "r") as lines, progress_bar(None, "import", unit="rec") as advance:
                context = backup.import_registry(
                    lines,
                    on_conflict=on_conflict,
                    missing_users=policy,
                    map_missing_users_to=map_missing_users_to,
                    allow_untrailed=allow_untrailed,
                    progress=advance,
                )
        except backup.ImportConflict as exc:
            for label in exc.conflicts[:100]:
                self.stderr.write(f"conflict: {label} already exists")
            raise CommandError(str(exc), returncode=1) from None
        except backup.MissingUsers as exc:
            for username, references in sorted(exc.missing.items()):
                self.stderr.write(f"missing user: {username} ({references} reference(s))")
            raise CommandError(str(exc), returncode=3) from None
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
        became = f"given to {map_missing_users_to}" if policy == "map" else "set to null"
        for username, references in sorted(context.missing.items()):
            self.stdout.write(f"missing user: {username} ({references} reference(s) {became})")
