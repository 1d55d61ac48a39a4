from django.db import models


class Provider(models.TextChoices):
    """Who serves a binding. Adding a provider: a member here and its config schema in schemas/config/<value>.json."""

    OPENAI = "openai", "OpenAI"
    AZURE_OPENAI = "azure_openai", "Azure OpenAI"
    VERTEX_AI = "vertex_ai", "Vertex AI"
    BEDROCK = "bedrock", "Amazon Bedrock"
    ANTHROPIC = "anthropic", "Anthropic"
    SELF_HOSTED = "self_hosted", "Self-hosted"


class Environment(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class BindingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    DEGRADED = "degraded", "Degraded"
    DISABLED = "disabled", "Disabled"


# Statuses that mean "deployed": the binding serves (or is about to serve) its version, so the version and its
# model may not be archived or deleted under it. Only a disabled binding lets them go.
IN_SERVICE = (BindingStatus.PENDING, BindingStatus.ACTIVE, BindingStatus.DEGRADED)


class RouteSort(models.TextChoices):
    BALANCED = "balanced", "Balanced"
    LATENCY = "latency", "Lowest latency"
    COST = "cost", "Lowest cost"
    SUCCESS = "success", "Highest success rate"
