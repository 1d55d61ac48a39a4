"""Idempotency-Key on the writes that clients retry (kernel/api/idempotency.py): the same key with the same
request answers the stored response without doing the work again; with another request it is a 409 naming the
header; an error answer stores nothing; keys expire and the lifecycle job deletes them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from kernel.models import IdempotencyKey
from kernel.models.changelog import ChangeLogEntry
from kernel.tasks import purge_idempotency_keys
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from tests.conftest import _client_for

pytestmark = pytest.mark.django_db
MODELS = "/api/v1/models"
URL = f"{MODELS}/llama2-7b-chat"


def keyed(key: str) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": key}


def test_a_registration_sent_twice_with_one_key_is_registered_once_and_answered_alike(api, model_doc):
    first = api.post(MODELS, model_doc(), format="json", **keyed("reg-1"))
    again = api.post(MODELS, model_doc(), format="json", **keyed("reg-1"))

    assert first.status_code == again.status_code == 201  # the stored answer, not "already registered" (200)
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert ModelVersion.objects.count() == 1
    assert ChangeLogEntry.objects.filter(action="model.version_registered").count() == 1


def test_a_key_sent_with_another_request_is_a_409_naming_the_header_and_does_nothing(api, model_doc):
    api.post(MODELS, model_doc(), format="json", **keyed("reg-1"))

    other_body = api.post(MODELS, model_doc(version="1.1.0"), format="json", **keyed("reg-1"))
    other_path = api.post(f"{URL}/versions", model_doc(version="1.1.0"), format="json", **keyed("reg-1"))

    for response in (other_body, other_path):
        assert response.status_code == 409
        error = response.json()["errors"][0]
        assert error["code"] == "idempotency_key_reused" and error["parameter"] == "Idempotency-Key"
    assert list(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0"]


def test_keys_are_each_users_own(api, model_doc):
    other = get_user_model().objects.create_user(username="other", password="unused-password-123")
    other.user_permissions.set(api_user_permissions())
    theirs = _client_for(other)

    mine = api.post(MODELS, model_doc(), format="json", **keyed("same"))
    their = theirs.post(MODELS, model_doc(version="1.1.0"), format="json", **keyed("same"))

    assert (mine.status_code, their.status_code) == (201, 201)
    assert not their.has_header("Idempotent-Replayed")
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0", "1.1.0"]


def api_user_permissions():
    return get_user_model().objects.get(username="svc").user_permissions.all()


@pytest.mark.parametrize("key", ["", "a b", "k" * 256, "naïve", "line\nbreak"])
def test_a_malformed_key_is_a_400_naming_the_header_and_registers_nothing(api, model_doc, key):
    response = api.post(MODELS, model_doc(), format="json", **keyed(key))

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_header" and error["parameter"] == "Idempotency-Key"
    assert not ModelVersion.objects.exists() and not IdempotencyKey.objects.exists()


def test_an_error_answer_stores_nothing_so_the_key_may_be_sent_again(api, model_doc):
    refused = api.post(MODELS, model_doc(runtime={"type": "nope"}), format="json", **keyed("reg-1"))
    accepted = api.post(MODELS, model_doc(), format="json", **keyed("reg-1"))

    assert refused.status_code == 400 and accepted.status_code == 201
    assert not accepted.has_header("Idempotent-Replayed")


def test_an_activation_replayed_answers_what_it_did_then_and_moves_nothing(api, model_doc):
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(version=version))
    first = api.post(f"{URL}/versions/1.0.0/activate", **keyed("act-1"))
    api.post(f"{URL}/versions/1.1.0/activate")

    again = api.post(f"{URL}/versions/1.0.0/activate", **keyed("act-1"))

    assert again.status_code == 200 and again.json() == first.json() and first.json()["is_current"] is True
    assert api.get(f"{URL}/versions/current").json()["version"] == "1.1.0"
    assert ChangeLogEntry.objects.filter(action="model.version_activated").count() == 2


def test_an_alias_move_replayed_moves_nothing(api, model_doc):
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(version=version))
    first = api.put(f"{URL}/aliases/prod", {"version": "1.0.0"}, format="json", **keyed("move-1"))
    api.put(f"{URL}/aliases/prod", {"version": "1.1.0"}, format="json")

    again = api.put(f"{URL}/aliases/prod", {"version": "1.0.0"}, format="json", **keyed("move-1"))

    assert again.status_code == 200 and again.json() == first.json()
    assert again["ETag"] == first["ETag"] == '"1.0.0"'
    assert api.get(f"{URL}/aliases/prod").json()["version"] == "1.1.0"
    assert ChangeLogEntry.objects.filter(action="alias.moved").count() == 2


def test_an_expired_key_is_new_again_and_the_job_deletes_expired_keys(api, model_doc):
    register(Model, model_doc(version="1.0.0"))
    register(Model, model_doc(version="1.1.0"))
    api.post(f"{URL}/versions/1.0.0/activate", **keyed("act-1"))
    api.post(f"{URL}/versions/1.1.0/activate")
    IdempotencyKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    again = api.post(f"{URL}/versions/1.0.0/activate", **keyed("act-1"))

    assert not again.has_header("Idempotent-Replayed")
    assert api.get(f"{URL}/versions/current").json()["version"] == "1.0.0"  # done again
    IdempotencyKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    api.post(f"{URL}/versions/1.1.0/activate", **keyed("act-2"))
    assert purge_idempotency_keys() == {"deleted": 1}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["act-2"]


def test_a_read_ignores_the_header(api, model_doc):
    register(Model, model_doc())
    api.post(f"{URL}/versions/1.0.0/activate", **keyed("act-1"))

    assert api.get(URL, **keyed("act-1")).status_code == 200
    assert IdempotencyKey.objects.count() == 1
