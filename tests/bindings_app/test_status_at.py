"""A binding's status at a moment in the past, from the change log (issue #9: point-in-time for a binding's
status), across several moves; and routing by alias."""

from __future__ import annotations

import pytest

from kernel.models.aliases import Alias
from kernel.models.changelog import ChangeLogEntry
from kernel.writes.register import register_version
from models_app.models import Model

from .conftest import URL

pytestmark = pytest.mark.django_db


def last_entry_time() -> str:
    return ChangeLogEntry.objects.order_by("-id").first().at.isoformat().replace("+00:00", "Z")


def status_at(api, binding_id: int, moment: str):
    return api.get(f"{URL}/{binding_id}", {"at": moment})


def test_status_at_answers_each_moment_across_several_moves(api, make_binding, settings):
    before = "2000-01-01T00:00:00Z"
    binding = make_binding(slo_success_rate=0.9)
    created = last_entry_time()
    settings.BINDING_SLO_MIN_SAMPLES = 5
    assert (
        api.post(f"{URL}/{binding.pk}/report", [{"success": False, "latency_ms": 10}] * 10, format="json").status_code
        == 200
    )
    degraded = last_entry_time()
    assert api.post(f"{URL}/{binding.pk}/disable").status_code == 200
    disabled = last_entry_time()
    assert api.post(f"{URL}/{binding.pk}/enable").status_code == 200
    enabled = last_entry_time()
    assert api.delete(f"{URL}/{binding.pk}").status_code == 409  # in service: nothing recorded
    assert api.post(f"{URL}/{binding.pk}/disable").status_code == 200
    assert api.delete(f"{URL}/{binding.pk}").status_code == 204
    deleted = last_entry_time()

    answers = {
        moment: status_at(api, binding.pk, moment).json()["status"]
        for moment in (before, created, degraded, disabled, enabled, deleted)
    }

    assert answers == {
        before: None,
        created: "active",
        degraded: "degraded",
        disabled: "disabled",
        enabled: "active",
        deleted: None,
    }
    moves = ChangeLogEntry.objects.filter(kind="binding", object_id=str(binding.pk)).values_list(
        "action", "changes__status"
    )
    assert list(moves) == [
        ("model.deployed", [None, "active"]),
        ("binding.degraded", ["active", "degraded"]),
        ("binding.disabled", ["degraded", "disabled"]),
        ("model.deployed", ["disabled", "active"]),
        ("binding.disabled", ["active", "disabled"]),
        ("binding.deleted", ["disabled", None]),
    ]


def test_status_at_rejects_a_bad_moment_an_unknown_parameter_and_an_unknown_binding(api, make_binding):
    binding = make_binding()

    bad = status_at(api, binding.pk, "yesterday")
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameter"] == "at"
    extra = api.get(f"{URL}/{binding.pk}", {"at": "2030-01-01T00:00:00Z", "colour": "red"})
    assert extra.status_code == 400 and extra.json()["errors"][0]["parameter"] == "colour"
    assert status_at(api, 999999, "2030-01-01T00:00:00Z").status_code == 404
    # Without ?at= the binding itself, as before.
    assert api.get(f"{URL}/{binding.pk}").json()["status"] == "active"


def test_route_by_alias_routes_to_the_aliased_version(api, llama, model_doc, make_binding):
    newer = register_version(Model.get_alive("llama2-7b-chat"), model_doc(version="2.0.0")).version
    make_binding(provider="openai")
    make_binding(version=newer, provider="anthropic")
    Alias.move(llama.model, "champion", "2.0.0")

    routed = api.get("/api/v1/route", {"model": "llama2-7b-chat", "alias": "champion"})
    current = api.get("/api/v1/route", {"model": "llama2-7b-chat"})
    missing = api.get("/api/v1/route", {"model": "llama2-7b-chat", "alias": "nobody"})

    assert routed.status_code == 200 and routed.json()["version"] == "2.0.0"
    assert routed.json()["chosen"]["provider"] == "anthropic"
    assert current.json()["version"] == "1.0.0"
    assert missing.status_code == 404
