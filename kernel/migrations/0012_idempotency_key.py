import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("registry_project", "0011_webhook_url_pattern"),
    ]

    operations = [
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=255)),
                (
                    "fingerprint",
                    models.CharField(
                        help_text="SHA-256 of the request's method, path and parsed body: a key names one request.",
                        max_length=64,
                    ),
                ),
                (
                    "status_code",
                    models.PositiveSmallIntegerField(help_text="None until the answer is stored.", null=True),
                ),
                ("body", models.TextField(blank=True, help_text="The answer's JSON text.")),
                ("headers", models.JSONField(blank=True, default=dict, help_text="The answer's Location and ETag.")),
                ("created_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "db_table": "registry_idempotency_key",
                "indexes": [models.Index(fields=["expires_at"], name="registry_idempotency_expiry")],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "key"), name="registry_idempotency_key_unique")
                ],
            },
        ),
    ]
