"""MLflow's artifact protocol (``/api/2.0/mlflow-artifacts/artifacts``), for the files a version has stored in this
registry: ``get-download-uri`` answers ``<server>/api/2.0/mlflow-artifacts/artifacts/models/<name>/<semver>`` for
such a version, and MLflow's client (its ``HttpArtifactRepository``) lists that folder here and downloads each file
from the registry's own download view (the same bytes, digests in the headers and checks as
``GET /api/v1/models/{name}/versions/{version}/artifacts/{filename}``). So
``mlflow.artifacts.download_artifacts("models:/name@alias")`` downloads a version's stored files through this
registry.

Left out of the OpenAPI schema: a protocol MLflow's client speaks to itself, described in docs/api/mlflow.md.
"""

from __future__ import annotations

import re

from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from kernel.api.auth import BearerApiKeyAuthentication
from kernel.reads.lookups import lookup
from kernel.rules.names import NAME
from models_app.api.artifacts import ArtifactFileView
from models_app.mlflow_api.schema import TEXT
from models_app.mlflow_api.views import MlflowEndpoint
from models_app.mlflow_api.writes import InvalidParameter
from models_app.models import Model, ModelVersion

ROOT = "/api/2.0/mlflow-artifacts/artifacts"
VERSION_FOLDER = re.compile(rf"models/(?P<name>{NAME})/(?P<version>[^/]+)(?:/(?P<filename>[^/]+))?/?")


def download_uri(request, version: ModelVersion) -> str:
    """The folder MLflow's client downloads ``version``'s stored files from."""
    return request.build_absolute_uri(f"{ROOT}/models/{version.model.name}/{version.version}")


class ArtifactFolder(MlflowEndpoint):
    """MLflow's list-artifacts: the stored files of ``path`` = ``models/<name>/<semver>`` (a file's path lists
    nothing, as in MLflow)."""

    schema = None
    fields_schema = {"get": ({"path": TEXT}, ("path",))}

    def get(self, request):
        match = VERSION_FOLDER.fullmatch(self.text("path"))
        if match is None:
            raise InvalidParameter("path names a version's folder: models/<name>/<semver>.", path="path")
        version = lookup(Model, match["name"], match["version"])
        if match["filename"]:
            return Response({})
        files = version.artifact_files.order_by("filename").values_list("filename", "size")
        return Response({"files": [{"path": name, "is_dir": False, "file_size": size} for name, size in files]})


class ArtifactDownload(ArtifactFileView):
    """One stored file, by the registry's own download view, for a key sent as MLflow sends it (Bearer)."""

    schema = None
    authentication_classes = (BearerApiKeyAuthentication, SessionAuthentication)
    http_method_names = ["get", "head", "options"]
