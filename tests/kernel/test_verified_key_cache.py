"""The verified-API-key cache: a key checked once is not looked up again, and a revoke (or a deactivated user)
is refused on the very next request, by this process and by any other server process."""

from __future__ import annotations

import http.client

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext as django_capture

from kernel.models import ApiKey
from kernel.writes.register import register
from tests.servers import shared_database_url, shared_replica_urls

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
def test_recording_a_keys_use_keeps_every_cached_key_but_any_other_key_change_drops_them(api, user):
    from kernel.credentials import current_token

    api_key = ApiKey.objects.get(user=user)
    before = current_token()
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=None)  # what record_use writes: no invalidation
    assert current_token() == before

    for change in ({"revoked": False}, {"read_only": True}, {"rate_limit_per_minute": 5}, {"name": "renamed"}):
        ApiKey.objects.filter(pk=api_key.pk).update(**change)
        assert current_token() != before, change
        before = current_token()


@pytest.mark.django_db
def test_a_cached_key_records_its_use_once_a_minute_not_on_every_request(api, user):
    from datetime import timedelta

    from django.utils import timezone

    from kernel.credentials import current_token, verified_keys

    api_key = ApiKey.objects.select_related("user").get(user=user)
    api_key.last_used_at = timezone.now() - timedelta(minutes=5)
    verified_keys.clear()
    verified_keys.put(api.api_key, current_token(), api_key.user, api_key)  # cached, last used five minutes ago

    with django_capture(connection) as first:
        assert api.get(URL).status_code == 200
    with django_capture(connection) as second:
        assert api.get(URL).status_code == 200
    assert [sql for sql in key_queries(first) if sql.startswith("UPDATE")] != []
    assert key_queries(second) == []  # neither looked up again nor written again within the minute
    assert timezone.now() - ApiKey.objects.get(pk=api_key.pk).last_used_at < timedelta(minutes=1)


@pytest.mark.django_db
def test_a_revoked_key_is_refused_on_the_next_request_however_it_was_revoked(api):
    assert api.get(URL).status_code == 200
    ApiKey.objects.update(revoked=True)  # a bulk update: no model signal runs, the database trigger does

    response = api.get(URL)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Invalid or revoked API key."


@pytest.fixture
def document_reads(api, model_doc):
    """A model and the document reads a service makes, each path read once so the key is cached."""
    assert api.post(URL, model_doc(version="1.0.0"), format="json").status_code == 201
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/activate").status_code == 200
    version_id = api.get(f"{URL}/llama2-7b-chat").json()["id"]
    return {
        "latest": f"{URL}/llama2-7b-chat",
        "a number": f"{URL}/llama2-7b-chat/versions/1.0.0",
        "current": f"{URL}/llama2-7b-chat/versions/current",
        "by id": f"{URL}/id/{version_id}",
        "a missing model (404)": f"{URL}/no-such-model",
        "a missing version (404)": f"{URL}/llama2-7b-chat/versions/9.9.9",
        "the list": URL,
        "the versions": f"{URL}/llama2-7b-chat/versions",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "read",
    [
        "latest",
        "a number",
        "current",
        "by id",
        "a missing model (404)",
        "a missing version (404)",
        "the list",
        "the versions",
    ],
)
def test_a_document_read_with_a_key_revoked_since_it_was_cached_is_refused(api, document_reads, read):
    # A read confirms its cached key with the token its own statement read, or with a read of the token before
    # it answers: whatever the view found (a document, a 404, a page), the revoked key gets the 401.
    path = document_reads[read]
    assert api.get(path).status_code == (404 if "404" in read else 200)
    ApiKey.objects.update(revoked=True)

    response = api.get(path)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Invalid or revoked API key."
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.django_db
def test_a_conditional_read_with_a_revoked_key_is_refused_not_told_it_is_unchanged(api, document_reads):
    etag = api.get(document_reads["latest"])["ETag"]
    assert api.get(document_reads["latest"], HTTP_IF_NONE_MATCH=etag).status_code == 304
    ApiKey.objects.update(revoked=True)
    assert api.get(document_reads["latest"], HTTP_IF_NONE_MATCH=etag).status_code == 401


@pytest.mark.django_db
def test_a_read_after_an_unrelated_credential_change_is_answered_and_the_key_cached_again(
    api, document_reads, user, django_assert_max_num_queries
):
    assert api.get(document_reads["latest"]).status_code == 200
    ApiKey.objects.issue(user)  # another key: the token changes, this key stays valid
    assert api.get(document_reads["latest"]).status_code == 200  # verified again
    with django_assert_max_num_queries(1):
        assert api.get(document_reads["latest"]).status_code == 200


@pytest.mark.django_db
def test_a_lowered_rate_limit_applies_to_the_next_read_of_a_cached_key(api, document_reads, settings):
    settings.API_RATE_LIMIT = (1, 1000)
    assert api.get(document_reads["latest"]).status_code == 200
    ApiKey.objects.filter(prefix=api.api_key.split(".")[0]).update(rate_limit_per_minute=1, rate_limit_burst=1)
    assert [api.get(document_reads["latest"]).status_code for _ in range(2)] == [200, 429]


@pytest.mark.django_db
def test_a_document_read_that_fails_with_a_revoked_key_is_refused_not_a_server_error(api, document_reads, monkeypatch):
    assert api.get(document_reads["latest"]).status_code == 200
    ApiKey.objects.update(revoked=True)

    def broken(*args, **kwargs):
        raise RuntimeError("a fault inside the read")

    from kernel.api import views

    monkeypatch.setattr(views, "lookup", broken)
    response = api.get(document_reads["latest"])  # the test client would re-raise a 500's exception
    assert response.status_code == 401 and not response.wsgi_request.user.is_authenticated


@pytest.mark.django_db
def test_a_raised_rate_limit_applies_to_the_next_read_of_a_cached_key(api, document_reads, settings):
    settings.API_RATE_LIMIT = (1, 1)
    assert [api.get(document_reads["latest"]).status_code for _ in range(2)] == [200, 429]
    ApiKey.objects.filter(prefix=api.api_key.split(".")[0]).update(
        rate_limit_per_minute=6_000_000, rate_limit_burst=1000
    )
    assert api.get(document_reads["latest"]).status_code == 200


@pytest.mark.django_db
def test_a_changed_rate_limit_draws_one_token_per_read(api, document_reads, settings):
    settings.API_RATE_LIMIT = (6, 6)  # one token every ten seconds: no refill during the test
    assert api.get(document_reads["latest"]).status_code == 200  # five left
    ApiKey.objects.filter(prefix=api.api_key.split(".")[0]).update(rate_limit_per_minute=6, rate_limit_burst=5)
    assert [api.get(document_reads["latest"]).status_code for _ in range(6)] == [200] * 5 + [429]


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


def _get(port: int, key: str, path: str = URL) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"Authorization": f"Api-Key {key}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path, found", [(URL, 200), (f"{URL}/llama2-7b-chat", 200), (f"{URL}/no-such-model", 404)])
def test_a_revoke_is_seen_at_once_by_two_other_server_processes(model_doc, path, found):
    # The list, a document read (the token read by the document's own statement) and a 404.
    from bench.http_load import gunicorn
    from models_app.models import Model

    env = {
        "DATABASE_URL": shared_database_url(),
        **shared_replica_urls(),  # make test-replica: both processes read from the replica
        "DEBUG": "false",
        "SECRET_KEY": "two-process-test",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    user = get_user_model().objects.create_user("replica-user", password="unused-password-123")
    api_key, key = ApiKey.objects.issue(user)
    register(Model, model_doc(), user=user)
    with gunicorn(env, workers=1) as first, gunicorn(env, workers=1) as second:
        for _ in range(3):  # each process has now verified and cached the key
            assert (_get(first, key, path), _get(second, key, path)) == (found, found)

        ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)

        assert (_get(second, key, path), _get(first, key, path)) == (401, 401)


def _add_modelversion():
    from django.contrib.auth.models import Permission

    return Permission.objects.get(codename="add_modelversion", content_type__app_label="models_app")


@pytest.mark.django_db
def test_a_withdrawn_permission_refuses_the_next_write_of_a_cached_key(api, user, model_doc):
    assert api.post(URL, model_doc(version="1.0.0"), format="json").status_code == 201  # key and permissions cached
    user.user_permissions.remove(_add_modelversion())

    response = api.post(URL, model_doc(version="1.1.0"), format="json")
    assert response.status_code == 403
    assert "models_app.add_modelversion" in response.json()["errors"][0]["message"]


@pytest.mark.django_db
def test_a_permission_withdrawn_from_the_users_group_or_the_group_membership_applies_at_once(api, user, model_doc):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="publishers")
    group.permissions.add(_add_modelversion())
    user.user_permissions.remove(_add_modelversion())
    user.groups.add(group)
    assert api.post(URL, model_doc(version="1.0.0"), format="json").status_code == 201
    group.permissions.remove(_add_modelversion())
    assert api.post(URL, model_doc(version="1.1.0"), format="json").status_code == 403
    group.permissions.add(_add_modelversion())
    assert api.post(URL, model_doc(version="1.1.0"), format="json").status_code == 201
    user.groups.remove(group)
    assert api.post(URL, model_doc(version="1.2.0"), format="json").status_code == 403
