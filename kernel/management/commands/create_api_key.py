from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kernel.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for a user. The key is printed once, as the last line, and never stored in clear."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--read-only", action="store_true", help="The key may only read (GET).")
        parser.add_argument("--expires-in-days", type=int, default=None, help="The key stops working after N days.")
        parser.add_argument("--name", default="", help="A label to recognise the key by (default: '<user> key').")

    def handle(self, username, read_only, expires_in_days, name, **options):
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named '{username}'; create one first (manage.py createsuperuser).") from None
        api_key, key = ApiKey.objects.issue(user, name=name, read_only=read_only, expires_in_days=expires_in_days)
        access = "read-only" if read_only else "read-write"
        expiry = f", expires {api_key.expiry_date:%Y-%m-%d %H:%M} UTC" if api_key.expiry_date else ""
        self.stderr.write(
            f"Created {access} API key '{api_key.name}' (prefix {api_key.prefix}) for {username}{expiry}."
        )
        self.stderr.write("Store it now; it cannot be shown again. Use it as: Authorization: Api-Key <key>")
        self.stdout.write(key)
