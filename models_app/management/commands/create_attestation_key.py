"""Create the Ed25519 key that signs attestations, at ATTESTATION_SIGNING_KEY_FILE (or --path)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from models_app.attestations.keys import generate_key


class Command(BaseCommand):
    help = "Write a new Ed25519 attestation signing key (PKCS#8 PEM, mode 0600) and print its key id."

    def add_arguments(self, parser):
        parser.add_argument("--path", help="Where to write it (default: ATTESTATION_SIGNING_KEY_FILE).")
        parser.add_argument("--if-missing", action="store_true", help="Do nothing when the file exists (make run).")

    def handle(self, path=None, if_missing=False, **options):
        target = Path(path or settings.ATTESTATION_SIGNING_KEY_FILE or "")
        if not str(target) or str(target) == ".":
            raise CommandError("Set ATTESTATION_SIGNING_KEY_FILE or pass --path.")
        if target.exists():
            if if_missing:
                return
            raise CommandError(
                f"{target} exists; to rotate, write the new key elsewhere and list the old one in ATTESTATION_RETIRED_KEY_FILES."
            )
        self.stdout.write(f"Attestation signing key {generate_key(target)} written to {target}")
