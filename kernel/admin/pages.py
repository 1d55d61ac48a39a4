"""The curator's pages for a definition and for one of its versions (issue 26).

A definition's page starts with what matters: its versions newest first (status, current and latest marks,
aliases), where each alias points with a form to move it, the definition's own tags and description, the kind's
own picture (a model's metrics across versions, a pipeline's DAG, a policy's rules), what else a kind adds
(bindings and their health), and the change history last. A version's page starts with its lifecycle moves as
buttons, each disabled with the reason the kernel would refuse it.

Every write here is a kernel verb with the permission the API's endpoint checks: an alias move is
``Alias.move`` with the page's view of the alias as its If-Match (so a move made from a stale page is refused,
as a stale PUT is), a lifecycle move is ``kernel.writes.lifecycle.move``; both write their change-log entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ParseError

from kernel.admin.console import compare_url, plural
from kernel.admin.schema_form import effective_schema, render_fields
from kernel.api.parsers import check_json_value, reject_json_constant
from kernel.exceptions import RegistryError
from kernel.models.aliases import Alias, PreconditionFailed
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.rules.latest import NEWEST_FIRST
from kernel.rules.semver import InvalidVersion, parse_version
from kernel.rules.validation import DocumentInvalid
from kernel.writes import lifecycle
from kernel.writes.register import register

VERSIONS_SHOWN = 50  # a page lists the newest 50; the versions' own list has them all
ALIASES_SHOWN = 100
PRECEDING_SCANNED = 1000  # versions read to find the one below a version page's own
ALIAS_FIELD_MAX = 64
VERSION_FIELD_MAX = 130

# (definition admin, definition, versions shown) -> (section title, html) or None. A kind's admin adds its own
# picture by overriding ``kind_sections``; another app adds a section to a kind's page by appending here, as
# bindings_app does for models, so the kind's app need not import it.
Section = Callable[[object, Definition, list], "tuple[str, str] | None"]


def version_change_url(version: DefinitionVersion) -> str:
    meta = version._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[version.pk])


def next_version(definition: Definition) -> str:
    """The number a curator most likely registers next: the next minor release after the highest version taken
    (a prerelease's own release when the highest is a prerelease). Numbers of deleted versions stay taken."""
    highest = definition.versions.order_by(*NEWEST_FIRST).values_list("version", flat=True).first()
    if highest is None:
        return "1.0.0"
    try:
        parsed = parse_version(highest)
    except InvalidVersion:
        return ""
    if parsed.is_prerelease:
        return f"{parsed.major}.{parsed.minor}.{parsed.patch}"
    return f"{parsed.major}.{parsed.minor + 1}.0"


def submitted_document(text: str) -> tuple[dict, list[dict]]:
    """The register form's document (built in the page from its fields), parsed as the API parses a body."""
    try:
        document = json.loads(text, parse_constant=reject_json_constant)
        check_json_value(document)
    except (ValueError, RecursionError, ParseError) as exc:
        return {}, [{"path": "", "message": f"The form sent no readable document: {str(exc)[:200]}"}]
    if not isinstance(document, dict):
        return {}, [{"path": "", "message": "The form sent no document (an object is expected)."}]
    return document, []


def may_change_versions(request, definition_model: type[Definition]) -> bool:
    """What the API's alias and lifecycle endpoints check (RegistryAccess, verb "change" on the version model)."""
    meta = definition_model.versions.rel.related_model._meta
    return request.user.has_perm(f"{meta.app_label}.change_{meta.model_name}")


class DefinitionPageAdmin:
    """Mixed into ``DefinitionAdmin``: the definition's page and its alias moves."""

    change_form_template = "admin/registry/definition_page.html"
    extra_sections: ClassVar[list[Section]] = []

    def kind_sections(self, definition: Definition, versions: list) -> list[tuple[str, str]]:
        """The kind's own sections after the versions (a model's metrics, a pipeline's DAG)."""
        return []

    def version_columns(self, versions: list) -> list[tuple[str, Callable]]:
        """Extra (heading, value-of-version) columns for the versions table (a model's key metrics)."""
        return []

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("register/", self.admin_site.admin_view(self.register_view), name="{}_{}_register".format(*info)),
            path(
                "<path:object_id>/aliases/",
                self.admin_site.admin_view(require_POST(self.move_alias_view)),
                name="{}_{}_move_alias".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        definition = self.get_object(request, object_id)
        if definition is not None:
            extra_context = {
                **(extra_context or {}),
                **self.page_context(request, definition),
                "title": f"{definition.kind.capitalize()} {definition.name}",
                "subtitle": None,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def page_context(self, request, definition: Definition) -> dict:
        versions = list(
            definition.versions.filter(deleted_at__isnull=True).with_aliases().order_by(*NEWEST_FIRST)[:VERSIONS_SHOWN]
        )
        columns = self.version_columns(versions)
        rows = [
            {
                "version": version,
                "url": version_change_url(version),
                "is_latest": version.pk == definition.latest_version_id,
                "aliases": (version.alias_csv or "").split(",") if version.alias_csv else [],
                "cells": [value(version) for _, value in columns],
            }
            for version in versions
        ]
        aliases = list(Alias.objects.filter(kind=definition.kind, definition_name=definition.name)[:ALIASES_SHOWN])
        sections = [*self.kind_sections(definition, versions)]
        sections += [s for s in (section(self, definition, versions) for section in self.extra_sections) if s]
        meta = self.model._meta
        return {
            "definition": definition,
            "version_rows": rows,
            "version_headings": [heading for heading, _ in columns],
            "version_total": definition.versions.filter(deleted_at__isnull=True).count(),
            "versions_list_url": reverse(
                f"admin:{meta.app_label}_{definition.versions.model._meta.model_name}_changelist"
            )
            + f"?q={definition.name}",
            "aliases": aliases,
            "alias_targets": [v.version for v in versions if v.status != "archived"],
            "may_move_aliases": may_change_versions(request, self.model),
            "move_alias_url": reverse(f"admin:{meta.app_label}_{meta.model_name}_move_alias", args=[definition.pk]),
            "register_next_url": reverse(f"admin:{meta.app_label}_{meta.model_name}_register")
            + f"?from={definition.name}",
            "sections": sections,
            "history": self.history_html(definition),
        }

    def register_view(self, request):
        """Register a version (``?from=<name>&version=<v>``: the next one, prefilled from that version) with the
        form generated from the kind's schema, through the same ``kernel.writes.register.register`` as the API."""
        version_meta = self.model.versions.rel.related_model._meta
        if not request.user.has_perm(f"{version_meta.app_label}.add_{version_meta.model_name}"):
            raise PermissionDenied  # what POST /api/v1/<kind> checks
        errors: list[dict] = []
        start = None
        if request.method == "POST":
            document, errors = submitted_document(request.POST.get("document", ""))
            if not errors:
                try:
                    registration = register(self.model, document, user=request.user)
                except DocumentInvalid as exc:
                    errors = [issue.as_dict() for issue in exc.errors]
                except RegistryError as exc:
                    path = exc.path or ""
                    errors = [
                        {"path": path if not path or path.startswith("/") else f"/{path}", "message": exc.message}
                    ]
                else:
                    for warning in registration.warnings:
                        self.message_user(request, f"Warning {warning.path}: {warning.message}", messages.WARNING)
                    self.message_user(request, f"Registered {registration.version}.", messages.SUCCESS)
                    return HttpResponseRedirect(version_change_url(registration.version))
        else:
            document, start = self.starting_document(request)
        schema = effective_schema(self.model.validator.schema, document)
        app = self.model._meta.app_label.removesuffix("_app")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Register the next version of {start.definition.name}"
            if start
            else f"Register a {self.model.kind} version",
            "start": start,
            "start_url": version_change_url(start) if start else None,
            "suggested": document.get("version"),
            "fields": render_fields(schema, document),
            "server_errors": errors,
            "validate_url": reverse(f"{app}-api:{self.model.kind}-validate"),
            "api_path": reverse(f"{app}-api:{self.model.kind}-list"),
        }
        return render(request, "admin/registry/register_version.html", context)

    def starting_document(self, request) -> tuple[dict, DefinitionVersion | None]:
        """The document of the version named by ``?from=&version=`` (default: the latest) with the next version
        number suggested, or an empty one."""
        name = request.GET.get("from", "")[:VERSION_FIELD_MAX]
        if not name:
            return {}, None
        try:
            definition = self.model.get_alive(name)
            start = definition.resolve_version(request.GET.get("version", "latest")[:VERSION_FIELD_MAX])
        except RegistryError as exc:
            self.message_user(request, f"Starting from an empty form: {exc.message}", messages.WARNING)
            return {}, None
        if start is None:
            return {}, None
        properties = self.model.validator.schema.get("properties", {})
        document = {key: value for key, value in start.document().items() if key in properties}
        document["version"] = next_version(definition)
        if isinstance(document.get("derived_from"), dict):
            # A version in a lineage: the next one most likely derives from the one it starts from.
            document["derived_from"] = {**document["derived_from"], "model": definition.name, "version": start.version}
        return document, start

    def move_alias_view(self, request, object_id):
        """Move (or create) an alias through ``Alias.move`` with the version this page showed as If-Match."""
        definition = self.get_object(request, object_id)
        if definition is None:
            raise Http404
        if not may_change_versions(request, self.model):
            raise PermissionDenied
        back = HttpResponseRedirect(
            reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_change", args=[definition.pk])
            + "#aliases"
        )
        alias = request.POST.get("alias", "").strip()[:ALIAS_FIELD_MAX]
        target = request.POST.get("version", "").strip()[:VERSION_FIELD_MAX]
        shown = request.POST.get("shown", "").strip()[:VERSION_FIELD_MAX]
        if not alias or not target:
            self.message_user(request, "Name the alias and the version it should point at.", messages.ERROR)
            return back
        try:
            # A new alias (nothing shown) is created unconditionally, as a PUT without If-Match is.
            Alias.move(definition, alias, target, if_match=f'"{shown}"' if shown else None)
        except PreconditionFailed:
            now = Alias.objects.filter(kind=definition.kind, definition_name=definition.name, alias=alias).first()
            self.message_user(
                request,
                f"Not moved: @{alias} points at {now.version if now else 'nothing'} now, not {shown} as the page you "
                "moved it from showed; someone changed it since. This page shows it as it is now: choose again.",
                messages.ERROR,
            )
        except RegistryError as exc:
            self.message_user(request, f"Not moved: {exc.message}", messages.ERROR)
        else:
            before = f" (was {shown})" if shown else ""
            self.message_user(request, f"@{alias} now points at {target}{before}.", messages.SUCCESS)
        return back


LIFECYCLE_LABELS = {"activate": "Activate (make current)", "deprecate": "Deprecate", "archive": "Archive"}


def lifecycle_buttons(version: DefinitionVersion) -> list[dict]:
    """Each lifecycle move with whether it can be made and, when not, why (the kernel's own refusal)."""
    already = {
        "activate": version.is_current and version.status == "active",
        "deprecate": version.status == "deprecated",
        "archive": version.status == "archived",
    }
    buttons = []
    for move in lifecycle.MOVES:
        if already[move]:
            reason = f"It is already {'current' if move == 'activate' else version.status}."
        else:
            refused = lifecycle.refusal(version, move)
            reason = refused.message if refused else ""
        buttons.append({"move": move, "label": LIFECYCLE_LABELS[move], "reason": reason})
    return buttons


class VersionPageAdmin:
    """Mixed into ``DefinitionVersionAdmin``: the version's page and its lifecycle buttons."""

    change_form_template = "admin/registry/version_page.html"

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "<path:object_id>/move/<str:move>/",
                self.admin_site.admin_view(require_POST(self.lifecycle_view)),
                name="{}_{}_lifecycle".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        if version is not None:
            extra_context = {
                **(extra_context or {}),
                **self.version_context(request, version),
                "title": f"{version.definition.kind.capitalize()} version {version}",
                "subtitle": None,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def version_context(self, request, version: DefinitionVersion) -> dict:
        definition = version.definition
        meta = self.model._meta
        # Lineage is the model kind's (a foreign key to the parent version); other kinds have none.
        derived = getattr(version, "derived_from", None)
        # The version just below this one, for "compare with the previous version" when it derives from none.
        ordered = list(
            definition.versions.filter(deleted_at__isnull=True)
            .order_by(*NEWEST_FIRST)
            .values_list("pk", "version")[:PRECEDING_SCANNED]
        )
        ids = [pk for pk, _ in ordered]
        position = ids.index(version.pk) + 1 if version.pk in ids else len(ids)
        below = ordered[position][1] if position < len(ordered) else None
        buttons = lifecycle_buttons(version)
        for button in buttons:
            button["url"] = reverse(
                f"admin:{meta.app_label}_{meta.model_name}_lifecycle", args=[version.pk, button["move"]]
            )
        definition_meta = definition._meta
        kind = plural(type(definition))  # the compare page names kinds as the API's paths do
        return {
            "version": version,
            "definition_url": reverse(
                f"admin:{definition_meta.app_label}_{definition_meta.model_name}_change", args=[definition.pk]
            ),
            "is_latest": definition.latest_version_id == version.pk,
            "lifecycle_buttons": buttons,
            "may_move": may_change_versions(request, type(definition)),
            "version_aliases": sorted(
                Alias.objects.filter(kind=definition.kind, version_id=version.pk).values_list("alias", flat=True)
            ),
            "derived_from": derived,
            "derived_from_url": version_change_url(derived) if derived else None,
            "relation": getattr(version, "relation", ""),
            "compare_parent_url": compare_url(kind, definition.name, to=version.version) if derived else None,
            "compare_previous_url": compare_url(kind, definition.name, **{"from": below, "to": version.version})
            if below and not derived
            else None,
            "register_next_url": reverse(f"admin:{definition_meta.app_label}_{definition_meta.model_name}_register")
            + f"?from={definition.name}&version={version.version}",
        }

    def lifecycle_view(self, request, object_id, move: str):
        version = self.get_object(request, object_id)
        if version is None or move not in lifecycle.MOVES:
            raise Http404
        if not may_change_versions(request, type(version.definition)):
            raise PermissionDenied
        try:
            lifecycle.move(version, move)
        except RegistryError as exc:
            self.message_user(request, f"Not moved: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, format_html("{}: {}", LIFECYCLE_LABELS[move], version), messages.SUCCESS)
        return HttpResponseRedirect(version_change_url(version))
