"""Every model of the registry kernel (app label ``registry_project``, kept so every table and the migration
history stay as they were). Each lives beside its behaviour; this module is where Django finds them all."""

from kernel.models.aliases import Alias
from kernel.models.api_keys import ApiKey, CredentialGeneration, StatsSnapshot
from kernel.models.changelog import ChangeLogEntry
from kernel.models.idempotency import IdempotencyKey
from kernel.models.operations import Backup, JobRun
from kernel.models.tallies import Tally
from kernel.models.webhooks import DeliveryAttempt, OutboxItem, WebhookDelivery, WebhookSubscription

__all__ = [
    "Alias",
    "ApiKey",
    "Backup",
    "ChangeLogEntry",
    "CredentialGeneration",
    "DeliveryAttempt",
    "IdempotencyKey",
    "JobRun",
    "OutboxItem",
    "StatsSnapshot",
    "Tally",
    "WebhookDelivery",
    "WebhookSubscription",
]
