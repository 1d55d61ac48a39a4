"""The generic REST surface of a versioned definition kind. An app subclasses ``DefinitionViewSet`` and sets
``definition_model`` and ``filterset_class``; every verb calls a model method, no rule lives here."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from kernel.api.auth import ConfirmsCredentialsLate, RegistryAccess, StaffOnly, confirm_credentials
from kernel.api.changes import changes_page_schema, changes_parameters, changes_response
from kernel.api.errors import QueryParameterInvalid, rejection_code
from kernel.api.filtersets import (
    CHECKED_BY_HANDLER,
    StrictFilterBackend,
    StrictQueryParameters,
    UTCDateTimeField,
    reject_unknown_parameters,
)
from kernel.api.idempotency import idempotent
from kernel.api.metadata import DocumentMetadata
from kernel.api.schema import JSON_VALUE_SCHEMA, inline_defs
from kernel.api.serializers import (
    ISSUE_SCHEMA,
    READ_ONLY_PROPERTIES,
    SENT_BACK_PROPERTIES,
    VALIDATION_REPORT_SCHEMA,
    DocumentSerializer,
)
from kernel.documents.shape import (
    DEFINITION_KEY,
    DEFINITION_SCHEMA,
    LABELS_KEY,
    LABELS_SCHEMA,
    required_in_answers,
    server_managed_extras,
)
from kernel.exceptions import DefinitionNotFound, RegistryError
from kernel.fastpaths import page_documents
from kernel.metrics import REGISTRATIONS, REJECTIONS, code_label
from kernel.models import aliases
from kernel.models.aliases import Alias
from kernel.models.changelog import ChangeLogEntry
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.reads.diff import MAX_DIFF_ENTRIES, diff_versions
from kernel.reads.lookups import lookup, version_by_id
from kernel.rules.check import check_document
from kernel.rules.names import NAME
from kernel.rules.validation import DocumentInvalid, Issue, pointer
from kernel.writes import Registration, lifecycle
from kernel.writes.delete import restore_named, soft_delete
from kernel.writes.register import register, register_version_of
from kernel.writes.rename import rename
from kernel.writes.update import update_document

VERSION_REGEX = r"[^/]+"
RENAME_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "pattern": rf"^{NAME}\Z", "description": "The new name."}},
}
RENAMED_SCHEMA = {
    "type": "object",
    "required": ["kind", "name", "previous_name"],
    "properties": {"kind": {"type": "string"}, "name": {"type": "string"}, "previous_name": {"type": "string"}},
}
UUID_REGEX = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

# What a version reference may be, for generated clients: semver.org's grammar (build metadata included), or a
# keyword. The server parses with the semver library and refuses numbers (MAJOR, MINOR, PATCH and numeric
# prerelease identifiers) above 2^31-1 (kernel.rules.semver.MAX_COMPONENT), so the pattern bounds them too.
SEMVER_NUMBER_REGEX = (
    r"(?:0|[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}|21474[0-7][0-9]{4}"
    r"|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])"
)
_N = SEMVER_NUMBER_REGEX
SEMVER_REGEX = (
    rf"{_N}\.{_N}\.{_N}"
    rf"(?:-(?:{_N}|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:{_N}|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)
SEMVER_PATTERN = rf"^{SEMVER_REGEX}\Z"
VERSION_REF_PATTERN = rf"^(latest|current|@[a-z][a-z0-9._-]{{0,63}}|{SEMVER_REGEX})\Z"
VERSION_REF_SCHEMA = {"type": "string", "pattern": VERSION_REF_PATTERN, "maxLength": 128}
VERSION_PARAM = OpenApiParameter(
    "version",
    VERSION_REF_SCHEMA,
    OpenApiParameter.QUERY,
    required=False,
    description="A version number, `latest` (highest release, the default), `current` (the activated one) or `@alias`.",
)
VERSION_PATH_PARAM = OpenApiParameter(
    "version",
    VERSION_REF_SCHEMA,
    OpenApiParameter.PATH,
    description="A version number, `latest`, `current` or `@alias`.",
)
NAME_PATH_PARAM = OpenApiParameter(
    "name", {"type": "string", "pattern": rf"^{NAME}\Z"}, OpenApiParameter.PATH, description="The definition's name."
)


def _has_body(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0 or "chunked" in request.META.get(
            "HTTP_TRANSFER_ENCODING", ""
        )
    except ValueError:
        return True  # a malformed length is the parser's to reject


MAX_ALIASES_LISTED = 1000
ALIAS_REGEX = r"[^/]+"  # checked by the model, so a bad name gets the one error shape rather than a bare 404
ALIAS_PARAM = OpenApiParameter(
    "alias",
    {"type": "string", "pattern": rf"^{aliases.ALIAS_PATTERN}\Z", "not": {"enum": sorted(aliases.RESERVED_ALIASES)}},
    OpenApiParameter.PATH,
    description="An alias: a lowercase slug starting with a letter (not `latest` or `current`).",
)
AT_PARAM = OpenApiParameter(
    "at",
    OpenApiTypes.DATETIME,
    OpenApiParameter.QUERY,
    required=False,
    description="Answer for this moment in the past (ISO 8601), from the change log.",
)
ALIAS_SCHEMA = {
    "type": "object",
    "required": ["alias", "name", "version"],
    "properties": {
        "alias": {"type": "string"},
        "name": {"type": "string"},
        "version": {"type": "string"},
        "version_id": {"type": "string", "format": "uuid"},
        "updated_at": {"type": "string", "format": "date-time"},
        "at": {"type": "string", "format": "date-time", "description": "Only in a point-in-time answer."},
    },
}

DIFF_FROM_PARAM = OpenApiParameter(
    "from",
    VERSION_REF_SCHEMA,
    OpenApiParameter.QUERY,
    required=False,
    description="The version compared from: a number, `latest`, `current` or `@alias`. Left out, a model version is "
    "compared with the version it derives from (`derived_from`); a version that derives from none is a 400 naming "
    "`from` (every pipeline and policy version: name it).",
)
DIFF_TO_PARAM = OpenApiParameter(
    "to",
    VERSION_REF_SCHEMA,
    OpenApiParameter.QUERY,
    required=True,
    description="The version compared to: a number, `latest`, `current` or `@alias`.",
)
_VALUE = {"description": "Any JSON value."}
_ONE_SIDED = {
    "type": "object",
    "required": ["path", "value"],
    "properties": {"path": {"type": "string", "description": "JSON Pointer."}, "value": _VALUE},
}
_SIDE_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "version", "status", "is_current", "aliases", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "version": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "deprecated", "archived"]},
        "is_current": {"type": "boolean"},
        "aliases": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_LINEAGE_STEP = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "model": {"type": "string"},
        "version": {"type": "string"},
        "relation": {"type": ["string", "null"], "description": "How this version derives from the one before."},
    },
}
VERSION_DIFF_SCHEMA = {
    "type": "object",
    "required": ["kind", "name", "from", "to", "changed", "added", "removed", "truncated"],
    "properties": {
        "kind": {"type": "string", "enum": ["model", "pipeline", "policy"]},
        "name": {"type": "string"},
        "from": _SIDE_SCHEMA,
        "to": _SIDE_SCHEMA,
        "changed": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "from", "to"],
                "properties": {
                    "path": {"type": "string", "description": "JSON Pointer."},
                    "from": _VALUE,
                    "to": _VALUE,
                },
            },
        },
        "added": {"type": "array", "description": "Fields only `to` has.", "items": _ONE_SIDED},
        "removed": {"type": "array", "description": "Fields only `from` has.", "items": _ONE_SIDED},
        "truncated": {
            "type": "boolean",
            "description": f"More than {MAX_DIFF_ENTRIES} fields differ; the first {MAX_DIFF_ENTRIES} are listed.",
        },
        "metrics": {
            "type": "object",
            "description": "Models only: each metric both versions report.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "from": {"type": "number"},
                    "to": {"type": "number"},
                    "absolute": {"type": "number"},
                    "relative": {"type": ["number", "null"], "description": "Relative to `from`; null when it is 0."},
                    "better": {"type": "string", "enum": ["higher", "lower"], "description": "Which way is better."},
                    "improved": {"type": "boolean"},
                    "verdict": {"type": "string", "enum": ["improved", "worse", "unchanged"]},
                },
            },
        },
        "lineage": {
            "type": "object",
            "description": "Models only: how `to` stands to `from`.",
            "properties": {
                "relation": {
                    "type": "string",
                    "enum": ["same", "descendant", "ancestor", "common_ancestor", "unrelated"],
                    "description": "`descendant`: `to` derives from `from`; `ancestor`: the other way round.",
                },
                "hops": {"type": ["integer", "null"], "description": "Derivations between them, along `path`."},
                "path": {"type": "array", "items": _LINEAGE_STEP, "description": "The older first."},
                "common_ancestor": _LINEAGE_STEP,
            },
        },
    },
}


def moment_param(request):
    """The ``at`` query parameter as an aware UTC datetime, or None; a bad value is a 400 naming it."""
    raw = request.query_params.get("at")
    if raw is None:
        return None
    try:
        moment = UTCDateTimeField().clean(raw)
    except Exception:
        moment = None
    if moment is None:
        raise QueryParameterInvalid({"at": ["Expected an ISO 8601 date-time such as 2026-11-20T14:00:00Z."]})
    return moment


# Fields of an alias document (GET) that PUT accepts back and ignores.
ALIAS_ECHOED_FIELDS = ("alias", "name", "version_id", "updated_at")


class BodyRequiredMixin:
    """For viewsets whose OpenAPI schema marks a JSON body required (``openapi_request``): a POST/PUT/PATCH of
    one of ``body_required_actions`` without a body is a 400, never read as an empty document or empty options."""

    body_required_actions: ClassVar[tuple[str, ...]] = ()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method.lower() not in getattr(self, "action_map", {}):
            return  # a method this endpoint does not take: the 405 comes first
        if (
            request.method in ("POST", "PUT", "PATCH")
            and self.action in self.body_required_actions
            and not _has_body(request)
        ):
            raise ParseError("A JSON body is required.")


class DefinitionViewSet(ConfirmsCredentialsLate, StrictQueryParameters, BodyRequiredMixin, viewsets.GenericViewSet):
    definition_model: ClassVar[type[Definition]]
    serializer_class = DocumentSerializer
    metadata_class = DocumentMetadata
    filter_backends = [StrictFilterBackend]
    lookup_field = "name"
    lookup_value_regex = NAME
    read_only_actions: ClassVar[tuple[str, ...]] = ("validate",)
    # The document reads: their statement also reads the credential token (ConfirmsCredentialsLate, respond).
    late_confirmed_actions: ClassVar[tuple[str, ...]] = ("retrieve", "version_detail", "by_id")
    # Conditional writes (If-Match) that may answer 412.
    precondition_actions: ClassVar[tuple[str, ...]] = ("alias", "alias_rollback")
    paginated_actions: ClassVar[tuple[str, ...]] = ("versions",)
    query_parameters: ClassVar[dict[str, object]] = {
        "list": CHECKED_BY_HANDLER,
        "versions": CHECKED_BY_HANDLER,
        "history": CHECKED_BY_HANDLER,
        "alias_history": CHECKED_BY_HANDLER,
        "retrieve": ("version",),
        "update": ("version",),
        "partial_update": ("version",),
        "version_detail": ("at",),
        "alias": ("at",),
        "diff": ("from", "to"),
    }

    body_required_actions: ClassVar[tuple[str, ...]] = (
        "create",
        "update",
        "partial_update",
        "validate",
        "versions",
        "rename",
    )
    # What each write that is not a standard action needs (RegistryAccess; create, update, partial_update and
    # destroy take add, change, change and delete): registering adds a version; lifecycle moves and alias moves
    # change one; restoring a definition undoes its deletion, so it needs what deleting it needs.
    permission_verbs: ClassVar[dict[str, str]] = {
        "versions": "add",
        "delete_version": "delete",
        "lifecycle": "change",
        "alias": "change",
        "alias_rollback": "change",
        "restore": "delete",
        "rename": "change",
    }

    def permission_model(self, verb: str):
        """Deleting, restoring or renaming a whole definition needs ``<verb>_<definition>``; everything else acts
        on a version."""
        return self.definition_model if self.action in ("destroy", "restore", "rename") else self.version_model

    @property
    def version_model(self) -> type[DefinitionVersion]:
        return self.definition_model.versions.rel.related_model

    def get_queryset(self):
        return self.version_model.objects.of_alive().with_parent().with_aliases()

    def get_definition(self) -> Definition:
        return self.definition_model.get_alive(self.kwargs["name"])

    def respond(self, version: DefinitionVersion, status_code: int = 200, warnings=None) -> Response:
        """The version's document; ``warnings`` (a list, possibly empty) adds the ``warnings`` key."""
        if self.request.method in ("GET", "HEAD"):
            # The document reads' statement also selected the credential token (kernel.reads.lookups).
            confirm_credentials(self, self.request, getattr(version, "credential_token", None))
            # A version's document changes only with its own row or its definition's (see document_etag), so a
            # client holding the current document gets a 304 without the document being built again.
            etag = version.document_etag()
            held = parse_etags(self.request.headers.get("If-None-Match", ""))
            if etag in held or "*" in held:
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
            response = Response(self.get_serializer(version).data, status=status_code)
            response["ETag"] = etag
            return response
        body = self.get_serializer(version).data
        if warnings is not None:
            body["warnings"] = [w.as_dict() for w in warnings]
        return Response(body, status=status_code)

    def registering(self, write) -> Response:
        """The answer to a registration request made by ``write()``, counted for /metrics: created or retry, or
        the rejection's error code (kernel/metrics.py)."""
        kind = self.definition_model.kind
        try:
            registration = write()
        except Exception as error:
            code = rejection_code(error)
            if code is not None:
                REJECTIONS.labels(kind, code_label(code)).inc()
            raise
        REGISTRATIONS.labels(kind, "retry" if registration.existing else "created").inc()
        return self.registered(registration)

    def registered(self, registration: Registration) -> Response:
        code = status.HTTP_200_OK if registration.existing else status.HTTP_201_CREATED
        response = self.respond(registration.version, code, registration.warnings)
        version = registration.version
        response["Location"] = self.reverse_action(
            "version-detail", kwargs={"name": version.definition.name, "version": version.version}
        )
        return response

    # -- collection -------------------------------------------------------------------------------------------

    def list(self, request):
        """Each definition's latest version (highest release), filtered and paginated."""
        queryset = self.filter_queryset(self.get_queryset().latest_per_definition())
        if "ordering" not in request.query_params:
            queryset = queryset.order_by(f"{self.version_model.parent_field}__name")
        return self.page_of(queryset)

    def page_of(self, versions) -> Response:
        """A paginated page of documents: built by PostgreSQL when it can (``page_documents``), else serialised."""
        if page_documents.built_by_database(self.request):
            keys = self.paginator.paginate_keys(versions, self.request)
            if keys is None:  # a page past the bounded count
                texts = [text for _, text in self.paginate_queryset(page_documents.document_texts(versions))]
            else:
                by_key = page_documents.documents_by_key(self.version_model, keys)
                # A version deleted between the two statements is left out, as a page read a moment later would
                # leave it out (one that changed shows its new state; the count and the page were never one read).
                texts = [by_key[key] for key in keys if key in by_key]
            return page_documents.rendered_page(self.get_paginated_response([]).data, texts)
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @idempotent
    def create(self, request):
        """Register a version; the definition is created with its first version."""
        return self.registering(lambda: register(self.definition_model, request.data, user=request.user))

    @action(detail=False, methods=["post"])
    def validate(self, request):
        """Validate a document without saving it: every error and warning, each with a JSON Pointer path."""
        _, report = check_document(self.definition_model, request.data)
        return Response(report.as_dict())

    @extend_schema(parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
    @action(detail=False, methods=["get"], url_path=rf"id/(?P<id>{UUID_REGEX})")
    def by_id(self, request, id: str):
        """A version document by its UUID."""
        version = version_by_id(self.definition_model, uuid.UUID(id))
        if version is None:
            raise DefinitionNotFound(f"No {self.definition_model.kind} version with id {id}.", path="id")
        return self.respond(version)

    # -- one definition ---------------------------------------------------------------------------------------

    @extend_schema(parameters=[VERSION_PARAM])
    def retrieve(self, request, name: str):
        """The latest version's document, or the one named by `?version=`."""
        return self.respond(lookup(self.definition_model, name, request.query_params.get("version")))

    @extend_schema(parameters=[VERSION_PARAM])
    def update(self, request, name: str):
        """Change the mutable fields the body carries (description, tags, metadata, the `definition` block,
        definition-wide fields); every field left out stays as it is (the same update as PATCH). The spec is
        immutable and a change to it is a 409; server-managed fields are ignored."""
        version = lookup(self.definition_model, name, request.query_params.get("version"))
        updated = update_document(version, request.data)
        return self.respond(updated.version, warnings=updated.warnings)

    @extend_schema(parameters=[VERSION_PARAM])
    def partial_update(self, request, name: str):
        """Change the mutable fields the body carries; the others stay (the same update as PUT).
        `{"definition": {"tags": [...]}}` changes the definition's own tags, top-level `tags` the version's (the
        latest, or `?version=`)."""
        version = lookup(self.definition_model, name, request.query_params.get("version"))
        updated = update_document(version, request.data)
        return self.respond(updated.version, warnings=updated.warnings)

    def destroy(self, request, name: str):
        """Soft delete: the rows stay; 409 while something depends on it."""
        soft_delete(self.get_definition())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # -- versions ---------------------------------------------------------------------------------------------

    @action(detail=True, methods=["get", "post"])
    @idempotent
    def versions(self, request, name: str):
        """GET: every version, newest first (paginated; the list's filters apply). POST: register a new version
        of this definition."""
        if request.method == "POST":
            return self.registering(
                lambda: register_version_of(self.definition_model, name, request.data, user=request.user)
            )
        definition = self.get_definition()
        # The list's filters apply to the versions too (?status=active, ?tag=...).
        return self.page_of(
            self.filter_queryset(definition.versions.present().newest_first().with_aliases().with_parent())
        )

    @extend_schema(parameters=[VERSION_PATH_PARAM, AT_PARAM])
    @action(detail=True, methods=["get"], url_path=rf"versions/(?P<version>{VERSION_REGEX})")
    def version_detail(self, request, name: str, version: str):
        """One version by number, or `latest` / `current` / `@alias`; with `?at=`, the version that `current`
        or the alias named at that moment (from the change log)."""
        moment = moment_param(request)
        if moment is None:
            return self.respond(lookup(self.definition_model, name, version))
        definition = self.get_definition()
        if version == "current":
            then = aliases.current_at(definition, moment)
        elif version.startswith("@"):
            aliases.check_alias_name(version[1:])
            then = aliases.alias_at(definition, version[1:], moment)
        else:
            # A number (or `latest`) names one version at every moment: `at` changes nothing for it.
            return self.respond(lookup(self.definition_model, name, version))
        if then is None:
            raise DefinitionNotFound(
                f"{definition}: {version} named no version at {moment.isoformat()}.", code="not_at_that_time"
            )
        return self.respond(definition.resolve_version(then))

    @extend_schema(parameters=[VERSION_PATH_PARAM], request=None)
    @version_detail.mapping.delete
    def delete_version(self, request, name: str, version: str):
        """Soft-delete one version: it leaves every answer, its number stays taken. 409 while it is current or
        something depends on it."""
        soft_delete(lookup(self.definition_model, name, version))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], permission_classes=[RegistryAccess, StaffOnly])
    def restore(self, request, name: str):
        """Restore a soft-deleted definition (staff only); answers with its latest version's document."""
        restore_named(self.definition_model, name)
        return self.respond(lookup(self.definition_model, name))

    @action(detail=True, methods=["post"])
    @idempotent
    def rename(self, request, name: str):
        """Give the definition a new name, `{"name": "<new name>"}`: its versions, aliases and bindings follow, its
        history reads across both names, the old name is free again. 409 while a pipeline's steps name it, or if
        the new name is taken (kernel/writes/rename.py)."""
        body = request.data
        new_name = body.get("name") if isinstance(body, dict) else None
        unknown = sorted(set(body) - {"name"}) if isinstance(body, dict) else []
        issues = [Issue(pointer(key), "unknown_field", f"Unknown field: {key[:100]}.") for key in unknown[:20]]
        if not isinstance(new_name, str) or not new_name:
            issues.append(Issue("/name", "required", 'Send {"name": "<the new name>"}.'))
        if issues:
            raise DocumentInvalid(issues)
        definition = rename(self.get_definition(), new_name)
        location = self.reverse_action("detail", kwargs={"name": definition.name})
        return Response(
            {"kind": definition.kind, "name": definition.name, "previous_name": name}, headers={"Location": location}
        )

    @extend_schema(
        parameters=[
            VERSION_PATH_PARAM,
            OpenApiParameter("move", str, OpenApiParameter.PATH, enum=[*lifecycle.MOVES]),
        ],
        request=None,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"versions/(?P<version>{VERSION_REGEX})/(?P<move>activate|deprecate|archive)",
    )
    @idempotent
    def lifecycle(self, request, name: str, version: str, move: str):
        """activate (make current), deprecate, or archive a version. Deprecating or archiving the current
        version clears it."""
        return self.respond(lifecycle.move(lookup(self.definition_model, name, version), move))

    # -- comparison ---------------------------------------------------------------------------------------------

    @extend_schema(parameters=[DIFF_FROM_PARAM, DIFF_TO_PARAM])
    @action(detail=True, methods=["get"])
    def diff(self, request, name: str):
        """Compare two versions: the fields changed, added and removed between their documents (spec, description,
        tags, metadata), each with its JSON Pointer and both values; for models also the metric deltas, each with
        the direction that counts as better, and where the two sit in lineage. 400 names a missing or malformed
        parameter, 404 an unknown version (naming `from` or `to`)."""
        params = request.query_params
        return Response(diff_versions(self.definition_model, name, params.get("from"), params.get("to")))

    # -- aliases ------------------------------------------------------------------------------------------------

    @action(detail=True, methods=["get"], url_path="aliases")
    def alias_list(self, request, name: str):
        """Every alias of this definition with the version it points at."""
        definition = self.get_definition()
        rows = Alias.objects.filter(kind=definition.kind, definition_name=definition.name)[:MAX_ALIASES_LISTED]
        return Response({"results": [row.as_dict() for row in rows]})

    @extend_schema(methods=["GET"], parameters=[ALIAS_PARAM, AT_PARAM])
    @extend_schema(
        methods=["PUT", "DELETE"],
        parameters=[
            ALIAS_PARAM,
            OpenApiParameter(
                "If-Match",
                {"type": "string", "minLength": 1},
                OpenApiParameter.HEADER,
                required=False,
                description=(
                    "The version (or ETag) the alias points at now, or `*`; 412 if someone moved it first, or if "
                    'the tag is weak (`W/"..."`: If-Match compares strongly), 400 if empty.'
                ),
            ),
        ],
    )
    @action(detail=True, methods=["get", "put", "delete"], url_path=rf"aliases/(?P<alias>{ALIAS_REGEX})")
    @idempotent
    def alias(self, request, name: str, alias: str):
        """GET: where the alias points (with `?at=`, where it pointed then). PUT `{"version": "1.2.0"}`: move it
        (atomic; conditional with If-Match). DELETE: remove it. Every move is in the change log."""
        definition = self.get_definition()
        if_match = request.headers.get("If-Match")
        if if_match is not None and not if_match.strip():
            # RFC 9110: If-Match is "*" or a list of entity tags; an empty one names no state to compare with.
            raise RegistryError(
                "If-Match is empty: send the version (or ETag) the alias points at now, or *.",
                code="invalid_header",
                path="If-Match",
            )
        if request.method != "GET":
            reject_unknown_parameters(request, [])  # `at` reads the past; it cannot move or remove an alias then
        if request.method == "PUT":
            body = request.data
            version = body.get("version") if isinstance(body, dict) else None
            if not isinstance(version, str) or not version or len(version) > 130:
                raise DocumentInvalid(
                    [Issue("/version", "required", 'Send {"version": "<number, latest, current or @alias>"}.')]
                )
            unknown = sorted(set(body) - {"version", *ALIAS_ECHOED_FIELDS})
            issues = [Issue(f"/{key}", "unknown_field", f"Unknown field: {key}.") for key in unknown]
            # The echoed fields are ignored, but only as GET returned them: text (the schema says so).
            issues += [
                Issue(f"/{key}", "invalid_type", f"{key} is ignored here, but must be text as GET returned it.")
                for key in ALIAS_ECHOED_FIELDS
                if key in body and not isinstance(body[key], str)
            ]
            if issues:
                raise DocumentInvalid(issues)
            return self._alias_response(Alias.move(definition, alias, version, if_match=if_match))
        if request.method == "DELETE":
            Alias.remove(definition, alias, if_match=if_match)
            return Response(status=status.HTTP_204_NO_CONTENT)
        moment = moment_param(request)
        if moment is not None:
            aliases.check_alias_name(alias)
            then = aliases.alias_at(definition, alias, moment)
            if then is None:
                raise DefinitionNotFound(
                    f"{definition}@{alias} pointed at no version at {moment.isoformat()}.", code="not_at_that_time"
                )
            return Response(
                {
                    "alias": alias,
                    "name": definition.name,
                    "version": then,
                    "at": moment.isoformat().replace("+00:00", "Z"),
                }
            )
        return self._alias_response(Alias.get(definition, alias))

    @extend_schema(parameters=[ALIAS_PARAM, *changes_parameters(with_object=False)])
    @action(detail=True, methods=["get"], url_path=rf"aliases/(?P<alias>{ALIAS_REGEX})/history")
    def alias_history(self, request, name: str, alias: str):
        """Every move of the alias (and its deletion), with actor and time, oldest first."""
        definition = self.get_definition()
        aliases.check_alias_name(alias)
        return changes_response(request, aliases.history(definition, alias), with_object=False)

    @extend_schema(parameters=[ALIAS_PARAM], request=None)
    @action(detail=True, methods=["post"], url_path=rf"aliases/(?P<alias>{ALIAS_REGEX})/rollback")
    @idempotent
    def alias_rollback(self, request, name: str, alias: str):
        """Move the alias back to its previous target: a new move in the log, not an erasure."""
        return self._alias_response(Alias.rollback(self.get_definition(), alias))

    def _alias_response(self, row: Alias) -> Response:
        return Response(row.as_dict(), headers={"ETag": row.etag()})

    # -- change log ---------------------------------------------------------------------------------------------

    @extend_schema(parameters=changes_parameters(with_object=False))
    @action(detail=True, methods=["get"])
    def history(self, request, name: str):
        """This definition's change-log entries (its versions, lifecycle, aliases, deletion), oldest first;
        a deleted definition keeps its history."""
        definition = self.definition_model.objects.filter(name=name).first()
        if definition is None:
            raise DefinitionNotFound(f"No {self.definition_model.kind} named '{name}'.", path="name")
        return changes_response(request, ChangeLogEntry.objects.of_definition(definition), with_object=False)

    # -- OpenAPI bodies, from the kind's JSON Schema ------------------------------------------------------------

    def document_schemas(self, schema) -> tuple[dict, dict]:
        kind = self.definition_model.kind.capitalize()
        body = inline_defs(self.definition_model.validator.schema)
        properties = {**body["properties"], "version": {**body["properties"]["version"], "pattern": SEMVER_PATTERN}}
        properties[DEFINITION_KEY] = DEFINITION_SCHEMA
        properties[LABELS_KEY] = LABELS_SCHEMA
        # A kind may declare server-managed fields of its own (models: storage tier, stored artifacts).
        version_model = self.definition_model._meta.get_field("versions").related_model
        extra = {field.name: field.schema for field in server_managed_extras(version_model)}
        sent_back = {
            **SENT_BACK_PROPERTIES,
            **{name: {"description": f"Server-managed ({name}); ignored when sent."} for name in extra},
        }
        json_value = schema.component("JsonValue", JSON_VALUE_SCHEMA)
        sent_back = {name: {**json_value, **described} for name, described in sent_back.items()}
        request = {**body, "properties": {**properties, **sent_back}}
        response = {**body, "properties": {**properties, **READ_ONLY_PROPERTIES, **extra}}
        response.pop("required", None)
        response["required"] = required_in_answers(version_model)
        registered = {
            **response,
            "properties": {**response["properties"], "warnings": {"type": "array", "items": ISSUE_SCHEMA}},
        }
        changes = {
            "type": "object",
            "additionalProperties": False,
            "description": (
                "Mutable fields: description, tags, metadata, the `definition` block and definition-wide fields; "
                "those left out stay as they are (PUT and PATCH alike; `null` clears a definition-wide field). The "
                "rest of a document as GET returned it may be sent back: spec fields unchanged (a change is a 409 "
                "`spec_immutable`), server-managed fields are ignored with a warning (a different `status`, "
                "`active` or `is_current` is a 400 pointing to the lifecycle actions)."
            ),
            "properties": {**properties, **sent_back},
        }
        # POST .../{name}/versions: the URL names the definition, so the body's name is optional (and must match).
        next_version = {**request, "required": [r for r in request.get("required", []) if r != "name"]}
        return (
            schema.component(f"{kind}Document", request),
            {
                "next_version": schema.component(f"{kind}NextVersion", next_version),
                "plain": schema.component(f"{kind}VersionDocument", response),
                "registered": schema.component(f"Registered{kind}", registered),
                "changes": schema.component(f"{kind}Changes", changes),
            },
        )

    def openapi_request(self, schema):
        request_doc, docs = self.document_schemas(schema)
        if self.action == "create":
            return request_doc
        if self.action == "alias" and schema.method == "PUT":
            # The alias as GET returned it may be sent back: its other fields are ignored; any other field is a 400.
            echoed = {
                name: {"type": "string", "description": "As GET returned it; ignored."} for name in ALIAS_ECHOED_FIELDS
            }
            return {
                "type": "object",
                "required": ["version"],
                "additionalProperties": False,
                "properties": {
                    "version": {**VERSION_REF_SCHEMA, "description": "A number, latest, current or @alias."},
                    **echoed,
                },
            }
        if self.action == "versions" and schema.method == "POST":
            return docs["next_version"]
        if self.action == "validate":
            return {
                "description": (
                    f"Any JSON value. The answer is always 200 with a report: a body that is not a valid "
                    f"{self.definition_model.kind} document is `valid: false` with every error, never a 400 (only "
                    "malformed JSON, a wrong content type, an oversized body, and JSON that no document can hold (NUL "
                    "characters, nesting past the depth limit, integers beyond 2^53-1 that are not a double's "
                    "shortest form such as 1e16) are)."
                ),
            }
        if self.action in ("update", "partial_update"):
            return docs["changes"]
        if self.action == "rename":
            return RENAME_SCHEMA
        return None

    def openapi_responses(self, schema):
        _, docs = self.document_schemas(schema)
        if self.action == "create" or (self.action == "versions" and schema.method == "POST"):
            return {201: docs["registered"], 200: docs["registered"]}  # 200: a retry of the same registration
        if self.action in ("update", "partial_update"):
            return {200: docs["registered"]}
        if self.action in ("retrieve", "by_id", "version_detail"):
            return {200: docs["plain"], 304: None}  # If-None-Match with the document's ETag
        if self.action in ("lifecycle", "restore"):
            return {200: docs["plain"]}
        if self.action == "validate":
            return {200: schema.component("ValidationReport", VALIDATION_REPORT_SCHEMA)}
        if self.action == "list":
            # The paginator wraps this in {count, next, previous, results}.
            return {200: docs["plain"]}
        if self.action == "versions" and schema.method == "GET":
            return {200: docs["plain"]}  # paginated (``paginated_actions``)
        if self.action in ("destroy", "delete_version"):
            return {204: None}
        if self.action == "diff":
            return {200: schema.component("VersionDiff", VERSION_DIFF_SCHEMA)}
        if self.action in ("history", "alias_history"):
            return {200: changes_page_schema(schema)}
        if self.action in ("alias", "alias_rollback"):
            if schema.method == "DELETE":
                return {204: None}
            return {200: schema.component("Alias", ALIAS_SCHEMA)}
        if self.action == "rename":
            return {200: RENAMED_SCHEMA}
        if self.action == "alias_list":
            return {
                200: {
                    "type": "object",
                    "properties": {"results": {"type": "array", "items": schema.component("Alias", ALIAS_SCHEMA)}},
                }
            }
        return None
