"""The endpoints of MLflow's ModelRegistryService (mlflow/protos/model_registry.proto): paths, methods and field
names as MLflow's client sends them (GET reads its fields from the query string, every other method from a JSON
body), answers and errors in MLflow's shape (``{"error_code": ..., "message": ...}``). Thin: each endpoint reads its
fields, calls ``writes`` or reads rows, and answers ``documents``.

Permissions are the ones ``/api/v1`` declares for the same change (``kernel.api.auth.RegistryAccess``), the rate
limits the same throttle, the keys the same keys (sent as ``Authorization: Bearer <key>``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django.http import JsonResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api.auth import BearerApiKeyAuthentication, RegistryAccess
from kernel.exceptions import DefinitionNotFound
from kernel.models.aliases import Alias
from kernel.writes.delete import soft_delete
from kernel.writes.register import create_definition
from kernel.writes.update import update_definition, update_document
from models_app.mlflow_api import documents, search, writes
from models_app.mlflow_api.writes import InvalidParameter
from models_app.models import Model, ModelVersion

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
    415: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}
MODELS_MAX_RESULTS = (100, 1000)  # (default, limit), as MLflow's server
VERSIONS_MAX_RESULTS = (10000, 200000)


def mlflow_error(status: int, error_code: str, message: str) -> JsonResponse:
    return JsonResponse({"error_code": error_code, "message": message}, status=status)


class MlflowEndpoint(APIView):
    """One endpoint of MLflow's API. ``write_permissions`` declares, per HTTP method that changes the registry, the Django
    permission verb and model it needs (as ``/api/v1`` declares them); ``read_only_posts``: a POST that only
    reads (get-latest-versions)."""

    authentication_classes = (BearerApiKeyAuthentication, SessionAuthentication)
    permission_classes = (RegistryAccess,)
    write_permissions: ClassVar[dict[str, tuple[str, type]]] = {}
    read_only_actions: ClassVar[tuple[str, ...]] = ()

    @property
    def permission_verbs(self) -> dict[str, str]:
        return {method: verb for method, (verb, _) in self.write_permissions.items()}

    def permission_model(self, verb: str):
        return self.write_permissions[self.action][1]

    def initial(self, request, *args, **kwargs):
        self.action = request.method.lower()  # what RegistryAccess looks up in permission_verbs
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        response = super().handle_exception(exc)  # the registry's handler: status and error list
        if isinstance(response, Response):
            body = response.data
        else:
            body = json.loads(response.content)
        errors = body.get("errors") or [{}]
        message = (
            "; ".join(
                f"{e.get('message', '')}" + (f" (at {e['path']})" if e.get("path") else "") for e in errors
            ).strip()
            or "Request refused."
        )
        status, code = ERROR_CODES.get(
            (response.status_code, errors[0].get("code")),
            (response.status_code, STATUS_CODES.get(response.status_code, "INTERNAL_ERROR")),
        )
        answer = Response({"error_code": code, "message": message}, status=status)
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in response:
                answer[header] = response[header]
        return answer

    # -- the request's fields ----------------------------------------------------------------------------------

    def fields(self) -> dict:
        if self.request.method == "GET":
            return self.request.query_params
        data = self.request.data
        if not isinstance(data, dict):
            raise InvalidParameter("The request body must be a JSON object.")
        return data

    def text(self, name: str, *, required: bool = True, default: str = "") -> str:
        value = self.fields().get(name)
        if value in (None, ""):
            if required:
                raise InvalidParameter(f"Missing value for required parameter '{name}'.", path=name)
            return default
        if not isinstance(value, str):
            raise InvalidParameter(f"Parameter '{name}' must be a string.", path=name)
        return value

    def listed(self, name: str) -> list:
        fields = self.fields()
        value = fields.getlist(name) if hasattr(fields, "getlist") else fields.get(name) or []
        if not isinstance(value, list):
            raise InvalidParameter(f"Parameter '{name}' must be a list.", path=name)
        return value

    def tags(self) -> dict[str, str]:
        tags = {}
        for tag in self.listed("tags"):
            if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
                raise InvalidParameter("Each tag is {'key': <text>, 'value': <text>}.", path="tags")
            tags[tag["key"]] = str(tag.get("value") or "")
        return tags

    # -- lookups -------------------------------------------------------------------------------------------------

    def model(self, field: str = "name") -> Model:
        name = self.text(field)
        model = Model.objects.alive().select_related("owner").filter(name=name).first()
        if model is None:
            raise DefinitionNotFound(f"Registered Model with name={name} not found", path=field)
        return model

    def version(self) -> ModelVersion:
        name, number = self.text("name"), self.text("version")
        try:
            number_int = int(number)
        except ValueError:
            raise InvalidParameter(f"Version must be an integer; got {number!r}.", path="version") from None
        found = (
            ModelVersion.objects.select_related("model", "created_by")
            .filter(model__name=name, model__deleted_at__isnull=True, mlflow_number=number_int, deleted_at__isnull=True)
            .first()
        )
        if found is None:
            raise DefinitionNotFound(f"Model Version (name={name}, version={number}) not found", path="version")
        return found


def version_answer(version: ModelVersion) -> Response:
    version = writes.number_of(version)
    return Response({"model_version": documents.model_version(version, documents.version_aliases(version))})


def model_answer(model: Model) -> Response:
    model = Model.objects.select_related("owner").get(pk=model.pk)
    return Response({"registered_model": documents.registered_model(model)})


# -- registered models -----------------------------------------------------------------------------------------


class CreateRegisteredModel(MlflowEndpoint):
    write_permissions = {"post": ("add", ModelVersion)}

    def post(self, request):
        model = create_definition(
            Model, self.text("name"), user=request.user, description=self.text("description", required=False)
        )
        tags = self.tags()
        for key, value in tags.items():
            writes.set_model_tag(model, key, value)
        return model_answer(model)


class GetRegisteredModel(MlflowEndpoint):
    def get(self, request):
        return Response({"registered_model": documents.registered_model(self.model())})


class UpdateRegisteredModel(MlflowEndpoint):
    write_permissions = {"patch": ("change", ModelVersion)}

    def patch(self, request):
        model = self.model()
        if "description" in self.fields():
            update_definition(model, {"description": self.text("description", required=False)})
        return model_answer(model)


class RenameRegisteredModel(MlflowEndpoint):
    write_permissions = {"post": ("change", ModelVersion)}

    def post(self, request):
        self.model()
        raise InvalidParameter(
            "Renaming is not supported: a model's name is its identity in this registry (the change log, aliases, "
            "pipelines and bindings name it). Register the versions under the new name instead.",
            path="new_name",
        )


class DeleteRegisteredModel(MlflowEndpoint):
    write_permissions = {"delete": ("delete", Model)}

    def delete(self, request):
        soft_delete(self.model())
        return Response({})


class SearchRegisteredModels(MlflowEndpoint):
    def get(self, request):
        limit = search.max_results(self.fields().get("max_results"), *MODELS_MAX_RESULTS)
        order = search.ordering(self.listed("order_by"), search.MODEL_ORDER, ["name"], ["name"])
        models = search.filter_models_by(Model.objects.alive().select_related("owner"), self.fields().get("filter"))
        rows, token = search.page(models.order_by(*order), limit, self.fields().get("page_token"))
        answer: dict[str, Any] = {"registered_models": documents.registered_models(rows)}
        if token:
            answer["next_page_token"] = token
        return Response(answer)


class GetLatestVersions(MlflowEndpoint):
    read_only_actions = ("post", "get")

    def post(self, request):
        model = self.model()
        stages = {stage.lower() for stage in self.listed("stages")}
        latest = documents.registered_model(model)["latest_versions"]
        chosen = [v for v in latest if not stages or v["current_stage"].lower() in stages]
        return Response({"model_versions": chosen})

    get = post


class SetRegisteredModelTag(MlflowEndpoint):
    write_permissions = {"post": ("change", ModelVersion)}

    def post(self, request):
        writes.set_model_tag(self.model(), self.text("key"), self.text("value", required=False))
        return Response({})


class DeleteRegisteredModelTag(MlflowEndpoint):
    write_permissions = {"delete": ("change", ModelVersion)}

    def delete(self, request):
        writes.set_model_tag(self.model(), self.text("key"), None)
        return Response({})


class RegisteredModelAlias(MlflowEndpoint):
    write_permissions = {"post": ("change", ModelVersion), "delete": ("change", ModelVersion)}

    def get(self, request):
        model = self.model()
        target = Alias.get(model, self.text("alias"))
        return version_answer(ModelVersion.objects.get(pk=target.version_id))

    def post(self, request):
        version = self.version()
        Alias.move(version.model, self.text("alias"), version.version)
        return Response({})

    def delete(self, request):
        Alias.remove(self.model(), self.text("alias"))
        return Response({})


# -- model versions --------------------------------------------------------------------------------------------


class CreateModelVersion(MlflowEndpoint):
    write_permissions = {"post": ("add", ModelVersion)}

    def post(self, request):
        version = writes.create_version(
            self.text("name"),
            self.text("source"),
            run_id=self.text("run_id", required=False),
            run_link=self.text("run_link", required=False),
            tags=self.tags(),
            description=self.text("description", required=False),
            user=request.user,
        )
        return version_answer(version)


class GetModelVersion(MlflowEndpoint):
    def get(self, request):
        return version_answer(self.version())


class UpdateModelVersion(MlflowEndpoint):
    write_permissions = {"patch": ("change", ModelVersion)}

    def patch(self, request):
        version = self.version()
        if "description" in self.fields():
            update_document(version, {"description": self.text("description", required=False)})
        return version_answer(version)


class DeleteModelVersion(MlflowEndpoint):
    write_permissions = {"delete": ("delete", ModelVersion)}

    def delete(self, request):
        soft_delete(self.version())
        return Response({})


class SearchModelVersions(MlflowEndpoint):
    def get(self, request):
        limit = search.max_results(self.fields().get("max_results"), *VERSIONS_MAX_RESULTS)
        order = search.ordering(
            self.listed("order_by"), search.VERSION_ORDER, ["model__name", "-mlflow_number"], ["pk"]
        )
        versions = ModelVersion.objects.of_alive().select_related("model", "created_by")
        versions = search.filter_versions_by(versions, self.fields().get("filter"))
        rows, token = search.page(versions.order_by(*order), limit, self.fields().get("page_token"))
        aliases = documents.aliases_of(list({v.model_id: v.model for v in rows}.values()))
        by_version: dict = {}
        for name_aliases in aliases.values():
            for alias in name_aliases:
                by_version.setdefault(alias.version_id, []).append(alias.alias)
        answer: dict[str, Any] = {
            "model_versions": [documents.model_version(v, by_version.get(v.pk, [])) for v in rows]
        }
        if token:
            answer["next_page_token"] = token
        return Response(answer)


class SetModelVersionTag(MlflowEndpoint):
    write_permissions = {"post": ("change", ModelVersion)}

    def post(self, request):
        writes.set_version_tag(self.version(), self.text("key"), self.text("value", required=False))
        return Response({})


class DeleteModelVersionTag(MlflowEndpoint):
    write_permissions = {"delete": ("change", ModelVersion)}

    def delete(self, request):
        writes.delete_version_tag(self.version(), self.text("key"))
        return Response({})


class TransitionModelVersionStage(MlflowEndpoint):
    write_permissions = {"post": ("change", ModelVersion)}

    def post(self, request):
        version = self.version()
        archive = self.fields().get("archive_existing_versions") in (True, "true", "True")
        writes.transition_stage(version, self.text("stage"), archive_existing=archive)
        return version_answer(version)


class GetModelVersionDownloadUri(MlflowEndpoint):
    def get(self, request):
        return Response({"artifact_uri": documents.source_of(self.version())})


def endpoint_not_found(request, rest: str = "") -> JsonResponse:
    return mlflow_error(404, "ENDPOINT_NOT_FOUND", f"No MLflow endpoint {request.method} {request.path}.")
