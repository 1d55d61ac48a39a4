"""The verified-API-key cache: a key checked once is not looked up again, and a revoke (or a deactivated user)
is refused on the very next request, by this process and by any other server process."""

from __future__ import annotations

import http.client

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from registry_project.models import ApiKey

URL = "/api/v1/models"


def key_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "apikey" in q["sql"].lower()]


@pytest.mark.django_db
def test_a_verified_key_is_not_looked_up_again(api, model_doc, django_assert_num_queries):
    assert api.post(URL, model_doc(), format="json").status_code == 201
    with django_assert_num_queries(3) as captured:  # the credential token, the count, the page
        assert api.get(URL).status_code == 200
    assert key_queries(captured) == []


@pytest.mark.django_db
def test_a_revoked_key_is_refused_on_the_next_request_however_it_was_revoked(api):
    assert api.get(URL).status_code == 200
    ApiKey.objects.update(revoked=True)  # a bulk update: no model signal runs, the database trigger does

    response = api.get(URL)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Invalid or revoked API key."


@pytest.mark.django_db
def test_deactivating_the_user_refuses_its_cached_key(api, user):
    assert api.get(URL).status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert api.get(URL).status_code == 401


@pytest.mark.django_db
def test_an_expiry_set_after_the_key_was_cached_applies_at_once(api):
    from datetime import timedelta

    from django.utils import timezone

    assert api.get(URL).status_code == 200
    ApiKey.objects.update(expiry_date=timezone.now() - timedelta(seconds=1))
    assert api.get(URL).status_code == 401


@pytest.mark.django_db
def test_a_wrong_secret_with_a_cached_keys_prefix_is_refused(api):
    from rest_framework.test import APIClient

    assert api.get(URL).status_code == 200
    prefix, _, secret = api.api_key.partition(".")
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.{secret[::-1]}")
    assert forged.get(URL).status_code == 401


def _get(port: int, key: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", URL, headers={"Authorization": f"Api-Key {key}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_revoke_is_seen_at_once_by_two_other_server_processes():
    from bench.http_load import gunicorn

    settings = connection.settings_dict
    env = {
        "DATABASE_URL": f"postgresql://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}",
        "DEBUG": "false",
        "SECRET_KEY": "two-process-test",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    user = get_user_model().objects.create_user("replica-user", password="unused-password-123")
    api_key, key = ApiKey.objects.issue(user)
    with gunicorn(env, workers=1) as first, gunicorn(env, workers=1) as second:
        for _ in range(3):  # each process has now verified and cached the key
            assert (_get(first, key), _get(second, key)) == (200, 200)

        ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)

        assert (_get(second, key), _get(first, key)) == (401, 401)
