"""Keys act as their user: the user's Django model permissions apply to the API, and a key's read-only flag is
a ceiling over them (issue #7)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from kernel.models import ApiKey
from kernel.writes.register import register
from models_app.models import Model

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def client_for(*codenames: str, read_only: bool = False, superuser: bool = False) -> APIClient:
    User = get_user_model()
    user = (User.objects.create_superuser if superuser else User.objects.create_user)(
        f"u{User.objects.count()}", password="x-password-1"
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    _, key = ApiKey.objects.issue(user, read_only=read_only)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def registered(llama_doc):
    register(Model, llama_doc)
    return llama_doc


ALL = ("add_modelversion", "change_modelversion", "delete_model")


@pytest.mark.parametrize(
    "codenames, read_only, superuser, expected",
    [
        # register, update, activate, delete, validate, read
        (ALL, False, False, (201, 200, 200, 204, 200, 200)),
        ((), False, True, (201, 200, 200, 204, 200, 200)),
        (("change_modelversion", "delete_model"), False, False, (403, 200, 200, 204, 200, 200)),
        (("add_modelversion", "delete_model"), False, False, (201, 403, 403, 204, 200, 200)),
        (("add_modelversion", "change_modelversion"), False, False, (201, 200, 200, 403, 200, 200)),
        ((), False, False, (403, 403, 403, 403, 200, 200)),
        (ALL, True, False, (403, 403, 403, 403, 200, 200)),
        ((), True, True, (403, 403, 403, 403, 200, 200)),
    ],
)
def test_the_permission_matrix(registered, codenames, read_only, superuser, expected):
    client = client_for(*codenames, read_only=read_only, superuser=superuser)
    name = registered["name"]

    got = (
        client.post(URL, {**registered, "version": "2.0.0"}, format="json").status_code,
        client.patch(f"{URL}/{name}?version=1.0.0", {"description": "x"}, format="json").status_code,
        client.post(f"{URL}/{name}/versions/1.0.0/activate").status_code,
        client.delete(f"{URL}/{name}").status_code,
        client.post(f"{URL}/validate", registered, format="json").status_code,
        client.get(URL).status_code,
    )

    assert got == expected


def test_a_403_names_the_missing_permission_in_the_error_shape(registered):
    response = client_for("change_modelversion").post(URL, {**registered, "version": "2.0.0"}, format="json")

    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "permission_denied",
                "path": None,
                "message": f"User '{get_user_model().objects.last().username}' lacks the permission models_app.add_modelversion.",
            }
        ],
    }
