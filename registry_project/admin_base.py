"""The curator UI every versioned kind shares: definitions with their versions inline, readable specs, lifecycle
actions, and a "register a version" form that runs exactly the API's validation and shows each error beside
its field."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from registry_project.api.schema import inline_defs
from registry_project.definitions import Definition, DefinitionVersion, MUTABLE_VERSION_FIELDS
from registry_project.exceptions import RegistryError
from registry_project.validation import DocumentInvalid, Issue


def pretty_json(value) -> str:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, indent=2, sort_keys=False))


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
        version.proposed_document(form.changes(), partial=True)
    except DocumentInvalid as exc:
        attach_issues(form, exc.errors)
    except RegistryError as exc:
        form.add_error(None, exc.message)


class DocumentForm(forms.Form):
    """One form field per top-level property of the kind's JSON Schema: text for strings, JSON for the rest."""

    def __init__(self, *args, definition_model: type[Definition], **kwargs):
        super().__init__(*args, **kwargs)
        schema = inline_defs(definition_model.validator.schema)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            is_text = prop.get("type") == "string"
            help_text = prop.get("description", "")
            if is_text:
                widget = forms.Textarea(attrs={"rows": 3}) if name == "description" else None
                self.fields[name] = forms.CharField(required=name in required, help_text=help_text, widget=widget, strip=True)
            else:
                self.fields[name] = forms.JSONField(
                    required=name in required, help_text=help_text or "JSON", widget=forms.Textarea(attrs={"rows": 4, "cols": 80})
                )

    def document(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class DefinitionForm(forms.ModelForm):
    """Edits the definition-wide document fields (``parent_fields``), checked by the same validation as a PATCH."""

    def changes(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.instance.parent_fields if name in self.cleaned_data}

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not self.errors:
            check_changes(self, self.instance.resolve_version("latest"))
        return cleaned


class DefinitionAdmin(admin.ModelAdmin):
    """Subclasses set ``inlines = [<VersionInline>]``; registration and soft delete are built in."""

    list_display = ("name", "version_count", "created_at", "updated_at", "deleted_at")
    list_filter = ("deleted_at",)
    search_fields = ("name",)
    readonly_fields = ("name", "owner", "created_at", "updated_at", "deleted_at")
    actions = ("soft_delete", "restore")
    change_list_template = "admin/registry/definition_change_list.html"
    form = DefinitionForm

    def save_model(self, request, obj, form, change):
        obj.resolve_version("latest").update_document(form.changes(), partial=True)

    def has_add_permission(self, request) -> bool:
        return False  # definitions are created by registering their first version

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # nothing is lost: use the soft-delete action

    def get_queryset(self, request):
        # One COUNT in the changelist query rather than one query per row.
        return super().get_queryset(request).annotate(version_total=Count("versions"))

    @admin.display(description="versions", ordering="version_total")
    def version_count(self, obj) -> int:
        return obj.version_total

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("register/", self.admin_site.admin_view(self.register_view), name="%s_%s_register" % info),
            *super().get_urls(),
        ]

    def register_view(self, request):
        """Register a version through the same ``Definition.register`` the API calls."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = DocumentForm(request.POST or None, definition_model=self.model)
        if request.method == "POST" and form.is_valid():
            try:
                registration = self.model.register(form.document(), user=request.user)
            except DocumentInvalid as exc:
                attach_issues(form, exc.errors)
            except RegistryError as exc:
                attach_issues(form, [Issue(exc.path or "", exc.code, exc.message)])
            else:
                for warning in registration.warnings:
                    self.message_user(request, f"Warning {warning.path}: {warning.message}", messages.WARNING)
                version = registration.version
                self.message_user(request, f"Registered {version}.", messages.SUCCESS)
                meta = version._meta
                return HttpResponseRedirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[version.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Register a {self.model.kind} version",
            "form": form,
        }
        return render(request, "admin/registry/register_version.html", context)

    @admin.action(description="Soft-delete selected (refused while something depends on them)")
    def soft_delete(self, request, queryset: QuerySet):
        for definition in queryset:
            try:
                definition.soft_delete()
            except RegistryError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Restore selected deleted definitions")
    def restore(self, request, queryset: QuerySet):
        for definition in queryset:
            definition.restore()


class VersionInline(admin.TabularInline):
    fields = ("version", "status", "is_current", "description", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ("-major", "-minor", "-patch", "-prerelease_key")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
        return {"description": data.get("description") or "", "tags": data.get("tags") or [], "metadata": data.get("metadata") or {}}

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            check_changes(self, self.instance)
        return cleaned


class DefinitionVersionAdmin(admin.ModelAdmin):
    form = VersionForm
    list_display = ("__str__", "status", "is_current", "created_at")
    list_filter = ("status", "is_current", TagListFilter)
    search_fields = ("version", "description")
    list_select_related = True
    readonly_fields = ("definition_link", "version", "status", "is_current", "spec_json", "created_by", "created_at", "updated_at", "id")
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
        return format_html('<a href="{}">{}</a>', reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[definition.pk]), definition.name)

    @admin.display(description="spec")
    def spec_json(self, obj: DefinitionVersion):
        return pretty_json(obj.spec)

    def save_model(self, request, obj, form, change):
        obj.update_document(form.changes(), partial=True)

    def _move(self, request, queryset, move: str):
        done = 0
        for version in queryset:
            try:
                version.move(move)
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
