from django.contrib import admin

from registry_project.changelog import ChangeLogEntry
from registry_project.models import ApiKey


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
