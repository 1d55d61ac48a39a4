from django.db import models


class PolicyType(models.TextChoices):
    RATE_LIMIT = "rate_limit", "Rate limit"
    QUOTA = "quota", "Quota"
    RBAC = "rbac", "Role-based access"


class Enforcement(models.TextChoices):
    HARD = "hard", "Hard (blocks)"
    SOFT = "soft", "Soft (only reports)"


class Effect(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"


class Action(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    DELETE = "delete", "Delete"
    DEPLOY = "deploy", "Deploy"
