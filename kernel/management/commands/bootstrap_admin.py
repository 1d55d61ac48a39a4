"""Create the local admin account on a first run. The password comes from ADMIN_PASSWORD or is generated and
printed once, with a read-write API key for trying the API. Later runs say how to get a new key or password."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from kernel.models import ApiKey


class Command(BaseCommand):
    help = "Create the 'admin' superuser (if missing) and print its password and an API key once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the server will listen (for the printed URLs)."
        )

    def handle(self, username, base_url, **options):
        base_url = base_url.rstrip("/")
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        f"  Admin account '{username}' exists; its password and first API key were printed when it was created.",
                        f"    admin:         {base_url}/admin/",
                        f"    API:           {base_url}/api/v1/   (docs: {base_url}/api/docs/)",
                        f"    new API key:   .venv/bin/python manage.py create_api_key {username}",
                        f"    new password:  .venv/bin/python manage.py changepassword {username}",
                        "",
                    ]
                )
            )
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
                    f"    admin:    {base_url}/admin/  user '{username}', password {shown}",
                    f"    API key:  {key}",
                    f"    try:      export HOST={base_url} KEY={key}",
                    '              curl -H "Authorization: Api-Key $KEY" $HOST/api/v1/models',
                    "",
                ]
            )
        )
