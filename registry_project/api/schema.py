"""OpenAPI: document bodies come from each kind's JSON Schema file, and every error status a view can return is
documented with the one error shape."""

from __future__ import annotations

import copy

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

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
    400: "Invalid input: every problem, each with a JSON Pointer path or parameter name.",
    401: "Missing or invalid credentials (`Authorization: Api-Key <key>`).",
    403: "The credentials may not do this (for example a read-only key writing).",
    404: "No such definition or version.",
    409: "The registry's state forbids this (version exists, spec immutable, in use, archived).",
    412: "If-Match named a state that no longer holds (someone else changed it first).",
    413: "The request body is too large.",
    414: "The URL is longer than MAX_URL_LENGTH (any path or query string can be).",
    415: "The body is not application/json.",
}


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


class RegistryAutoSchema(AutoSchema):
    def component(self, name: str, schema: dict) -> dict:
        """Register a raw schema as a named component once and return a reference to it."""
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref

    def get_request_serializer(self):
        describe = getattr(self.view, "openapi_request", None)
        if describe is not None:
            body = describe(self)
            if body is not None:
                return {"application/json": body}
        return super().get_request_serializer()

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        describe = getattr(self.view, "openapi_request", None)
        if body is not None and describe is not None and describe(self) is not None:
            body["required"] = True  # every JSON body the views describe is required: an empty body is a 400
        return body

    def _is_list_view(self, serializer=None) -> bool:
        # Paginated actions besides ``list`` (GET .../versions): spectacular adds limit/offset and the page wrapper.
        if self.method == "GET" and getattr(self.view, "action", None) in getattr(self.view, "paginated_actions", ()):
            return True
        return super()._is_list_view(serializer)

    def get_operation_id(self) -> str:
        action = getattr(self.view, "action", None)
        basename = getattr(self.view, "basename", None)
        if not (action and basename):
            return super().get_operation_id()
        # An action serving several methods (GET/POST .../versions) gets the method as a suffix.
        served_by_action = [m for m, name in (getattr(self.view, "action_map", {}) or {}).items() if name == action]
        suffix = f"_{self.method.lower()}" if len(served_by_action) > 1 and action not in ("list", "create", "retrieve", "update", "partial_update", "destroy") else ""
        return f"{basename}_{action}{suffix}"

    def get_response_serializers(self):
        describe = getattr(self.view, "openapi_responses", None)
        if describe is not None:
            responses = describe(self)
            if responses is not None:
                return responses
        return super().get_response_serializers()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error_ref = self.component("Error", ERROR_SCHEMA)
        for code in self.error_statuses():
            responses.setdefault(
                str(code),
                {"content": {"application/json": {"schema": error_ref}}, "description": ERROR_DESCRIPTIONS[code]},
            )
        return responses

    def error_statuses(self) -> list[int]:
        # 414: the URL-length limit answers before any view, for every operation.
        statuses = [401, 403, 414]
        method = self.method.upper()
        path_has_params = "{" in self.path
        if method in ("POST", "PUT", "PATCH"):
            statuses += [400, 413, 415]
        elif method == "GET" and not path_has_params:
            statuses.append(400)
        if path_has_params:
            statuses.append(404)
            if method == "GET":
                statuses.append(400)
        if method != "GET" and self.view.action not in getattr(self.view, "read_only_actions", ()):
            statuses.append(409)
        if method != "GET" and self.view.action in getattr(self.view, "precondition_actions", ()):
            statuses.append(412)
        return sorted(set(statuses))
