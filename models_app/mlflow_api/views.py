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
from kernel.api.filtersets import reject_unknown_parameters
from kernel.exceptions import DefinitionNotFound
from kernel.models.aliases import Alias
from kernel.writes.delete import soft_delete
from kernel.writes.rename import rename
from kernel.writes.update import update_definition, update_document
from models_app.mlflow_api import documents, search, writes
from models_app.mlflow_api.errors import as_mlflow
from models_app.mlflow_api.schema import (
    ALIAS,
    DESCRIPTION,
    EMPTY,
    MODEL_VERSION,
    NAME,
    REGISTERED_MODEL,
    RUN_ID,
    RUN_LINK,
    SOURCE,
    STAGE,
    TAG,
    TAG_KEY,
    TEXT,
    VERSION,
    MlflowAutoSchema,
    search_fields,
)
from models_app.mlflow_api.writes import InvalidParameter
from models_app.models import Model, ModelVersion

TAGS = {"type": "array", "items": TAG}
REGISTERED_MODEL_ANSWER = {"type": "object", "properties": {"registered_model": REGISTERED_MODEL}}
MODEL_VERSION_ANSWER = {"type": "object", "properties": {"model_version": MODEL_VERSION}}
MODEL_VERSION_LIST = {"type": "object", "properties": {"model_versions": {"type": "array", "items": MODEL_VERSION}}}
REGISTERED_MODEL_PAGE = {
    "type": "object",
    "properties": {"registered_models": {"type": "array", "items": REGISTERED_MODEL}, "next_page_token": TEXT},
}
MODEL_VERSION_PAGE = {"type": "object", "properties": {**MODEL_VERSION_LIST["properties"], "next_page_token": TEXT}}
MODELS_MAX_RESULTS = (100, 1000)  # (default, limit), as MLflow's server
VERSIONS_MAX_RESULTS = (10000, 200000)


class MlflowEndpoint(APIView):
    """One endpoint of MLflow's API: its fields and answer (for the schema), and the permission its write
    needs."""

    authentication_classes = (BearerApiKeyAuthentication, SessionAuthentication)
    permission_classes = (RegistryAccess,)
    schema = MlflowAutoSchema()
    # For the schema: {method: ({field: JSON Schema}, required names)}, and the answer's component name and schema.
    fields_schema: ClassVar[dict[str, tuple[dict, tuple]]] = {}
    answer_name: ClassVar[str] = "MlflowEmpty"
    answer_schema: ClassVar[dict] = EMPTY
    # The Django permission a write needs, as (verb, model) (``RegistryAccess``: ``<app>.<verb>_<model>``), the same
    # as /api/v1 declares for the same change; None for an endpoint that only reads. A view writes by one verb.
    write_permission: ClassVar[tuple[str, type] | None] = None
    action = "mlflow"  # named for RegistryAccess and the schema hooks, which expect a viewset's action
    read_only_actions: ClassVar[tuple[str, ...]] = ()

    @property
    def permission_verbs(self) -> dict[str, str]:
        return {self.action: self.write_permission[0]} if self.write_permission else {}

    def permission_model(self, verb: str):
        return self.write_permission[1]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not hasattr(self, request.method.lower()):
            return  # a method the endpoint does not take: dispatch answers 405, before any parameter is read
        # As everywhere in this registry, a query parameter the endpoint does not take is refused, not ignored.
        known = self.fields_schema.get("get", ({}, ()))[0] if request.method == "GET" else {}
        reject_unknown_parameters(request, list(known))

    def handle_exception(self, exc):
        response = super().handle_exception(exc)  # the registry's handler: status and error list
        body = response.data if isinstance(response, Response) else json.loads(response.content)
        status, shaped = as_mlflow(response.status_code, body)
        answer = Response(shaped, status=status)
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

    def tag_value(self) -> str:
        """A set-tag's ``value``: required, as MLflow requires it (``null`` is not a value; ``""`` is)."""
        value = self.fields().get("value")
        if value is None:
            raise InvalidParameter("Missing value for required parameter 'value'.", path="value")
        if not isinstance(value, str):
            raise InvalidParameter("Parameter 'value' must be a string.", path="value")
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


def version_answer(version: ModelVersion, *, read_again: bool = True) -> Response:
    """``version``'s document; read again after a write (the database numbers a new version), not for a version a
    read has just loaded with its model and creator."""
    if read_again:
        version = writes.number_of(version)
    return Response({"model_version": documents.model_version(version, documents.version_aliases(version))})


def model_answer(model: Model) -> Response:
    model = Model.objects.select_related("owner").get(pk=model.pk)
    return Response({"registered_model": documents.registered_model(model)})


# -- registered models -----------------------------------------------------------------------------------------


class CreateRegisteredModel(MlflowEndpoint):
    """Create a registered model without versions (MLflow's create_registered_model)."""

    fields_schema = {"post": ({"name": NAME, "tags": TAGS, "description": DESCRIPTION}, ("name",))}
    answer_name, answer_schema = "MlflowRegisteredModelAnswer", REGISTERED_MODEL_ANSWER
    write_permission = ("add", ModelVersion)

    def post(self, request):
        model = writes.create_model(
            self.text("name"), tags=self.tags(), user=request.user, description=self.text("description", required=False)
        )
        return Response({"registered_model": documents.created_registered_model(model)})


class GetRegisteredModel(MlflowEndpoint):
    """A registered model with its latest version per stage, tags and aliases."""

    fields_schema = {"get": ({"name": NAME}, ("name",))}
    answer_name, answer_schema = "MlflowRegisteredModelAnswer", REGISTERED_MODEL_ANSWER

    def get(self, request):
        return Response({"registered_model": documents.registered_model(self.model())})


class UpdateRegisteredModel(MlflowEndpoint):
    """Change a registered model's description."""

    fields_schema = {"patch": ({"name": NAME, "description": DESCRIPTION}, ("name",))}
    answer_name, answer_schema = "MlflowRegisteredModelAnswer", REGISTERED_MODEL_ANSWER
    write_permission = ("change", ModelVersion)

    def patch(self, request):
        model = self.model()
        if "description" in self.fields():
            update_definition(model, {"description": self.text("description", required=False)})
        return model_answer(model)


class RenameRegisteredModel(MlflowEndpoint):
    """Rename a registered model (kernel/writes/rename.py): its versions, aliases and history follow; refused
    while a pipeline's steps name it."""

    fields_schema = {"post": ({"name": NAME, "new_name": NAME}, ("name", "new_name"))}
    answer_name, answer_schema = "MlflowRegisteredModelAnswer", REGISTERED_MODEL_ANSWER
    write_permission = ("change", Model)

    def post(self, request):
        return model_answer(rename(self.model(), self.text("new_name"), path="/new_name"))


class DeleteRegisteredModel(MlflowEndpoint):
    """Delete a registered model (the registry's soft delete)."""

    fields_schema = {"delete": ({"name": NAME}, ("name",))}
    answer_name, answer_schema = "MlflowEmpty", EMPTY
    write_permission = ("delete", Model)

    def delete(self, request):
        soft_delete(self.model())
        return Response({})


class SearchRegisteredModels(MlflowEndpoint):
    """Registered models matching MLflow's filter, a page at a time."""

    fields_schema = {"get": (search_fields("registered models: name, tags.<key>"), ())}
    answer_name, answer_schema = "MlflowRegisteredModelPage", REGISTERED_MODEL_PAGE

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
    """The latest version in each stage (or in the stages named)."""

    fields_schema = {"post": ({"name": NAME, "stages": {"type": "array", "items": TEXT}}, ("name",))}
    answer_name, answer_schema = "MlflowModelVersionList", MODEL_VERSION_LIST
    read_only_actions = ("mlflow",)  # a read that MLflow's client sends as a POST

    def post(self, request):
        model = self.model()
        stages = {stage.lower() for stage in self.listed("stages")}
        latest = documents.registered_model(model)["latest_versions"]
        chosen = [v for v in latest if not stages or v["current_stage"].lower() in stages]
        return Response({"model_versions": chosen})


class SetRegisteredModelTag(MlflowEndpoint):
    """Set one of a registered model's MLflow tags."""

    fields_schema = {"post": ({"name": NAME, "key": TAG_KEY, "value": TEXT}, ("name", "key", "value"))}
    answer_name, answer_schema = "MlflowEmpty", EMPTY
    write_permission = ("change", ModelVersion)

    def post(self, request):
        writes.set_model_tag(self.model(), self.text("key"), self.tag_value())
        return Response({})


class DeleteRegisteredModelTag(MlflowEndpoint):
    """Delete one of a registered model's MLflow tags."""

    fields_schema = {"delete": ({"name": NAME, "key": TAG_KEY}, ("name", "key"))}
    answer_name, answer_schema = "MlflowEmpty", EMPTY
    write_permission = ("change", ModelVersion)

    def delete(self, request):
        writes.set_model_tag(self.model(), self.text("key"), None)
        return Response({})


class RegisteredModelAlias(MlflowEndpoint):
    """GET: the version an alias names; POST: point it at a version (by MLflow number); DELETE: remove it."""

    fields_schema = {
        "get": ({"name": NAME, "alias": ALIAS}, ("name", "alias")),
        "post": ({"name": NAME, "alias": ALIAS, "version": VERSION}, ("name", "alias", "version")),
        "delete": ({"name": NAME, "alias": ALIAS}, ("name", "alias")),
    }
    answer_name, answer_schema = "MlflowModelVersionAnswer", MODEL_VERSION_ANSWER
    write_permission = ("change", ModelVersion)  # POST and DELETE; GET reads

    def get(self, request):
        model = self.model()
        target = Alias.get(model, self.text("alias"))
        version = ModelVersion.objects.select_related("model", "created_by").get(pk=target.version_id)
        return version_answer(version, read_again=False)

    def post(self, request):
        version = self.version()
        Alias.move(version.model, self.text("alias"), version.version)
        return Response({})

    def delete(self, request):
        Alias.remove(self.model(), self.text("alias"))
        return Response({})


# -- model versions --------------------------------------------------------------------------------------------


class CreateModelVersion(MlflowEndpoint):
    """Register a version from an MLflow source URI; READY at once."""

    fields_schema = {
        "post": (
            {
                "name": NAME,
                "source": SOURCE,
                "run_id": RUN_ID,
                "run_link": RUN_LINK,
                "tags": TAGS,
                "description": DESCRIPTION,
            },
            ("name", "source"),
        )
    }
    answer_name, answer_schema = "MlflowModelVersionAnswer", MODEL_VERSION_ANSWER
    write_permission = ("add", ModelVersion)

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
    """A version by its MLflow number."""

    fields_schema = {"get": ({"name": NAME, "version": VERSION}, ("name", "version"))}
    answer_name, answer_schema = "MlflowModelVersionAnswer", MODEL_VERSION_ANSWER

    def get(self, request):
        return version_answer(self.version(), read_again=False)


class UpdateModelVersion(MlflowEndpoint):
    """Change a version's description."""

    fields_schema = {"patch": ({"name": NAME, "version": VERSION, "description": DESCRIPTION}, ("name", "version"))}
    answer_name, answer_schema = "MlflowModelVersionAnswer", MODEL_VERSION_ANSWER
    write_permission = ("change", ModelVersion)

    def patch(self, request):
        version = self.version()
        if "description" in self.fields():
            update_document(version, {"description": self.text("description", required=False)})
        return version_answer(version)


class DeleteModelVersion(MlflowEndpoint):
    """Delete a version (the registry's soft delete; its number is never reused)."""

    fields_schema = {"delete": ({"name": NAME, "version": VERSION}, ("name", "version"))}
    answer_name, answer_schema = "MlflowEmpty", EMPTY
    write_permission = ("delete", ModelVersion)

    def delete(self, request):
        soft_delete(self.version())
        return Response({})


class SearchModelVersions(MlflowEndpoint):
    """Model versions matching MLflow's filter, a page at a time."""

    fields_schema = {"get": (search_fields("model versions: name, run_id, source_path, tags.<key>"), ())}
    answer_name, answer_schema = "MlflowModelVersionPage", MODEL_VERSION_PAGE

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
    """Set one of a version's MLflow tags (kept in its metadata)."""

    fields_schema = {
        "post": (
            {"name": NAME, "version": VERSION, "key": TAG_KEY, "value": TEXT},
            ("name", "version", "key", "value"),
        )
    }
    answer_name, answer_schema = "MlflowEmpty", EMPTY
    write_permission = ("change", ModelVersion)

    def post(self, request):
        writes.set_version_tag(self.version(), self.text("key"), self.tag_value())
        return Response({})


class DeleteModelVersionTag(MlflowEndpoint):
    """Delete one of a version's MLflow tags."""

    fields_schema = {"delete": ({"name": NAME, "version": VERSION, "key": TAG_KEY}, ("name", "version", "key"))}
    answer_name, answer_schema = "MlflowEmpty", EMPTY
    write_permission = ("change", ModelVersion)

    def delete(self, request):
        writes.delete_version_tag(self.version(), self.text("key"))
        return Response({})


class TransitionModelVersionStage(MlflowEndpoint):
    """MLflow's stages as the registry's moves: Production activates, Staging moves the alias staging, Archived
    archives, None deprecates (docs/api/mlflow.md)."""

    fields_schema = {
        "post": (
            {"name": NAME, "version": VERSION, "stage": STAGE, "archive_existing_versions": {"type": "boolean"}},
            ("name", "version", "stage"),
        )
    }
    answer_name, answer_schema = "MlflowModelVersionAnswer", MODEL_VERSION_ANSWER
    write_permission = ("change", ModelVersion)

    def post(self, request):
        version = self.version()
        archive = self.fields().get("archive_existing_versions") in (True, "true", "True")
        writes.transition_stage(version, self.text("stage"), archive_existing=archive)
        return version_answer(version)


class GetModelVersionDownloadUri(MlflowEndpoint):
    """Where a version's files are: this registry, for a version with stored files (MLflow's artifact protocol,
    models_app/mlflow_api/artifacts.py); else its MLflow source."""

    fields_schema = {"get": ({"name": NAME, "version": VERSION}, ("name", "version"))}
    answer_name, answer_schema = "MlflowDownloadUri", {"type": "object", "properties": {"artifact_uri": TEXT}}

    def get(self, request):
        from models_app.mlflow_api.artifacts import download_uri

        version = self.version()
        if version.stored_artifacts:
            return Response({"artifact_uri": download_uri(request, version)})
        return Response({"artifact_uri": documents.source_of(version)})


def endpoint_not_found(request, rest: str = "") -> JsonResponse:
    message = f"No MLflow endpoint {request.method} {request.path}."
    return JsonResponse({"error_code": "ENDPOINT_NOT_FOUND", "message": message}, status=404)
