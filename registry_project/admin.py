from django.contrib import admin

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
