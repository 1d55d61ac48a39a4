"""The restore check's child process (``kernel.backup_jobs.load_into_scratch``): restore a backup into the EMPTY
database of ``DATABASE_URL`` exactly as an operator would (``migrate``, then ``import_registry``), and print one
JSON line: what the restored registry holds (its records per section, its export's digest, its census), or
``{"error": ...}``. It refuses a database that has any table, so it can never write into a live registry."""

import json
import os
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from kernel import backup, backup_jobs


class Command(BaseCommand):
    help = "Internal to the restore check: restore PATH into the empty scratch database of DATABASE_URL."
    requires_system_checks = []  # the worker that starts it has run them; a restore check waits on nothing else

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--users-from", required=True, help="JSON list of the usernames to create first.")

    def handle(self, *, path, users_from, **options):
        if os.environ.get("REGISTRY_RESTORE_SCRATCH") != "1" or connection.introspection.table_names():
            raise CommandError("This loads a backup into an empty scratch database only (see check_restore).")
        call_command("migrate", verbosity=0, interactive=False, skip_checks=True)
        model = get_user_model()
        usernames = json.loads(Path(users_from).read_text())
        model.objects.bulk_create(
            [model(**{model.USERNAME_FIELD: name, "password": make_password(None)}) for name in usernames]
        )
        try:
            with backup.open_export(path, "r") as lines:
                context = backup.import_registry(lines)
        except (backup.BackupError, backup.ImportConflict, backup.MissingUsers, DatabaseError, OSError) as exc:
            self.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:1000]}))
            return
        with tempfile.TemporaryDirectory() as folder:
            again = os.path.join(folder, "again.jsonl")
            counts, export_sha256, found = backup_jobs.export_file(again)
        self.stdout.write(
            json.dumps(
                {"imported": context.imported, "counts": counts, "export_sha256": export_sha256, "census": found}
            )
        )
