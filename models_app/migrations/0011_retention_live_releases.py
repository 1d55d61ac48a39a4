"""The partial index retention reads: each model's live releases (unarchived, no prerelease), newest first.

``ModelVersion.Meta.indexes`` says why; ``models_app.retention`` uses it to find the models that have a release
past ``keep`` and their candidates. A plain partial index, so SQLite (the embedded default) builds it too. At 1 M
versions PostgreSQL builds it in about a second.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0010_restore_one_current"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="modelversion",
            index=models.Index(
                condition=models.Q(("prerelease", ""), models.Q(("status", "archived"), _negated=True)),
                fields=["model", "-major", "-minor", "-patch"],
                name="models_app_version_live",
            ),
        ),
    ]
