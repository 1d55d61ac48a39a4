"""The curator's view: rules as a table on the version page, and the evaluate page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from kernel.writes.register import register
from policies_app.models import Policy
from tests.policies_app.conftest import rbac

pytestmark = pytest.mark.django_db

EVALUATE_PAGE = "/admin/policies_app/policy/evaluate/"


@pytest.fixture
def curator() -> Client:
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("curator", "curator@example.com", "curator-password-1")
    )
    return client


def test_the_version_page_shows_the_rules_as_a_table(curator, rate_limit_doc):
    version = register(Policy, rate_limit_doc).version

    page = curator.get(f"/admin/policies_app/policyversion/{version.pk}/change/").content.decode()

    assert '<table class="policy-rules">' in page
    assert "<th>window_seconds</th>" in page and "<th>burst</th>" in page
    assert "<tr><td>0</td><td>user:*</td><td>api:inference</td><td>100</td><td>60</td><td>120</td></tr>" in page


def test_the_evaluate_page_shows_the_decision_and_its_explanation(curator, rate_limit_doc):
    register(Policy, rate_limit_doc)
    register(
        Policy,
        {
            "name": "engineers",
            "version": "1.0.0",
            "type": "rbac",
            "priority": 10,
            "rules": [rbac("role:ml-engineer", "api:*", "allow", ["read"])],
        },
    )

    page = curator.post(
        EVALUATE_PAGE,
        {"entity": "user:alice", "resource": "api:inference", "action": "read", "roles": "role:ml-engineer"},
    ).content.decode()

    assert "Decision: allowed (hard)" in page
    assert "engineers@1.0.0 rule 0" in page
    assert "100 requests / 60 s" in page and "burst 120" in page
    assert "<td>user-rate-limits</td>" in page


def test_the_evaluate_page_reports_bad_input_beside_the_field(curator):
    page = curator.post(
        EVALUATE_PAGE, {"entity": "alice", "resource": "api:inference", "action": "read"}
    ).content.decode()

    assert "A concrete &#x27;kind:name&#x27; without wildcards" in page
    assert "Decision:" not in page


def test_the_evaluate_page_is_for_staff_only(client):
    assert client.get(EVALUATE_PAGE).status_code == 302


def test_the_policy_list_links_to_the_evaluate_page(curator, rate_limit_doc):
    register(Policy, rate_limit_doc)

    page = curator.get("/admin/policies_app/policy/").content.decode()

    assert f'href="{EVALUATE_PAGE}"' in page and "user-rate-limits" in page
    assert curator.get("/admin/policies_app/policyversion/").status_code == 200
    assert curator.get(f"/admin/policies_app/policy/{Policy.objects.get().pk}/change/").status_code == 200
