"""The curator UI every versioned kind shares: the definitions' and versions' lists and admins, readable specs,
lifecycle actions on selected versions, soft delete and restore. Their pages (versions first, alias moves,
lifecycle buttons, register-next) are ``kernel.admin.pages``."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from kernel.admin.changes import render_change
from kernel.admin.pages import DefinitionPageAdmin, VersionPageAdmin
from kernel.documents.shape import MUTABLE_VERSION_FIELDS
from kernel.exceptions import RegistryError
from kernel.models.changelog import ChangeLogEntry
from kernel.models.definitions import DefinitionVersion
from kernel.rules.validation import DocumentInvalid, Issue
from kernel.writes import lifecycle
from kernel.writes.delete import restore, soft_delete
from kernel.writes.update import proposed_document, update_document


def pretty_json(value) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, indent=2, sort_keys=False)
    )


def attach_issues(form: forms.Form, issues: list[Issue]) -> None:
    """Show each issue beside the form field its JSON Pointer starts with (non-field errors otherwise)."""
    for issue in issues:
        head = issue.path.split("/")[1] if issue.path.count("/") >= 1 and issue.path else ""
        head = head.replace("~1", "/").replace("~0", "~")
        message = f"{issue.path}: {issue.message}" if issue.path and issue.path != f"/{head}" else issue.message
        form.add_error(head if head in form.fields else None, message)


def check_changes(form, version: DefinitionVersion) -> None:
    """Run the form's ``changes()`` through the same check as the API's PATCH, showing problems on the form."""
    try:
        proposed_document(version, form.changes())
    except DocumentInvalid as exc:
        attach_issues(form, exc.errors)
    except RegistryError as exc:
        form.add_error(None, exc.message)


HISTORY_ROWS = 50


def history_table(entries) -> str:
    """The newest change-log entries (at most ``HISTORY_ROWS``), each readable: what happened to what, when and by
    whom, then a line per field (``kernel.admin.changes``, as on the landing page)."""
    rows = list(entries.order_by("-id")[:HISTORY_ROWS])
    if not rows:
        return "No recorded changes."
    return format_html(
        '<div class="change-history">{}</div>', format_html_join("", "{}", ((render_change(e),) for e in rows))
    )


class ChangeHistoryAdmin(admin.ModelAdmin):
    """Shows the object's change-log entries on its page (the newest first) below its own fields."""

    def change_log_entries(self, obj):
        raise NotImplementedError

    @admin.display(description="change history")
    def change_history(self, obj):
        return history_table(self.change_log_entries(obj)) if obj is not None and obj.pk else ""

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "change_history")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Change history", {"fields": ("change_history",)})]

    def get_fields(self, request, obj=None):
        return [f for f in super().get_fields(request, obj) if f != "change_history"]


class DefinitionForm(forms.ModelForm):
    """Edits the definition-wide document fields (``parent_fields``), checked by the same validation as a PATCH."""

    def changes(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.instance.parent_fields if name in self.cleaned_data}

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not self.errors:
            check_changes(self, self.instance.resolve_version("latest"))
        return cleaned


class DeletedFilter(admin.SimpleListFilter):
    """Deleted definitions are hidden unless asked for: a curator's list is what is in service."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return (("no", "Live (default)"), ("yes", "Deleted"), ("all", "All"))

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            selected = self.value() == lookup or (self.value() is None and lookup == "no")
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "no"
        if value == "no":
            return queryset.filter(deleted_at__isnull=True)
        if value == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class DefinitionAdmin(DefinitionPageAdmin, admin.ModelAdmin):
    """The definition's page (``kernel.admin.pages``: versions first, aliases, the kind's picture, history last);
    registration and soft delete are built in."""

    list_display = (
        "name",
        "latest_version_number",
        "current_version_number",
        "latest_status",
        "version_count",
        "updated_at",
        "deleted_at",
    )
    list_filter = (DeletedFilter,)
    search_fields = ("name",)
    readonly_fields = ("name", "owner", "created_at", "updated_at", "deleted_at")
    actions = ("soft_delete", "restore")
    change_list_template = "admin/registry/definition_change_list.html"
    form = DefinitionForm

    def save_model(self, request, obj, form, change):
        update_document(obj.resolve_version("latest"), form.changes())

    def history_html(self, obj) -> str:
        return history_table(ChangeLogEntry.objects.of_definition(obj))

    def has_add_permission(self, request) -> bool:
        return False  # definitions are created by registering their first version

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # nothing is lost: use the soft-delete action

    def get_queryset(self, request):
        # One COUNT, and the latest/current versions' numbers through the definition's pointers (two joins), in
        # the changelist query: no query per row. (The display methods are not named after the pointer fields,
        # or list_display would show the field and fetch each row's version.)
        return (
            super()
            .get_queryset(request)
            .annotate(
                version_total=Count("versions"),
                latest_version_text=F("latest_version__version"),
                latest_status_text=F("latest_version__status"),
                current_version_text=F("current_version__version"),
            )
        )

    @admin.display(description="versions", ordering="version_total")
    def version_count(self, obj) -> int:
        return obj.version_total

    @admin.display(description="latest version")
    def latest_version_number(self, obj) -> str:
        return obj.latest_version_text or "-"

    @admin.display(description="current version")
    def current_version_number(self, obj) -> str:
        return obj.current_version_text or "-"

    @admin.display(description="status")
    def latest_status(self, obj) -> str:
        return obj.latest_status_text or "-"

    @admin.action(description="Soft-delete selected (refused while something depends on them)")
    def soft_delete(self, request, queryset: QuerySet):
        for definition in queryset:
            try:
                soft_delete(definition)
            except RegistryError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Restore selected deleted definitions")
    def restore(self, request, queryset: QuerySet):
        for definition in queryset:
            restore(definition)


class TagListFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = set()
        for row in model_admin.model.objects.values_list("tags", flat=True)[:5000]:
            tags.update(t for t in row or [] if isinstance(t, str))
        return [(t, t) for t in sorted(tags)]

    def queryset(self, request, queryset):
        return queryset.tagged(self.value()) if self.value() else queryset


class VersionForm(forms.ModelForm):
    """Edits only the mutable fields, validated by the same document check as the API's PATCH."""

    tags = forms.JSONField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))
    metadata = forms.JSONField(required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 80}))

    class Meta:
        fields = MUTABLE_VERSION_FIELDS

    def changes(self) -> dict:
        data = self.cleaned_data
        return {
            "description": data.get("description") or "",
            "tags": data.get("tags") or [],
            "metadata": data.get("metadata") or {},
        }

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            check_changes(self, self.instance)
        return cleaned


class DefinitionVersionAdmin(VersionPageAdmin, ChangeHistoryAdmin):
    form = VersionForm
    list_display = ("__str__", "status", "is_current", "created_at")
    list_filter = ("status", "is_current", TagListFilter)
    search_fields = ("version", "description")
    list_select_related = True
    readonly_fields = (
        "definition_link",
        "version",
        "status",
        "is_current",
        "spec_json",
        "created_by",
        "created_at",
        "updated_at",
        "id",
    )
    fieldsets = (
        (None, {"fields": ("definition_link", "version", "status", "is_current", "id")}),
        ("Spec (immutable)", {"fields": ("spec_json",)}),
        ("Mutable", {"fields": MUTABLE_VERSION_FIELDS}),
        ("History", {"fields": ("created_by", "created_at", "updated_at")}),
    )
    actions = ("activate", "deprecate", "archive")

    def get_search_fields(self, request):
        return (f"{self.model.parent_field}__name", *self.search_fields)

    def get_ordering(self, request):
        return (f"{self.model.parent_field}__name", "-major", "-minor", "-patch", "-prerelease_key")

    def has_add_permission(self, request) -> bool:
        return False  # registration goes through the definition's "Register a version" form

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="definition")
    def definition_link(self, obj: DefinitionVersion):
        definition = obj.definition
        meta = definition._meta
        return format_html(
            '<a href="{}">{}</a>',
            reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[definition.pk]),
            definition.name,
        )

    @admin.display(description="spec")
    def spec_json(self, obj: DefinitionVersion):
        return pretty_json(obj.spec)

    def save_model(self, request, obj, form, change):
        update_document(obj, form.changes())

    def change_log_entries(self, obj):
        return ChangeLogEntry.objects.of_definition(obj.definition).filter(version=obj.version)

    def _move(self, request, queryset, move: str):
        done = 0
        for version in queryset:
            try:
                lifecycle.move(version, move)
                done += 1
            except RegistryError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        if done:
            self.message_user(request, f"{move}: {done} version(s).", messages.SUCCESS)

    @admin.action(description="Activate (make current)")
    def activate(self, request, queryset):
        self._move(request, queryset, "activate")

    @admin.action(description="Deprecate")
    def deprecate(self, request, queryset):
        self._move(request, queryset, "deprecate")

    @admin.action(description="Archive")
    def archive(self, request, queryset):
        self._move(request, queryset, "archive")
