"""The curator console's own pages in the admin (``registry_project.admin_site.RegistryAdminSite`` routes them):
the landing page (the admin index: counts from the statistics snapshot, the latest changes, degraded bindings,
failing webhook deliveries), the one search box over models, pipelines and policies, and the comparison of two
versions (``kernel.reads.diff``, the API's ``/diff``, drawn side by side)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from kernel import stats
from kernel.admin.changes import change_context
from kernel.api.filtersets import VersionFilterSet
from kernel.documents.files import definition_models
from kernel.exceptions import DefinitionNotFound, RegistryError
from kernel.models.changelog import ChangeLogEntry
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.models.webhooks import DeliveryStatus, WebhookDelivery
from kernel.reads.diff import NoBaseVersion, comparable, diff_versions
from kernel.rules.validation import MISSING, pointer, same_json

LATEST_CHANGES = 15
LISTED_PROBLEMS = 10  # degraded bindings, failing deliveries: the first ones, with a link to all of them
SEARCH_RESULTS = 25  # per kind; one more is read to say there are more
SEARCH_TEXT_MAX = 200  # the API's search filter takes as much
VERSIONS_OFFERED = 200  # in the compare page's version pickers, newest first
SPEC_ROWS = 500  # the side-by-side table, as many rows as the diff has entries


# -- the kinds, by the word their API paths use ------------------------------------------------------------------


def plural(definition_model: type[Definition]) -> str:
    """The kind's word in API paths and console URLs: models, pipelines, policies."""
    return str(definition_model._meta.verbose_name_plural).lower()


def kinds() -> dict[str, type[Definition]]:
    return {plural(model): model for model in definition_models().values()}


def definition_for(kind: str) -> type[Definition]:
    found = kinds().get(kind)
    if found is None:
        raise Http404(f"No kind '{kind}': models, pipelines or policies.")
    return found


def admin_url(obj_or_model, view: str = "change", *args, query: dict | None = None) -> str | None:
    meta = obj_or_model._meta
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url


def version_url(version: DefinitionVersion) -> str | None:
    return admin_url(version, "change", version.pk)


def compare_url(kind: str, name: str, **params: str) -> str:
    url = reverse("admin:registry-compare", args=[kind, name])
    given = {key: value for key, value in params.items() if value}
    return f"{url}?{urlencode(given)}" if given else url


# -- the landing page ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    label: str
    value: Any
    stat: str  # where /api/v1/stats answers the same number (dotted path)
    link: str | None = None


def landing(request) -> dict[str, Any]:
    """The landing page's sections; every count is read from the stored statistics snapshot, so the page shows
    exactly what ``GET /api/v1/stats`` answers (and when it was refreshed)."""
    snapshot = stats.current()
    data = snapshot.data
    return {
        "refreshed_at": snapshot.refreshed_at,
        "totals": totals(data),
        "versions_by_status": versions_by_status(data),
        "tiers": tiers(data),
        "bindings_by_status": bindings_by_status(data),
        "retention": retention(data),
        "latest_changes": latest_changes(),
        "changes_url": admin_url(ChangeLogEntry, "changelist"),
        "degraded": degraded_bindings(),
        "failing": failing_deliveries(),
    }


def totals(data: dict) -> list[Count]:
    found = []
    for kind, model in kinds().items():
        section = data.get(kind) or {}
        found.append(Count(kind.capitalize(), section.get("total", 0), f"{kind}.total", admin_url(model, "changelist")))
    return found


def versions_by_status(data: dict) -> list[dict]:
    rows = []
    for kind, model in kinds().items():
        section = data.get(kind) or {}
        version_model = model.versions.rel.related_model
        rows.append(
            {
                "kind": kind,
                "counts": [
                    Count(
                        status,
                        section.get("versions_by_status", {}).get(status, 0),
                        f"{kind}.versions_by_status.{status}",
                        admin_url(version_model, "changelist", query={"status__exact": status}),
                    )
                    for status in ("active", "deprecated", "archived")
                ],
            }
        )
    return rows


def tiers(data: dict) -> list[Count]:
    by_tier = (data.get("models") or {}).get("versions_by_tier", {})
    return [Count(tier, by_tier.get(tier, 0), f"models.versions_by_tier.{tier}") for tier in ("hot", "cold", "purged")]


def bindings_by_status(data: dict) -> list[Count]:
    section = data.get("bindings") or {}
    by_status: dict[str, int] = {}
    for statuses in section.get("by_provider_status", {}).values():
        for status, n in statuses.items():
            by_status[status] = by_status.get(status, 0) + n
    binding_model = apps.get_model("bindings_app", "ProviderBinding")
    return [
        Count(
            status,
            by_status.get(status, 0),
            f"bindings.by_provider_status.*.{status}",  # summed over the providers
            admin_url(binding_model, "changelist", query={"status__exact": status}),
        )
        for status in ("active", "degraded", "pending", "disabled")
    ]


def retention(data: dict) -> list[Count]:
    section = ((data.get("models") or {}).get("retention") or {}).get("next_run") or {}
    labels = {
        "would_archive": "would archive",
        "would_purge": "would purge",
        "would_keep_current": "kept: current",
        "would_keep_protected": "kept: in use",
    }
    return [Count(label, section.get(key, 0), f"models.retention.next_run.{key}") for key, label in labels.items()]


def latest_changes() -> list[dict]:
    entries = list(ChangeLogEntry.objects.order_by("-id")[:LATEST_CHANGES])
    links = definition_links({(entry.kind, entry.name) for entry in entries})
    binding_model = apps.get_model("bindings_app", "ProviderBinding")
    shown = []
    for entry in entries:
        link = links.get((entry.kind, entry.name))
        if entry.kind == "binding" and entry.object_id:
            link = admin_url(binding_model, "change", entry.object_id)
        shown.append(change_context(entry, link))
    return shown


def definition_links(objects: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Each named definition's admin page, one query per kind."""
    links = {}
    for kind, model in definition_models().items():
        names = [name for entry_kind, name in objects if entry_kind == kind]
        for definition in model.objects.filter(name__in=names).only("pk", "name"):
            links[(kind, definition.name)] = admin_url(definition, "change", definition.pk)
    return links


def degraded_bindings() -> dict[str, Any]:
    binding_model = apps.get_model("bindings_app", "ProviderBinding")
    rows = list(
        binding_model.objects.filter(status="degraded")
        .select_related("model_version__model")
        .order_by("-status_changed_at", "-pk")[: LISTED_PROBLEMS + 1]
    )
    return {
        "rows": [{"binding": row, "link": admin_url(row, "change", row.pk)} for row in rows[:LISTED_PROBLEMS]],
        "more": len(rows) > LISTED_PROBLEMS,
        "all": admin_url(binding_model, "changelist", query={"status__exact": "degraded"}),
    }


def failing_deliveries() -> dict[str, Any]:
    """Dead letters, and deliveries still pending after a failed attempt (retrying)."""
    from django.db.models import Q

    failing = Q(status=DeliveryStatus.DEAD) | Q(status=DeliveryStatus.PENDING, attempts__gt=0)
    rows = list(
        WebhookDelivery.objects.filter(failing)
        .select_related("subscription")
        .order_by("-created_at")[: LISTED_PROBLEMS + 1]
    )
    return {
        "rows": [{"delivery": row, "link": admin_url(row, "change", row.pk)} for row in rows[:LISTED_PROBLEMS]],
        "more": len(rows) > LISTED_PROBLEMS,
        "all": admin_url(WebhookDelivery, "changelist", query={"status__exact": DeliveryStatus.DEAD}),
    }


# -- search --------------------------------------------------------------------------------------------------------

# The API list filters the box asks, each with the same value: a definition matches when any of them does.
SEARCHED_FILTERS = ("search", "tag", "capability", "family")


def filterset_for(version_model) -> type[VersionFilterSet]:
    """The API's FilterSet for a kind's versions (each app's ``filtersets.py``)."""
    pending = list(VersionFilterSet.__subclasses__())
    while pending:
        candidate = pending.pop()
        if candidate.Meta.model is version_model:
            return candidate
        pending.extend(candidate.__subclasses__())
    return VersionFilterSet


def search(text: str) -> list[dict[str, Any]]:
    """Each kind's definitions whose latest version matches ``text`` by name or stored search text, tag (its own
    or its definition's), capability or family: the API list's filters and indexes (``latest_per_definition``),
    one query per kind, at most ``SEARCH_RESULTS`` each."""
    sections = []
    for kind, model in kinds().items():
        version_model = model.versions.rel.related_model
        parent = version_model.parent_field
        base = version_model.objects.latest_per_definition().select_related(parent)
        filterset_class = filterset_for(version_model)
        matches = None
        for name in SEARCHED_FILTERS:
            if name not in filterset_class.base_filters:
                continue
            filterset = filterset_class({name: text}, queryset=base)
            if filterset.is_valid():
                matches = filterset.qs if matches is None else matches | filterset.qs
        rows = list(matches.order_by(f"{parent}__name")[: SEARCH_RESULTS + 1]) if matches is not None else []
        sections.append(
            {
                "kind": kind,
                "rows": [search_row(kind, version, text) for version in rows[:SEARCH_RESULTS]],
                "more": len(rows) > SEARCH_RESULTS,
                "all": admin_url(model, "changelist", query={"q": text}),
            }
        )
    return sections


def search_row(kind: str, version: DefinitionVersion, text: str) -> dict[str, Any]:
    definition = version.definition
    needle = text.lower()
    matched = []
    if needle in definition.name:
        matched.append("name")
    if text in (version.effective_tags or []):
        matched.append("tag")
    if text in (version.spec.get("capabilities") or []):
        matched.append("capability")
    if getattr(definition, "family", None) == text:
        matched.append("family")
    return {
        "name": definition.name,
        "link": admin_url(definition, "change", definition.pk),
        "version": version.version,
        "version_link": version_url(version),
        "status": version.status,
        "tags": version.effective_tags or [],
        "description": (version.description or definition.description or "")[:160],
        "matched": ", ".join(matched) or "text",
    }


def search_view(request, site):
    text = request.GET.get("q", "").strip()[:SEARCH_TEXT_MAX]
    context = {
        **site.each_context(request),
        "title": f"Search: {text}" if text else "Search",
        "query": text,
        "sections": search(text) if text else [],
    }
    return TemplateResponse(request, "admin/registry/search.html", context)


# -- comparing two versions ----------------------------------------------------------------------------------------


def flattened(document: Any, at: str = "") -> dict[str, Any]:
    """Leaves of a document by JSON Pointer, objects walked into (lists are leaves: shown whole)."""
    if isinstance(document, dict) and document:
        found: dict[str, Any] = {}
        for key, value in document.items():
            found.update(flattened(value, at + pointer(key)))
        return found
    return {at: document}


def side_by_side(before: DefinitionVersion, after: DefinitionVersion) -> tuple[list[dict], bool]:
    """Rows of (path, from, to, state) over both documents' leaves, ``from``'s order first; state is ``same``,
    ``changed``, ``added`` or ``removed``."""
    left, right = flattened(comparable(before)), flattened(comparable(after))
    paths = [*left, *(path for path in right if path not in left)]
    rows = []
    for path in paths[:SPEC_ROWS]:
        x, y = left.get(path, MISSING), right.get(path, MISSING)
        if x is MISSING:
            state = "added"
        elif y is MISSING:
            state = "removed"
        else:
            state = "same" if same_json(x, y) else "changed"
        rows.append({"path": path, "from": shown_value(x), "to": shown_value(y), "state": state})
    return rows, len(paths) > SPEC_ROWS


def shown_value(value: Any) -> str:
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1 if isinstance(value, (dict, list)) and value else None, ensure_ascii=False)


LINEAGE_SENTENCES = {
    "same": "The same version.",
    "descendant": "{to} derives from {from_} ({hops} derivation{s}).",
    "ancestor": "{from_} derives from {to} ({hops} derivation{s}).",
    "common_ancestor": "Both derive from {common}.",
    "unrelated": "Neither derives from the other.",
}


def lineage_sentence(found: dict) -> str | None:
    lineage = found.get("lineage")
    if not lineage:
        return None
    common = lineage.get("common_ancestor") or {}
    hops = lineage.get("hops") or 0
    return LINEAGE_SENTENCES[lineage["relation"]].format(
        to=f"{found['to']['name']}@{found['to']['version']}",
        from_=f"{found['from']['name']}@{found['from']['version']}",
        hops=hops,
        s="" if hops == 1 else "s",
        common=f"{common.get('model')}@{common.get('version')}",
    )


def compare_view(request, site, kind: str, name: str):
    definition_model = definition_for(kind)
    try:
        definition = definition_model.get_alive(name)
    except DefinitionNotFound as exc:
        raise Http404(exc.message) from None
    version_model = definition_model.versions.rel.related_model
    offered = list(definition.versions.present().newest_first().values_list("version", flat=True)[:VERSIONS_OFFERED])
    from_ref = request.GET.get("from") or None
    to_ref = request.GET.get("to") or (offered[0] if offered else None)
    context = {
        **site.each_context(request),
        "title": f"Compare {definition_model.kind} {name}",
        "kind": kind,
        "definition": definition,
        "definition_link": admin_url(definition, "change", definition.pk),
        "offered": offered,
        "from_ref": from_ref or "",
        "to_ref": to_ref or "",
        "error": None,
        "note": None,
    }
    status = 200
    try:
        try:
            found = diff_versions(definition_model, name, from_ref, to_ref)
        except NoBaseVersion as exc:
            # Nothing it derives from (every pipeline and policy version, a model's baseline): the version before
            # it, when there is one, is what a curator means.
            older = offered[offered.index(to_ref) + 1 :] if to_ref in offered else []
            if not older:
                raise
            found = diff_versions(definition_model, name, older[0], to_ref)
            context["note"] = f"{exc.message.split(':')[0]}: compared with the version before it, {older[0]}."
    except RegistryError as exc:
        context["error"] = exc.message
        status = exc.status_code
        return TemplateResponse(request, "admin/registry/compare.html", context, status=status)
    # ``from`` may be a version of another model (a derived_from parent): the same table.
    versions = version_model.objects.select_related(version_model.parent_field)
    before, after = versions.get(pk=found["from"]["id"]), versions.get(pk=found["to"]["id"])
    rows, cut = side_by_side(before, after)
    metrics = [
        {
            "name": metric,
            **delta,
            "percent": f"{delta['relative'] * 100:+.2f}%" if delta["relative"] is not None else "—",
            "mark": {"improved": "▲ better", "worse": "▼ worse"}.get(delta["verdict"], "= same"),
        }
        for metric, delta in (found.get("metrics") or {}).items()
    ]
    context.update(
        found=found,
        from_link=version_url(before),
        to_link=version_url(after),
        rows=rows,
        rows_cut=cut,
        changed_count=len(found["changed"]) + len(found["added"]) + len(found["removed"]),
        metrics=metrics,
        lineage=found.get("lineage"),
        lineage_sentence=lineage_sentence(found),
        api_url=f"/api/v1/{kind}/{name}/diff?{urlencode({'from': found['from']['version'], 'to': found['to']['version']})}",
    )
    return TemplateResponse(request, "admin/registry/compare.html", context, status=status)
