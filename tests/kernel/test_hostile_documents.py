"""Hostile documents found by trying the service as an attacker would (issue #7): none of them may take the
service down, be stored half-valid, or answer a 500. Each test failed before its fix."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from kernel.documents.shape import MUTABLE_DEFAULTS
from kernel.rules.validation import MAX_ISSUES
from models_app.models import ModelVersion
from policies_app.models import PolicyVersion
from tests.policies_app.conftest import EVALUATE, rbac
from tests.policies_app.conftest import URL as POLICIES

pytestmark = pytest.mark.django_db

HUGE = 10**400
BEYOND_SAFE = 2**53 + 1  # no double is this integer: JavaScript reads it as 2**53


def post_raw(client, url: str, text: str):
    return client.generic("POST", url, text.encode("utf-8", "surrogatepass"), content_type="application/json")


# -- 1 and 2: integers beyond what every client can read back ------------------------------------------------------


def test_a_rate_limit_too_large_to_compile_is_refused_and_evaluate_keeps_working(api):
    document = {
        "name": "huge",
        "version": "1.0.0",
        "type": "rate_limit",
        "rules": [{"entity": "user:*", "resource": "api:inference", "requests": HUGE, "window_seconds": 60}],
    }

    response = api.post(POLICIES, document, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/rules/0/requests"
    assert not PolicyVersion.objects.exists()
    assert (
        api.post(
            EVALUATE, {"entity": "user:a", "resource": "api:inference", "action": "read"}, format="json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "url, document_path",
    [
        ("/api/v1/models", ("metadata", "nested", "count")),
        ("/api/v1/models", ("artifact", "size_bytes")),
        ("/api/v1/pipelines", ("timeout_seconds",)),
        ("/api/v1/policies", ("rules", 0, "window_seconds")),
    ],
)
def test_integers_beyond_2_53_are_refused_everywhere_with_their_path(api, llama_doc, url, document_path):
    document = {
        "/api/v1/models": llama_doc,
        "/api/v1/pipelines": {"name": "p", "version": "1.0.0", "steps": [{"id": "a", "type": "custom"}]},
        "/api/v1/policies": {
            "name": "q",
            "version": "1.0.0",
            "type": "rate_limit",
            "rules": [{"entity": "user:*", "resource": "api:x", "requests": 1, "window_seconds": 1}],
        },
    }[url]
    target = document
    for part in document_path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[document_path[-1]] = BEYOND_SAFE

    for endpoint in (url, f"{url}/validate"):
        response = api.post(endpoint, document, format="json")
        assert response.status_code == 400, endpoint
        assert response.json()["errors"][0]["path"] == "/" + "/".join(map(str, document_path))
    assert not ModelVersion.objects.exists() and not PolicyVersion.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [("requests", 10**13), ("window_seconds", 10**9), ("burst", 10**13)],
)
def test_rate_limit_fields_have_documented_maxima(api, field, value):
    rule = {"entity": "user:*", "resource": "api:x", "requests": 10, "window_seconds": 60, field: value}
    report = api.post(
        f"{POLICIES}/validate", {"name": "q", "version": "1.0.0", "type": "rate_limit", "rules": [rule]}, format="json"
    ).json()
    assert [(e["path"], e["code"]) for e in report["errors"]] == [(f"/rules/0/{field}", "out_of_range")]


def test_every_integer_in_the_shipped_schemas_has_a_maximum():
    from models_app.validation import model_validator
    from pipelines_app.validation import pipeline_validator
    from policies_app.validation import policy_validator

    def integers(node, path=""):
        if isinstance(node, dict):
            if node.get("type") == "integer" or (isinstance(node.get("type"), list) and "integer" in node["type"]):
                yield path, node
            for key, child in node.items():
                yield from integers(child, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                yield from integers(child, f"{path}/{i}")

    for validator in (model_validator, pipeline_validator, policy_validator):
        unbounded = [path for path, node in integers(validator.schema) if "maximum" not in node]
        assert unbounded == [], validator.kind


# -- 3: validation cost and response size stay bounded ---------------------------------------------------------------


def test_thousands_of_identical_rbac_rules_answer_a_short_report(readonly_api, settings):
    settings.MAX_POLICY_RULES = 5000
    rules = [rbac("user:alice", "api:inference", "allow" if i % 2 else "deny") for i in range(2000)]

    response = readonly_api.post(
        f"{POLICIES}/validate", {"name": "q", "version": "1.0.0", "type": "rbac", "rules": rules}, format="json"
    )

    body = response.json()
    assert response.status_code == 200 and body["valid"] is False
    assert len(body["errors"]) == MAX_ISSUES + 1
    assert body["errors"][-1]["code"] == "too_many_errors" and "1899 more" in body["errors"][-1]["message"]
    assert len(response.content) < 50_000
    # Each contradicting rule is reported once, against the first rule it contradicts.
    assert body["errors"][0] == {
        "path": "/rules/1",
        "code": "contradicting_rules",
        "message": "This rule contradicts rule 0 (subject user:alice, resource api:inference); merge them or make one more specific.",
    }


def test_a_policy_over_the_rule_limit_is_not_checked_rule_against_rule(readonly_api):
    rules = [rbac("user:alice", "api:inference", "allow" if i % 2 else "deny") for i in range(2000)]

    body = readonly_api.post(
        f"{POLICIES}/validate", {"name": "q", "version": "1.0.0", "type": "rbac", "rules": rules}, format="json"
    ).json()

    assert [e["code"] for e in body["errors"]] == ["too_many_items"]
    assert body["warnings"] == []


def test_a_pipeline_of_ten_thousand_steps_answers_one_limit_error(readonly_api):
    steps = [{"id": f"s{i}", "type": "inference", "depends_on": [f"s{i + 1}"]} for i in range(10_000)]

    response = readonly_api.post(
        "/api/v1/pipelines/validate", {"name": "p", "version": "1.0.0", "steps": steps}, format="json"
    )

    assert [e["code"] for e in response.json()["errors"]] == ["too_many_steps"]


def test_schema_errors_are_capped_too(readonly_api, settings):
    settings.MAX_PIPELINE_STEPS = 1000
    steps = [{"id": f"S{i}", "type": "custom"} for i in range(500)]  # every id breaks the pattern

    body = readonly_api.post(
        "/api/v1/pipelines/validate", {"name": "p", "version": "1.0.0", "steps": steps}, format="json"
    ).json()

    assert len(body["errors"]) == MAX_ISSUES + 1 and body["errors"][-1]["code"] == "too_many_errors"


def test_long_arrays_of_distinct_objects_are_not_compared_pairwise(readonly_api, llama_doc):
    """jsonschema's uniqueItems is quadratic on unhashable items; over maxItems it is not run at all."""
    llama_doc["tags"] = [{"i": i} for i in range(20_000)]

    body = readonly_api.post("/api/v1/models/validate", llama_doc, format="json").json()

    assert {(e["path"], e["code"]) for e in body["errors"]} >= {("/tags", "too_many_items")}


# -- 4: a trailing newline passes no pattern ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("name", "llama\n"), ("family", "llama\n"), ("tags", ["production\n"]), ("artifact", "checksum")],
)
def test_a_trailing_newline_fails_validation(api, llama_doc, field, value):
    if field == "artifact":
        llama_doc["artifact"]["checksum"] = "sha256:" + "a" * 64 + "\n"
        expected = "/artifact/checksum"
    else:
        llama_doc[field] = value
        expected = f"/{field}" + ("/0" if isinstance(value, list) else "")

    response = api.post("/api/v1/models", llama_doc, format="json")

    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == [expected]
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda doc: doc.setdefault("requirements", {}).update(cuda_version="12.1\n"), "/requirements/cuda_version"),
        (lambda doc: doc.update(region="eu-west-1\n"), "/region"),
        (lambda doc: doc.update(metrics={"accuracy\n": 0.5}), "/metrics"),
        (lambda doc: doc.update(capabilities=["chat\n"]), "/capabilities/0"),
    ],
    ids=["cuda_version", "region", "metric_name", "capability"],
)
def test_a_trailing_newline_fails_every_model_pattern(api, llama_doc, change, expected):
    # The schema's patterns are ECMA-262, where `$` is the end of the string; each one compiles that way.
    change(llama_doc)
    report = api.post("/api/v1/models/validate", llama_doc, format="json").json()
    assert report["valid"] is False and expected in [e["path"] for e in report["errors"]]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda doc: doc.update(name="p\n"), "/name"),
        (lambda doc: doc["steps"][0].update(id="load\n"), "/steps/0/id"),
        (lambda doc: doc["steps"][0].update(model="llama2-7b-chat@1.0.0\n"), "/steps/0/model"),
        (lambda doc: doc.update(tags=["nightly\n"]), "/tags/0"),
    ],
    ids=["name", "step-id", "step-model", "tag"],
)
def test_a_trailing_newline_fails_every_pipeline_pattern(api, llama_doc, change, expected):
    api.post("/api/v1/models", llama_doc, format="json")  # the step's model resolves
    document = {
        "name": "p",
        "version": "1.0.0",
        "steps": [{"id": "load", "type": "inference", "model": "llama2-7b-chat"}],
    }
    assert api.post("/api/v1/pipelines/validate", document, format="json").json()["valid"] is True
    change(document)
    report = api.post("/api/v1/pipelines/validate", document, format="json").json()
    assert report["valid"] is False and expected in [e["path"] for e in report["errors"]]


def test_a_policy_pattern_with_a_trailing_newline_is_refused(api):
    document = {"name": "q", "version": "1.0.0", "type": "rbac", "rules": [rbac("user:alice\n", "api:x", "allow")]}
    assert api.post(f"{POLICIES}/validate", document, format="json").json()["errors"][0]["path"] == "/rules/0/subject"


# -- 5: lone surrogates ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["/api/v1/models", "/api/v1/models/validate"])
def test_a_lone_surrogate_is_a_400_with_its_path_on_validate_and_register_alike(api, llama_doc, endpoint):
    text = json.dumps(llama_doc).replace('"Llama 2 7B Chat model"', '"Llama \\ud800"')

    response = post_raw(api, endpoint, text)

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "path": "/description",
        "code": "invalid_string",
        "message": "Not valid Unicode (a lone surrogate); it cannot be stored as UTF-8.",
    }
    assert not ModelVersion.objects.exists()


def test_a_lone_surrogate_in_a_key_or_an_evaluate_request_is_a_400(api, llama_doc):
    llama_doc["metadata"] = {"k": 1}
    text = json.dumps(llama_doc).replace('"k"', '"\\udc00"')
    assert post_raw(api, "/api/v1/models", text).json()["errors"][0]["path"] == "/metadata"

    response = post_raw(api, EVALUATE, '{"entity": "user:a", "resource": "api:x", "action": "read", "\\udfff": 1}')
    assert response.status_code == 400


def test_the_validator_itself_refuses_unstorable_values_for_the_admin_and_importers(llama_doc):
    from models_app.validation import model_validator

    llama_doc["description"] = "\udc80"
    llama_doc["metadata"] = {"n": -BEYOND_SAFE}
    report = model_validator.check(llama_doc)
    assert sorted((e.path, e.code) for e in report.errors) == [
        ("/description", "invalid_string"),
        ("/metadata/n", "out_of_range"),
    ]


# -- 9: the admin and shared defaults ------------------------------------------------------------------------------


def test_a_staff_user_without_the_change_permission_gets_403_from_the_register_form(client):
    staff = get_user_model().objects.create_user("viewer", password="viewer-pass-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_model"))
    client.force_login(staff)

    response = client.get("/admin/models_app/model/register/")

    assert response.status_code == 403


def test_registered_versions_never_share_the_default_tags_and_metadata(llama_doc):
    del llama_doc["tags"], llama_doc["metadata"]
    _, mutable = ModelVersion.split_document(llama_doc)
    mutable["tags"].append("mutated")
    mutable["metadata"]["mutated"] = True

    assert MUTABLE_DEFAULTS == {"description": "", "tags": [], "metadata": {}}
