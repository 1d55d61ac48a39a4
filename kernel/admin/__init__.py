from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from kernel.admin.changes import render_change_fields
from kernel.models import ApiKey
from kernel.models.changelog import ChangeLogEntry
from kernel.models.webhooks import WebhookDelivery, WebhookSubscription, redacted_url

# The library registers an admin for its own APIKey model, whose keys belong to no user and so are refused by
# the API (401). One page for keys: ours, under Registry > API keys.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Add a key (shown once, in the message after saving), see when each was last used and when it expires,
    and revoke keys. The key itself is never stored, only its hash."""

    list_display = ("name", "prefix", "user", "access", "created", "last_used_at", "expiry_date", "state")
    list_filter = ("read_only", "revoked")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    fields = ("name", "user", "read_only", "expiry_date", "revoked", "prefix", "created", "last_used_at")
    actions = ("revoke",)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("prefix", "created", "last_used_at", "revoked")
        # A key's owner and rights are what it was issued with; only its name, expiry and revocation change.
        readonly = ("prefix", "created", "last_used_at", "user", "read_only")
        return (*readonly, "name", "revoked", "expiry_date") if obj.revoked else readonly

    def get_fields(self, request, obj=None):
        return ("name", "user", "read_only", "expiry_date") if obj is None else self.fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the row stays, so "who had access when" can still be answered

    @admin.display(description="access")
    def access(self, obj: ApiKey) -> str:
        return "read-only" if obj.read_only else "read-write"

    @admin.display(description="state")
    def state(self, obj: ApiKey) -> str:
        if obj.revoked:
            return "revoked"
        if obj.expiry_date and obj.expiry_date < timezone.now():
            return "expired"
        return "usable"

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(ChangeLogEntry)
class ChangeLogEntryAdmin(admin.ModelAdmin):
    """The change log, for reading: nobody adds, edits or deletes an entry here (PostgreSQL refuses it anyway)."""

    list_display = ("id", "at", "actor", "action", "kind", "name", "version", "what_changed")
    list_filter = ("kind", "action")
    search_fields = ("name", "actor", "request_id", "=object_id")
    date_hierarchy = "at"
    show_full_result_count = False
    ordering = ("-id",)  # newest first
    readonly_fields = ("what_changed",)

    @admin.display(description="what changed")
    def what_changed(self, obj: ChangeLogEntry):
        """Each field as a line, a change as before -> after (kernel.admin.changes), not the stored JSON."""
        return render_change_fields(obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class WebhookSubscriptionForm(forms.ModelForm):
    """On an existing subscription the URL field starts empty (the stored URL may carry a token, so the page shows
    it redacted); leaving it blank keeps the URL, entering one replaces it."""

    class Meta:
        model = WebhookSubscription
        fields = ("url", "events", "active", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["url"].required = False
            self.fields[
                "url"
            ].help_text = f"Now {redacted_url(self.instance.url)} (query values redacted). Leave blank to keep it."
            self.initial["url"] = ""

    def clean_url(self) -> str:
        return self.cleaned_data.get("url") or self.instance.url


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Staff manage subscriptions here or through /api/v1/webhooks. The secret is shown once, in the message after
    adding a subscription or rotating its secret, never on a page; URLs are listed redacted."""

    form = WebhookSubscriptionForm
    list_display = ("id", "shown_url", "active", "created_at")
    list_filter = ("active",)
    fields = ("url", "events", "active", "description", "secret_state", "created_at", "updated_at")
    readonly_fields = ("secret_state", "created_at", "updated_at")
    actions = ("send_test_event", "rotate_secret")

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    @admin.display(description="URL")
    def shown_url(self, obj: WebhookSubscription) -> str:
        return redacted_url(obj.url)

    @admin.display(description="secret")
    def secret_state(self, obj: WebhookSubscription) -> str:
        if not obj.pk:
            return "generated when saved, shown once"
        rotating = " (the previous one still signs too)" if obj.previous_secret else ""
        return f"set, shown once when created or rotated{rotating}"

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            obj.record(
                "webhook.updated" if change else "webhook.created",
                {
                    k: [None, redacted_url(obj.url) if k == "url" else form.cleaned_data.get(k)]
                    for k in form.changed_data
                },
            )
        if not change:
            self.message_user(request, f"The signing secret of {obj} (shown once): {obj.secret}", messages.WARNING)

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        for subscription in queryset:
            subscription.send_test_event()

    @admin.action(description="Rotate the secret (the previous one keeps signing until the next rotation)")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            secret = subscription.rotate_secret()
            self.message_user(request, f"The new secret of {subscription} (shown once): {secret}", messages.WARNING)


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
