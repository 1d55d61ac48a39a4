"""Recompute the statistics snapshot now (beat does it every STATS_REFRESH_SECONDS)."""

import json

from django.core.management.base import BaseCommand

from kernel import stats


class Command(BaseCommand):
    help = "Recompute and store the registry's statistics snapshot (served by /api/v1/stats and /metrics)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the snapshot.")

    def handle(self, *, as_json: bool, **options):
        snapshot = stats.refresh()
        if as_json:
            self.stdout.write(
                json.dumps(
                    {"refreshed_at": snapshot.refreshed_at.isoformat(), **snapshot.data}, indent=2, sort_keys=True
                )
            )
        else:
            self.stdout.write(f"statistics refreshed in {snapshot.duration_ms} ms")
