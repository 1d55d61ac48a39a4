from django.contrib import admin, messages
from django.utils import timezone
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from registry_project.models import ApiKey

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
