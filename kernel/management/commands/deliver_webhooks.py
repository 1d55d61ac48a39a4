"""Relay the change log's outbox and send the webhook deliveries that are due, without Celery: what the beat job
``kernel.tasks.deliver_webhooks`` and its lane tasks do, in this process. ``make run`` runs it beside the
development server (``--every``), so webhooks deliver on the embedded default too."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from kernel.models import changelog, webhooks


class Command(BaseCommand):
    help = (
        "Relay the webhook outbox and send every delivery that is due, once, or every N seconds with --every "
        "(make run does; production runs the Celery beat job deliver_webhooks instead)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every", type=float, default=None, metavar="SECONDS", help="Keep running, one round every SECONDS."
        )

    def handle(self, *, every: float | None, **options):
        with changelog.acting_as("command:deliver_webhooks"):
            while True:
                relayed, attempts = self.round()
                if every is None:
                    self.stdout.write(f"relayed {relayed} change(s), made {attempts} delivery attempt(s)")
                    return
                if relayed or attempts:
                    self.stdout.write(f"relayed {relayed} change(s), made {attempts} delivery attempt(s)")
                close_old_connections()
                time.sleep(every)

    def round(self) -> tuple[int, int]:
        relayed = 0
        while (batch := webhooks.relay_outbox()) > 0:
            relayed += batch
        return relayed, webhooks.deliver_due()
