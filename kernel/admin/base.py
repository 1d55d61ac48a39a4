"""The curator UI every versioned kind shares: definitions with their versions inline, readable specs, lifecycle
actions, and a "register a version" form that runs exactly the API's validation and shows each error beside
its field."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, QuerySet
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from kernel.api.schema import inline_defs
from kernel.documents.shape import MUTABLE_VERSION_FIELDS
from kernel.exceptions import RegistryError
from kernel.models.changelog import ChangeLogEntry
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.rules.check import check_document
from kernel.rules.validation import DocumentInvalid, Issue
from kernel.writes import lifecycle
from kernel.writes.delete import restore, soft_delete
from kernel.writes.register import register
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


class DocumentForm(forms.Form):
    """One form field per top-level property of the kind's JSON Schema: text for strings, JSON for the rest."""

    def __init__(self, *args, definition_model: type[Definition], **kwargs):
        super().__init__(*args, **kwargs)
        schema = inline_defs(definition_model.validator.schema)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            is_text = prop.get("type") == "string"
            types = prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]
            help_text = prop.get("description", "")
            if "integer" in types or "number" in types:
                # A number input, not a JSON textarea; bounds come from the same schema the API checks.
                field_class = forms.IntegerField if "integer" in types else forms.FloatField
                self.fields[name] = field_class(
                    required=name in required,
                    help_text=help_text,
                    min_value=prop.get("minimum"),
                    max_value=prop.get("maximum"),
                )
            elif is_text:
                widget = forms.Textarea(attrs={"rows": 3}) if name == "description" else None
                self.fields[name] = forms.CharField(
                    required=name in required, help_text=help_text, widget=widget, strip=True
                )
            else:
                self.fields[name] = forms.JSONField(
                    required=name in required,
                    help_text=help_text or "JSON",
                    widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
                )

    def document(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}

    def document_errors(self, definition_model: type[Definition]) -> list[Issue]:
        """Every problem of the fields that did parse, even when others did not (a malformed JSON field must
        not hide the rest): a field that failed to parse is left out and not reported again as missing."""
        _, report = check_document(definition_model, self.document())
        unparsed = set(self.errors)
        return [issue for issue in report.errors if (issue.path.split("/") + ["", ""])[1] not in unparsed]


HISTORY_ROWS = 50


def history_table(entries) -> str:
    """The newest change-log entries as a table: when, who, what, and the before/after of each field."""
    rows = list(entries.order_by("-id")[:HISTORY_ROWS])
    if not rows:
        return "No recorded changes."
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
        (
            (
                e.id,
                e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                e.actor,
                e.action,
                e.version,
                json.dumps(e.changes, sort_keys=True),
            )
            for e in rows
        ),
    )
    return format_html(
        '<table class="change-history"><thead><tr><th>#</th><th>when</th><th>who</th><th>action</th><th>version</th>'
        "<th>changes</th></tr></thead><tbody>{}</tbody></table>",
        body,
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


class DefinitionAdmin(ChangeHistoryAdmin):
    """Subclasses set ``inlines = [<VersionInline>]``; registration and soft delete are built in."""

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

    def change_log_entries(self, obj):
        return ChangeLogEntry.objects.of_definition(obj)

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

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("register/", self.admin_site.admin_view(self.register_view), name="{}_{}_register".format(*info)),
            *super().get_urls(),
        ]

    def register_view(self, request):
        """Register a version through the same ``kernel.writes.register.register`` the API calls."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = DocumentForm(request.POST or None, definition_model=self.model)
        if request.method == "POST" and not form.is_valid():
            attach_issues(form, form.document_errors(self.model))
        elif request.method == "POST":
            try:
                registration = register(self.model, form.document(), user=request.user)
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
                return HttpResponseRedirect(
                    reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[version.pk])
                )
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
                soft_delete(definition)
            except RegistryError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Restore selected deleted definitions")
    def restore(self, request, queryset: QuerySet):
        for definition in queryset:
            restore(definition)


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


class DefinitionVersionAdmin(ChangeHistoryAdmin):
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
