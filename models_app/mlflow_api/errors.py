"""MLflow's error shape, ``{"error_code": ..., "message": ...}``, for every refusal under MLflow's paths: the views'
(through the registry's own exception handler, then ``as_mlflow``) and those answered before any view runs (a NUL
byte, an empty query value, an over-long URL: ``MlflowErrorShapeMiddleware``), so MLflow's client reads every one."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse

PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")

# MLflow's error code for an answer of this registry: by (status, the registry's error code), else by status.
ERROR_CODES = {
    (409, "definition_exists"): (400, "RESOURCE_ALREADY_EXISTS"),
    (409, "version_exists"): (400, "RESOURCE_ALREADY_EXISTS"),
    (409, "deleted"): (400, "RESOURCE_ALREADY_EXISTS"),
}
STATUS_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    409: "RESOURCE_CONFLICT",
    412: "RESOURCE_CONFLICT",
    413: "BAD_REQUEST",
    414: "BAD_REQUEST",
    415: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def described(error: dict) -> str:
    """One error of the registry's list as a sentence of MLflow's message, naming where it was."""
    where = ""
    if error.get("parameter"):
        where = f" (parameter '{error['parameter']}')"
    elif error.get("path"):
        where = f" (at {error['path']})"
    return f"{error.get('message', '')}{where}"


def as_mlflow(status: int, body: dict) -> tuple[int, dict]:
    """The registry's error answer (``{"type", "errors": [...]}``) as MLflow's: (status, body)."""
    errors = body.get("errors") or [{}]
    message = "; ".join(map(described, errors)).strip() or "Request refused."
    status, code = ERROR_CODES.get(
        (status, errors[0].get("code")), (status, STATUS_CODES.get(status, "INTERNAL_ERROR"))
    )
    return status, {"error_code": code, "message": message}


class MlflowErrorShapeMiddleware:
    """Outside the registry's own error-shape middleware: an error it or another middleware answered under MLflow's
    paths in the registry's shape is answered in MLflow's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith(PREFIXES) or response.streaming:
            return response
        if not response.get("Content-Type", "").startswith("application/json"):
            return response
        try:
            body = json.loads(response.content)
        except ValueError:
            return response
        if not isinstance(body, dict) or "errors" not in body:
            return response  # MLflow's shape already
        status, shaped = as_mlflow(response.status_code, body)
        answer = JsonResponse(shaped, status=status)
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                answer[header] = value
        return answer
