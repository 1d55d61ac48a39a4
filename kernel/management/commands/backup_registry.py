"""Take a backup now, as the beat job does (``kernel.backup_jobs.take_backup``)."""

from django.core.management.base import BaseCommand

from kernel.backup_jobs import backup_job


class Command(BaseCommand):
    help = "Write a backup to the artifact storage under BACKUP_PREFIX, record it, keep the newest BACKUP_KEEP."

    def handle(self, **options):
        taken = backup_job()
        self.stdout.write(f"backed up to {taken.key}: {taken.size_bytes} bytes, sha256 {taken.sha256}, {taken.counts}")
