"""MLflow's version numbers (``ModelVersion.mlflow_number``, models_app/mlflow_api): assigned by the database on
insert, whichever path registers, on PostgreSQL and on the SQLite default alike."""

from __future__ import annotations

import pytest

from kernel.writes.delete import soft_delete
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from tests.mlflow_compat.conftest import v1_document

pytestmark = pytest.mark.django_db


def numbers(name: str) -> dict[str, int]:
    return dict(ModelVersion.objects.filter(model__name=name).values_list("version", "mlflow_number"))


def test_versions_are_numbered_in_registration_order_per_model_whatever_their_semver():
    for version in ("2.0.0", "1.0.0", "1.1.0-rc.1"):
        register(Model, v1_document("numbered", version))
    register(Model, v1_document("other", "5.0.0"))

    assert numbers("numbered") == {"2.0.0": 1, "1.0.0": 2, "1.1.0-rc.1": 3}
    assert numbers("other") == {"5.0.0": 1}


def test_a_deleted_versions_number_is_not_reused():
    first = register(Model, v1_document("renumbered", "1.0.0")).version
    register(Model, v1_document("renumbered", "1.1.0"))
    soft_delete(first)
    register(Model, v1_document("renumbered", "1.2.0"))

    assert numbers("renumbered") == {"1.0.0": 1, "1.1.0": 2, "1.2.0": 3}
