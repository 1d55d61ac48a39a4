"""A version with a binding in service cannot be archived, nor its model deleted (409 naming the bindings); a
binding cannot point at an archived version."""

from __future__ import annotations

import pytest

from bindings_app.models import ProviderBinding
from kernel.reads.lookups import lookup
from kernel.writes.register import register, register_version
from models_app.models import Model

from .conftest import URL

pytestmark = pytest.mark.django_db

VERSION = "/api/v1/models/llama2-7b-chat/versions/1.0.0"


def test_archiving_a_version_with_an_active_binding_is_a_409_naming_it(api, make_binding):
    binding = make_binding()

    response = api.post(f"{VERSION}/archive")

    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "in_use"
    assert error["details"]["dependents"] == [f"binding {binding.pk} (openai/production/us-east-1) of 1.0.0"]
    assert lookup(Model, "llama2-7b-chat", "1.0.0").status == "active"


def test_deleting_a_model_with_a_degraded_or_pending_binding_is_a_409(api, make_binding):
    pending = make_binding(status="pending")
    degraded = make_binding(provider="anthropic")
    ProviderBinding.objects.filter(pk=degraded.pk).update(status="degraded")

    response = api.delete("/api/v1/models/llama2-7b-chat")

    assert response.status_code == 409
    assert len(response.json()["errors"][0]["details"]["dependents"]) == 2
    assert str(pending.pk) in response.json()["errors"][0]["message"]
    assert Model.objects.get(name="llama2-7b-chat").deleted_at is None


def test_once_disabled_the_version_can_be_archived_and_the_binding_not_enabled_again(api, make_binding):
    binding = make_binding()
    api.post(f"{URL}/{binding.pk}/disable")

    archived = api.post(f"{VERSION}/archive")
    enable = api.post(f"{URL}/{binding.pk}/enable")

    assert archived.status_code == 200
    assert enable.status_code == 409 and enable.json()["errors"][0]["code"] == "archived"
    binding.refresh_from_db()
    assert binding.status == "disabled"


def test_a_binding_cannot_be_created_on_an_archived_version(api, llama, model_doc, binding_body):
    register_version(Model.get_alive("llama2-7b-chat"), model_doc(version="2.0.0"))
    api.post(f"{VERSION}/archive")

    response = api.post(URL, binding_body(version="1.0.0"), format="json")

    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "archived"
    assert not ProviderBinding.objects.exists()


def test_the_set_form_of_the_binding_guards_protects_what_the_per_object_form_does(llama, make_binding, model_doc):
    from kernel.rules import dependencies
    from models_app.models import Model, ModelVersion

    idle = register(Model, model_doc(version="1.1.0")).version
    other = register(Model, model_doc(name="other", version="1.0.0")).version
    make_binding(idle)
    make_binding(other).disable()  # a disabled binding holds nothing back

    assert dependencies.protected_ids(ModelVersion.objects.all()) == {idle.pk}
    assert dependencies.protected_ids(Model.objects.all()) == {idle.model_id}
