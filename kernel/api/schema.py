"""OpenAPI: document bodies come from each kind's JSON Schema file, and every error status a view can return is
documented with the one error shape."""

from __future__ import annotations

import copy
import re

from drf_spectacular.plumbing import ResolvedComponent

from kernel.api.idempotency import PARAMETER as IDEMPOTENCY_KEY_PARAMETER
from kernel.api.idempotency import is_idempotent
from registry_project.private_apis.for_spectacular import AutoSchemaHooks

ERROR_SCHEMA = {
    "type": "object",
    "required": ["type", "errors"],
    "properties": {
        "type": {"type": "string", "enum": ["validation_error", "client_error", "server_error"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable reason."},
                    "message": {"type": "string", "description": "What was wrong, for a person."},
                    "path": {"type": ["string", "null"], "description": "JSON Pointer into the request body."},
                    "parameter": {"type": ["string", "null"], "description": "The query or URL parameter at fault."},
                    "details": {"type": "object"},
                },
            },
        },
    },
}

ERROR_DESCRIPTIONS = {
    400: "Invalid input (a body, a path or query parameter, an empty query value): every problem, each with a JSON "
    "Pointer path or parameter name.",
    401: "Missing or invalid credentials (`Authorization: Api-Key <key>`).",
    403: "The credentials may not do this (for example a read-only key writing).",
    404: "No such definition or version.",
    409: "The registry's state forbids this (version exists, spec immutable, in use, archived, an Idempotency-Key "
    "already used for another request).",
    412: "If-Match named a state that no longer holds (someone else changed it first).",
    413: "The request body is too large.",
    414: "The URL is longer than MAX_URL_LENGTH (any path or query string can be).",
    415: "The body is not application/json.",
    503: "The database did not answer (Retry-After says when to retry): nothing is acknowledged. Retry a write with "
    "the same Idempotency-Key, so that one that did complete is answered rather than done twice.",
}


def filter_bounds(filter_) -> dict:
    """The bounds a django-filter filter enforces, as JSON Schema keywords, so that a client (or a fuzzer) knows
    which values the server rejects before sending them."""
    bounds = {}
    for option, keyword in (("max_length", "maxLength"), ("min_value", "minimum"), ("max_value", "maximum")):
        if filter_.extra.get(option) is not None:
            bounds[keyword] = filter_.extra[option]
    return bounds


def inline_defs(schema: dict) -> dict:
    """A JSON Schema file with local ``#/$defs/...`` references, made self-contained for embedding in OpenAPI
    (where ``#`` means the OpenAPI document)."""
    schema = copy.deepcopy(schema)
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


# A field the server accepts with any JSON value (and ignores, or stores as given): named so that a generated client
# types it as "any JSON" rather than guessing from an empty schema.
JSON_VALUE_SCHEMA = {
    "description": "Any JSON value.",
    "type": ["object", "array", "string", "number", "integer", "boolean", "null"],
}

NO_NUL_PATTERN = "^[^\\u0000]*\\Z"


class RegistryAutoSchema(AutoSchemaHooks):
    def component(self, name: str, schema: dict) -> dict:
        """Register a raw schema as a named component once and return a reference to it.

        A copy is registered: drf-spectacular's enum hook rewrites component schemas in place (an enum becomes a
        ``$ref`` to ``<Name>Enum``), which would leave a module-level dict such as ``ERROR_SCHEMA`` pointing at an
        enum component that the next schema generated in the same process never defines."""
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=copy.deepcopy(schema)
        )
        self.registry.register_on_missing(component)
        return component.ref

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if is_idempotent(self.view, self.method):
            parameters = [*parameters, IDEMPOTENCY_KEY_PARAMETER]
        return parameters

    def get_request_serializer(self):
        describe = getattr(self.view, "openapi_request", None)
        if describe is not None:
            body = describe(self)
            if body is not None:
                return {"application/json": body}
        return super().get_request_serializer()

    def adjust_request_body(self, body):
        describe = getattr(self.view, "openapi_request", None)
        if body is not None and describe is not None and describe(self) is not None:
            body["required"] = True  # every JSON body the views describe is required: an empty body is a 400
        return body

    def paginated_beyond_list(self) -> bool:
        # Paginated actions besides ``list`` (GET .../versions): spectacular adds limit/offset and the page wrapper.
        action = getattr(self.view, "action", None)
        return self.method == "GET" and action in getattr(self.view, "paginated_actions", ())

    def get_operation_id(self) -> str:
        action = getattr(self.view, "action", None)
        basename = getattr(self.view, "basename", None)
        if not (action and basename):
            return super().get_operation_id()
        # An action serving several methods (GET/POST .../versions) gets the method as a suffix.
        served_by_action = [m for m, name in (getattr(self.view, "action_map", {}) or {}).items() if name == action]
        suffix = (
            f"_{self.method.lower()}"
            if len(served_by_action) > 1
            and action not in ("list", "create", "retrieve", "update", "partial_update", "destroy")
            else ""
        )
        return f"{basename}_{action}{suffix}"

    def adjust_filter_parameters(self, parameters):
        filterset = getattr(self.view, "filterset_class", None)
        if getattr(self.view, "action", None) in getattr(self.view, "unfiltered_actions", ()):
            return []  # a paginated page of something else than the view's documents (a version's evaluations)
        if filterset is None:
            return parameters
        return [
            {**p, "schema": {**p["schema"], **filter_bounds(filterset.base_filters[p["name"]])}}
            if p["name"] in filterset.base_filters and "$ref" not in p.get("schema", {})
            else p
            for p in parameters
        ]

    def adjust_parameters(self, given):
        parameters = []
        for parameter in given:
            schema = parameter.get("schema", {})
            # An empty query value is a 400 everywhere under /api/ (registry_project/middleware.py).
            if parameter["in"] == "query" and schema.get("type") == "string" and "enum" not in schema:
                schema = {"minLength": 1, **schema}
            # A NUL character anywhere in the path or query string is a 400 (registry_project/middleware.py).
            if (
                parameter["in"] in ("query", "path")
                and schema.get("type") == "string"
                and not ({"enum", "pattern", "format"} & schema.keys())
            ):
                schema = {**schema, "pattern": NO_NUL_PATTERN}
            # The server matches whole values (fullmatch, \Z); a pattern ending in `$` (how drf-spectacular writes
            # a serializer's or a URL's \Z) would let a trailing newline through for clients that use Python's re.
            pattern = schema.get("pattern")
            if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
                schema = {**schema, "pattern": pattern[:-1] + "\\Z"}
            if schema is not parameter.get("schema"):
                parameter = {**parameter, "schema": schema}
            parameters.append(parameter)
        return parameters

    def get_response_serializers(self):
        describe = getattr(self.view, "openapi_responses", None)
        if describe is not None:
            responses = describe(self)
            if responses is not None:
                return responses
        return super().get_response_serializers()

    def adjust_response_bodies(self, responses):
        error_ref = self.component("Error", ERROR_SCHEMA)
        for code in self.error_statuses():
            responses.setdefault(
                str(code),
                {"content": {"application/json": {"schema": error_ref}}, "description": ERROR_DESCRIPTIONS[code]},
            )
        return responses

    def error_statuses(self) -> list[int]:
        # 400 and 414 answer before any view, for every operation: an empty query value, an over-long URL.
        statuses = [400, 401, 403, 414]
        method = self.method.upper()
        # A view may name more, per action (or per method for a plain APIView): a 404 for a name in the query/body.
        statuses += getattr(self.view, "extra_error_statuses", {}).get(
            getattr(self.view, "action", None) or method.lower(), ()
        )
        if method in ("POST", "PUT", "PATCH"):
            statuses += [413, 415]
        statuses.append(503)  # any operation may meet a database that does not answer
        if "{" in self.path:
            statuses.append(404)
        if method != "GET" and self.view.action not in getattr(self.view, "read_only_actions", ()):
            statuses.append(409)
        if method != "GET" and self.view.action in getattr(self.view, "precondition_actions", ()):
            statuses.append(412)
        return sorted(set(statuses))


# Path parameters a created resource's answer names, by the response field that holds them.
LINKED_PATH_PARAMETERS = {
    "name": "$response.body#/name",
    "version": "$response.body#/version",
    "id": "$response.body#/id",
    "alias": "$response.body#/alias",
}
# Operations a link must not lead to: a version's attestation exists only for derived versions; a restore is the
# way back after a DELETE (a client, or a fuzzer's use-after-free check, would read a restored resource as one
# that a DELETE failed to remove).
# A definition's history (and an alias's) outlives its deletion by design, so it is no target either. A rename moves
# the resource to another name, so every later link by the name it was created under would rightly answer 404 (a
# fuzzer's "created resource not found").
UNLINKED_TARGETS = ("/attestation", "/restore", "/history", "/rename")


def link_root(method: str, path: str) -> tuple[str, tuple[str, ...]] | None:
    """Where the resource an operation creates lives, and the path parameters its answer names: POST /models ->
    /models/{name} (name, version), POST .../versions -> .../{name}, POST /bindings and /webhooks -> .../{id},
    PUT .../aliases/{alias} -> itself (name, alias)."""
    if method == "post" and path in ("/api/v1/bindings", "/api/v1/webhooks"):
        return path + "/{id}", ("id",)
    if method == "post" and path in ("/api/v1/models", "/api/v1/pipelines", "/api/v1/policies"):
        return path + "/{name}", ("name", "version")
    if method == "post" and path.endswith("/{name}/versions"):
        return path.removesuffix("/versions"), ("name", "version")
    if method == "put" and path.endswith("/aliases/{alias}"):
        return path, ("name", "alias")
    return None


def add_links(result, generator, request, public):
    """drf-spectacular postprocessing hook: explicit OpenAPI links from each operation that creates something to the
    operations on what it created, every path parameter taken from the RESPONSE (`name`, `version`, `id`, `alias`;
    others, such as `{move}`, left to the client). Without them a client (or schemathesis's link inference) would
    guess, e.g. take `version` from the request body, which the server may have refused or normalized."""
    paths = result.get("paths", {})
    for path, item in paths.items():
        for method, operation in item.items():
            found = link_root(method, path)
            if found is None:
                continue
            root, named = found
            for status, response in operation.get("responses", {}).items():
                if status not in ("200", "201"):
                    continue
                links = {}
                for target_path, target_item in paths.items():
                    if not (target_path == root or target_path.startswith(root + "/")) or target_path.endswith(
                        UNLINKED_TARGETS
                    ):
                        continue
                    for target_method, target in target_item.items():
                        if target_path == path and target_method == method:
                            continue
                        parameters = {
                            name: LINKED_PATH_PARAMETERS[name]
                            for name in re.findall(r"\{(\w+)\}", target_path)
                            if name in named
                        }
                        links[target["operationId"]] = {"operationId": target["operationId"], "parameters": parameters}
                if links:
                    response["links"] = links
    return result
