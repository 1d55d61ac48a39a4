from django.db import models


class StorageTier(models.TextChoices):
    """Where a version's artifacts live. Retention moves an archived version to ``cold``; a purge deletes its
    artifacts and leaves the row as a tombstone (``purged``)."""

    HOT = "hot", "Hot"
    COLD = "cold", "Cold"
    PURGED = "purged", "Purged"
