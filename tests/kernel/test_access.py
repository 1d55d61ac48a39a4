"""API keys: hashed, shown once, revocable, expiring, read-only or read-write; sessions for staff in a browser."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from kernel.models import ApiKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_no_credentials_is_a_401_with_the_scheme_named(anon):
    response = anon.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json()["errors"][0]["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Api-Key", "Api-Key a b", "Api-Key nope.nope", "Api-Key \u00e9t\u00e9"])
def test_a_bad_key_is_a_401(anon, header):
    anon.credentials(HTTP_AUTHORIZATION=header)
    assert anon.get(URL).status_code == 401


def test_a_read_only_key_reads_and_validates_but_cannot_write(readonly_api, llama_doc):
    assert readonly_api.get(URL).status_code == 200
    assert readonly_api.post(f"{URL}/validate", llama_doc, format="json").status_code == 200

    response = readonly_api.post(URL, llama_doc, format="json")

    assert response.status_code == 403
    assert "read-only" in response.json()["errors"][0]["message"]


def test_a_revoked_key_stops_working(user):
    api_key, key = ApiKey.objects.issue(user)
    assert client_with(key).get(URL).status_code == 200
    api_key.revoked = True
    api_key.save()
    assert client_with(key).get(URL).status_code == 401


def test_an_expired_key_is_refused_with_the_reason(user):
    api_key, key = ApiKey.objects.issue(user, expires_in_days=1)
    ApiKey.objects.filter(pk=api_key.pk).update(expiry_date=timezone.now() - timedelta(minutes=1))
    response = client_with(key).get(URL)
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]


def test_a_key_of_an_inactive_user_is_refused(user):
    _, key = ApiKey.objects.issue(user)
    user.is_active = False
    user.save()
    assert client_with(key).get(URL).status_code == 401


def test_keys_are_stored_hashed(user):
    api_key, key = ApiKey.objects.issue(user)
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert key.split(".")[1] not in stored.hashed_key
    assert stored.is_valid(key)


def test_create_api_key_prints_the_key_as_the_last_line(user, llama_doc):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "svc", "--read-only", "--expires-in-days", "30", stdout=out, stderr=err)
    key = out.getvalue().strip().splitlines()[-1]

    api_key = ApiKey.objects.get_from_key(key)
    assert api_key.user == user and api_key.read_only
    assert api_key.expiry_date > timezone.now() + timedelta(days=29)
    assert "read-only" in err.getvalue()
    assert client_with(key).post(URL, llama_doc, format="json").status_code == 403


def test_create_api_key_for_an_unknown_user_fails_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_key", "ghost", stdout=StringIO(), stderr=StringIO())


def test_staff_sessions_may_write_and_other_sessions_only_read(llama_doc):
    User = get_user_model()
    staff = APIClient()
    curator = User.objects.create_user("curator", password="x-password-1", is_staff=True)
    curator.user_permissions.add(Permission.objects.get(codename="add_modelversion"))
    staff.force_login(curator)
    viewer = APIClient()
    viewer.force_login(User.objects.create_user("viewer", password="x-password-1"))

    assert viewer.get(URL).status_code == 200
    assert viewer.post(URL, llama_doc, format="json").status_code == 403
    assert staff.post(URL, llama_doc, format="json").status_code == 201


def test_health_and_metrics_need_no_credentials(anon):
    assert anon.get("/health/live").status_code == 200
    assert anon.get("/health/ready").status_code == 200
    assert anon.get("/metrics").status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Token"])
def test_a_key_sent_with_another_scheme_is_a_401_naming_the_scheme_to_use(user, llama_doc, scheme):
    _, key = ApiKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")

    read = client.get(URL)
    write = client.post(URL, llama_doc, format="json")

    for response in (read, write):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
        error = response.json()["errors"][0]
        assert error["code"] == "authentication_failed"
        assert f"'{scheme}' is not accepted" in error["message"] and "Api-Key <key>" in error["message"]
    assert client_with(key).get(URL).json()["count"] == 0  # nothing was registered
