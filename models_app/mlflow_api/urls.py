"""MLflow's Model Registry paths, mounted at ``/api/2.0/mlflow/`` (MLflow's client) and ``/ajax-api/2.0/mlflow/``
(MLflow's web UI). Any other path under them answers MLflow's ``ENDPOINT_NOT_FOUND``, which MLflow's client reads
as "this server lacks that endpoint"."""

from django.urls import path, re_path

from kernel.rules.names import NAME
from models_app.mlflow_api import artifacts, views


def endpoints(*, in_schema: bool) -> list:
    """The paths; ``in_schema``: listed in /api/schema/ (the client's prefix is; the UI's copy is not)."""
    hidden = {} if in_schema else {"schema": None}
    return [
        path("registered-models/create", views.CreateRegisteredModel.as_view(**hidden)),
        path("registered-models/get", views.GetRegisteredModel.as_view(**hidden)),
        path("registered-models/update", views.UpdateRegisteredModel.as_view(**hidden)),
        path("registered-models/rename", views.RenameRegisteredModel.as_view(**hidden)),
        path("registered-models/delete", views.DeleteRegisteredModel.as_view(**hidden)),
        path("registered-models/search", views.SearchRegisteredModels.as_view(**hidden)),
        path("registered-models/get-latest-versions", views.GetLatestVersions.as_view(**hidden)),
        path("registered-models/set-tag", views.SetRegisteredModelTag.as_view(**hidden)),
        path("registered-models/delete-tag", views.DeleteRegisteredModelTag.as_view(**hidden)),
        path("registered-models/alias", views.RegisteredModelAlias.as_view(**hidden)),
        path("model-versions/create", views.CreateModelVersion.as_view(**hidden)),
        path("model-versions/get", views.GetModelVersion.as_view(**hidden)),
        path("model-versions/update", views.UpdateModelVersion.as_view(**hidden)),
        path("model-versions/delete", views.DeleteModelVersion.as_view(**hidden)),
        path("model-versions/search", views.SearchModelVersions.as_view(**hidden)),
        path("model-versions/set-tag", views.SetModelVersionTag.as_view(**hidden)),
        path("model-versions/delete-tag", views.DeleteModelVersionTag.as_view(**hidden)),
        path("model-versions/transition-stage", views.TransitionModelVersionStage.as_view(**hidden)),
        path("model-versions/get-download-uri", views.GetModelVersionDownloadUri.as_view(**hidden)),
        re_path(r"^(?P<rest>.*)\Z", views.endpoint_not_found),
    ]


urlpatterns = endpoints(in_schema=True)
ui_urlpatterns = endpoints(in_schema=False)
# MLflow's artifact protocol for the files a version stores here (models_app/mlflow_api/artifacts.py).
artifact_urlpatterns = [
    path("artifacts", artifacts.ArtifactFolder.as_view()),
    re_path(
        rf"^artifacts/models/(?P<name>{NAME})/(?P<version>[^/]+)/(?P<filename>[^/]+)\Z",
        artifacts.ArtifactDownload.as_view(),
    ),
    re_path(r"^(?P<rest>.*)\Z", views.endpoint_not_found),
]
