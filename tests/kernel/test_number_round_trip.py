"""A document read back can be sent back: large numbers that PostgreSQL writes out in full, and a spec compared as
JSON rather than as Python values."""

from __future__ import annotations

import json

import pytest

from kernel.rules.validation import reads_back_exactly, same_json

pytestmark = pytest.mark.django_db

PIPELINES = "/api/v1/pipelines"
# As a client writes them: exponents, which PostgreSQL's jsonb stores as numeric and hands back written out.
BODY = (
    '{"name": "p", "version": "1.0.0", "steps": [{"id": "train", "type": "custom", "optional": true,'
    ' "config": {"flops": 3.1e23, "tokens": 1e16, "tiny": 2.5e-7, "far": -1e300}}],'
    ' "metadata": {"flops": 3.1e23, "tokens": 1e16}}'
)


def as_a_double_client(value):
    """The document as a client that reads every number as a double (JavaScript) would send it back."""
    return json.loads(json.dumps(value), parse_int=float)


@pytest.fixture
def registered(api):
    response = api.generic("POST", PIPELINES, BODY, content_type="application/json")
    assert response.status_code == 201, response.content
    return api.get(f"{PIPELINES}/p").json()


def test_a_document_read_back_is_accepted_unchanged(api, registered):
    for client_view in (registered, as_a_double_client(registered)):
        response = api.put(f"{PIPELINES}/p", client_view, format="json")
        assert response.status_code == 200, response.content
    config = api.get(f"{PIPELINES}/p").json()["steps"][0]["config"]
    assert same_json(config, {"flops": 3.1e23, "tokens": 1e16, "tiny": 2.5e-7, "far": -1e300})  # the numbers sent


def test_a_spec_number_changed_by_one_is_still_a_change(api, registered):
    registered["steps"][0]["config"]["tokens"] = 10**16 + 2  # a double of its own, but not the stored number
    response = api.put(f"{PIPELINES}/p", registered, format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["details"] == {
        "fields": ["/steps/0/config/tokens"]
    }


def test_a_boolean_changed_to_a_number_is_a_change_not_ignored(api, registered):
    registered["steps"][0]["optional"] = 1  # Python's True == 1 once let this through as "unchanged"
    response = api.put(f"{PIPELINES}/p", registered, format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "spec_immutable"


@pytest.mark.parametrize("number", [2**53 + 1, 10**16 + 1, 2**60, 10**309])
def test_an_integer_no_double_reads_back_is_refused_with_its_path(api, number):
    document = {"name": "p", "version": "1.0.0", "steps": [{"id": "a", "type": "custom"}], "metadata": {"n": number}}
    response = api.post(PIPELINES, document, format="json")
    assert response.status_code == 400
    assert [(e["path"], e["code"]) for e in response.json()["errors"]] == [("/metadata/n", "out_of_range")]


def test_which_integers_read_back_exactly():
    assert reads_back_exactly(2**53 - 1) and reads_back_exactly(-(2**53 - 1))
    assert reads_back_exactly(10**16) and reads_back_exactly(310000000000000000000000) and reads_back_exactly(2**53)
    # 2**60 is a double, but a client writes it back as 1152921504606847000: not the number it was sent.
    assert not reads_back_exactly(2**60) and reads_back_exactly(1152921504606847000)
    assert not reads_back_exactly(2**53 + 1) and not reads_back_exactly(10**400)


def test_same_json_compares_json_values():
    assert same_json({"a": [1, 2.0, 3.1e23]}, {"a": [1.0, 2, 310000000000000000000000]})
    assert not same_json(True, 1) and not same_json(0, False) and not same_json(None, 0) and not same_json("1", 1)
    from kernel.choices import Lifecycle

    assert same_json({"status": "active"}, {"status": Lifecycle.ACTIVE})  # a choice equals its stored value
    assert (
        not same_json({"a": 1}, {"a": 1, "b": None}) and not same_json([1, 2], [2, 1]) and not same_json([1], {"0": 1})
    )


def test_the_change_log_records_changes_as_json(api, registered):
    from kernel.models.changelog import ChangeLogEntry

    def last_update():
        return ChangeLogEntry.objects.filter(action="pipeline.version_updated").order_by("-id").first().changes

    # Sent back as a double-reading client reads it: nothing changed, so nothing is recorded as changed.
    assert api.put(f"{PIPELINES}/p", as_a_double_client(registered), format="json").status_code == 200
    assert last_update() == {}
    # true -> 1 in the metadata is a change (Python's True == 1 once hid it from the log).
    registered["metadata"] = {**registered["metadata"], "flag": True}
    api.put(f"{PIPELINES}/p", registered, format="json")
    registered["metadata"]["flag"] = 1
    assert api.put(f"{PIPELINES}/p", registered, format="json").status_code == 200
    before, after = last_update()["metadata"]
    assert (before["flag"], after["flag"]) == (True, 1)
