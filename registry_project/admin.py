from django.contrib import admin
from django.db import transaction

from registry_project.changelog import ChangeLogEntry
from registry_project.models import ApiKey
from registry_project.webhooks import WebhookDelivery, WebhookSubscription


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "read_only", "created", "expiry_date", "revoked")
    list_filter = ("read_only", "revoked")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "created")
    fields = ("name", "user", "read_only", "expiry_date", "revoked", "prefix", "created")

    def has_add_permission(self, request) -> bool:
        # Keys are issued by `manage.py create_api_key`, which shows the key once; the admin only revokes.
        return False


@admin.register(ChangeLogEntry)
class ChangeLogEntryAdmin(admin.ModelAdmin):
    """The change log, for reading: nobody adds, edits or deletes an entry here (PostgreSQL refuses it anyway)."""

    list_display = ("id", "at", "actor", "action", "kind", "name", "version", "request_id")
    list_filter = ("kind", "action")
    search_fields = ("name", "actor", "request_id", "=object_id")
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Staff manage subscriptions here or through /api/v1/webhooks; the secret is shown on the page to copy."""

    list_display = ("id", "url", "active", "created_at")
    list_filter = ("active",)
    fields = ("url", "events", "active", "description", "secret", "previous_secret", "created_at", "updated_at")
    readonly_fields = ("secret", "previous_secret", "created_at", "updated_at")
    actions = ("send_test_event", "rotate_secret")

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            obj.record("webhook.updated" if change else "webhook.created", {k: [None, form.cleaned_data.get(k)] for k in form.changed_data})

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        for subscription in queryset:
            subscription.send_test_event()

    @admin.action(description="Rotate the secret (the previous one keeps signing until the next rotation)")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            subscription.rotate_secret()


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "subscription", "object_key", "order", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("status",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ("redeliver",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Redeliver")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            delivery.redeliver()
