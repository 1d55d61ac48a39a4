"""Run the restore check now, as the beat job does (``kernel.backup_jobs.check_restore``)."""

from django.core.management.base import BaseCommand, CommandError

from kernel.backup_jobs import RestoreCheckFailed, restore_check_job


class Command(BaseCommand):
    help = (
        "Restore the newest backup into a scratch database and compare it with what it held when taken. "
        "Exit status: 0 it matched (or there is no backup yet), 1 it did not."
    )

    def handle(self, **options):
        try:
            checked = restore_check_job()
        except RestoreCheckFailed as exc:
            raise CommandError(f"the newest backup failed its restore check: {exc}", returncode=1) from None
        self.stdout.write("no backup yet" if checked is None else f"{checked.key} restored and matched")
