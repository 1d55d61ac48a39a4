"""Create the local admin account on a first run. The password comes from ADMIN_PASSWORD or is generated and
printed once, with a read-write API key for trying the API."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from registry_project.models import ApiKey


class Command(BaseCommand):
    help = "Create the 'admin' superuser (if missing) and print its password and an API key once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))

    def handle(self, username, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin account '{username}' exists; its password was printed when it was created.")
            return
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        _, key = ApiKey.objects.issue(user, name="make run key")
        shown = "(from ADMIN_PASSWORD)" if os.environ.get("ADMIN_PASSWORD") else password
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Local admin account created; this is shown only once:",
                    f"    admin:    http://127.0.0.1:8000/admin/  user '{username}', password {shown}",
                    f"    API key:  {key}",
                    f"    try:      curl -H 'Authorization: Api-Key {key}' http://127.0.0.1:8000/api/v1/models",
                    "",
                ]
            )
        )
