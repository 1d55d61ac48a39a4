"""How the MLflow-compatible endpoints appear in ``/api/schema/``: their own section (tag ``MLflow``), MLflow's
messages (mlflow/protos/model_registry.proto) as JSON Schema, MLflow's error shape. Each endpoint declares its
fields once (``MlflowEndpoint.fields_schema``: query parameters for GET, the JSON body otherwise) and its answer
(``answer_schema``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from kernel.api.schema import RegistryAutoSchema
from kernel.models.aliases import ALIAS_PATTERN
from kernel.rules.names import NAME as NAME_PATTERN

TEXT = {"type": "string"}
# The registry's rules for what MLflow takes as free text (kernel.rules.names, kernel.models.aliases).
NAME = {"type": "string", "pattern": rf"^{NAME_PATTERN}\Z", "description": "A lowercase slug (this registry's names)."}
VERSION = {"type": "string", "pattern": r"^[0-9]{1,18}\Z", "description": "MLflow's version number."}
ALIAS = {
    "type": "string",
    "pattern": rf"^(?!(?:latest|current)\Z){ALIAS_PATTERN}\Z",
    "description": "A lowercase slug starting with a letter; latest and current are reserved.",
}
TAG_KEY = {"type": "string", "minLength": 1, "maxLength": 250}
SOURCE = {"type": "string", "minLength": 1, "maxLength": 1024, "description": "Where the files are: a URI."}
RUN_ID = {"type": "string", "maxLength": 256}
RUN_LINK = {"type": "string", "maxLength": 2048}
DESCRIPTION = {"type": "string", "maxLength": 10000}
STAGE = {"type": "string", "enum": ["None", "Staging", "Production", "Archived"]}
TAG = {"type": "object", "properties": {"key": TAG_KEY, "value": TEXT}, "required": ["key"]}
TIMESTAMP = {"type": "integer", "description": "Milliseconds since the epoch."}
ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {
        "error_code": {
            "type": "string",
            "description": "MLflow's code: RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, "
            "UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_CONFLICT, REQUEST_LIMIT_EXCEEDED, ...",
        },
        "message": TEXT,
    },
}
MODEL_VERSION = {
    "type": "object",
    "properties": {
        "name": TEXT,
        "version": {
            "type": "string",
            "description": "MLflow's number (registration order); the semver is the tag registry.semver.",
        },
        "creation_timestamp": TIMESTAMP,
        "last_updated_timestamp": TIMESTAMP,
        "user_id": TEXT,
        "current_stage": {"type": "string", "enum": ["None", "Staging", "Production", "Archived"]},
        "description": TEXT,
        "source": TEXT,
        "run_id": TEXT,
        "run_link": TEXT,
        "status": {"type": "string", "enum": ["READY"]},
        "tags": {"type": "array", "items": TAG},
        "aliases": {"type": "array", "items": TEXT},
    },
}
REGISTERED_MODEL = {
    "type": "object",
    "properties": {
        "name": TEXT,
        "creation_timestamp": TIMESTAMP,
        "last_updated_timestamp": TIMESTAMP,
        "user_id": TEXT,
        "description": TEXT,
        "latest_versions": {"type": "array", "items": MODEL_VERSION},
        "tags": {"type": "array", "items": TAG},
        "aliases": {
            "type": "array",
            "items": {"type": "object", "properties": {"alias": TEXT, "version": TEXT}},
        },
    },
}
EMPTY = {"type": "object", "properties": {}}
STATUSES = {
    400: "INVALID_PARAMETER_VALUE or RESOURCE_ALREADY_EXISTS",
    401: "UNAUTHENTICATED: no key, or one the registry does not accept (send Authorization: Bearer <key>)",
    403: "PERMISSION_DENIED: the key's user lacks the permission, or the key is read-only",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_CONFLICT: the registry's state forbids it (e.g. deleting the current version)",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE: the database did not answer",
}


def non_empty(schema: dict) -> dict:
    """A query parameter's schema with ``minLength: 1`` on its text: an empty query value is a 400 under ``/api/``
    for every endpoint (``RejectEmptyQueryValuesMiddleware``), and the schema says so, as for ``/api/v1``."""
    if schema.get("type") == "string":
        return {"minLength": 1, **schema}
    if schema.get("type") == "array":
        return {**schema, "items": non_empty(schema.get("items", {}))}
    return schema


def search_fields(kind: str) -> dict:
    return {
        "filter": {**TEXT, "description": f"MLflow's filter grammar over {kind} (docs/api/mlflow.md)."},
        "max_results": {"type": "integer", "minimum": 1},
        "order_by": {"type": "array", "items": TEXT},
        "page_token": TEXT,
    }


class MlflowAutoSchema(RegistryAutoSchema):
    def get_tags(self) -> list[str]:
        return ["MLflow"]

    def get_operation_id(self) -> str:
        return (
            "mlflow_"
            + self.path.removeprefix("/api/2.0/mlflow/").replace("-", "_").replace("/", "_")
            + (
                f"_{self.method.lower()}" if len(self.view.allowed_methods) > 2 else ""  # alias: GET, POST, DELETE
            )
        )

    def get_description(self) -> str:
        return (type(self.view).__doc__ or "").strip()

    def _fields(self) -> tuple[dict, tuple]:
        return self.view.fields_schema.get(self.method.lower(), ({}, ()))

    def get_override_parameters(self):
        if self.method != "GET":
            return []
        fields, required = self._fields()
        return [
            OpenApiParameter(name, type=non_empty(schema), location=OpenApiParameter.QUERY, required=name in required)
            for name, schema in fields.items()
        ]

    def get_request_serializer(self):
        if self.method == "GET":
            return None
        fields, required = self._fields()
        return {"application/json": {"type": "object", "properties": fields, "required": list(required)}}

    def adjust_request_body(self, body):
        if body is not None:
            body["required"] = True  # each endpoint reads its fields from a JSON object
        return body

    def get_response_serializers(self):
        return {200: self.component(self.view.answer_name, self.view.answer_schema)}

    def adjust_response_bodies(self, responses):
        error_ref = self.component("MlflowError", ERROR)
        for code, description in STATUSES.items():
            responses.setdefault(
                str(code), {"content": {"application/json": {"schema": error_ref}}, "description": description}
            )
        return responses
