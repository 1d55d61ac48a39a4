"""Webhook URLs and secrets do not leak: a subscription's change-log entries are for staff only, its events are not
sent to other subscribers, its URL is shown with credentials, query values and fragment redacted wherever anyone
but the staff user setting it sees it (change log, API lists, admin list and page), and the admin never shows
the signing secret on a page."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model

from kernel.models.webhooks import OutboxItem, WebhookDelivery, WebhookSubscription, redacted_url, relay_outbox
from tests.conftest import _client_for

TOKEN_URL = "https://hooks.example.com/in?token=tok-s3cr3t&team=ml#frag-s3cr3t"


@pytest.fixture(autouse=True)
def hooks_example_com_is_public(monkeypatch):
    """hooks.example.com stands for a public receiver here (a global address; nothing is sent to it)."""
    from kernel import egress

    def public(host, port, *args, **kwargs):
        if host != "hooks.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(egress, "getaddrinfo", public)


@pytest.fixture
def staff_api(api, user):
    user.is_staff = True
    user.save()
    return api


@pytest.fixture
def reader():
    """A read-only key of a user who is not staff."""
    return _client_for(get_user_model().objects.create_user("reader", password="unused-password-123"), read_only=True)


def create(staff_api, url: str = TOKEN_URL, events=("*",)) -> dict:
    response = staff_api.post("/api/v1/webhooks", {"url": url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
def test_subscription_changes_are_for_staff_only_and_redacted(staff_api, reader):
    created = create(staff_api)
    assert created["url"] == TOKEN_URL  # the creator sees what they set, once
    staff_api.patch(f"/api/v1/webhooks/{created['id']}", {"url": TOKEN_URL.replace("tok-", "new-")}, format="json")
    staff_api.delete(f"/api/v1/webhooks/{created['id']}")

    for query in ("?kind=webhook", "", "?action=webhook.*"):
        page = reader.get(f"/api/v1/changes{query}")
        assert page.status_code == 200 and [e for e in page.json()["results"] if e["kind"] == "webhook"] == [], query

    entries = staff_api.get("/api/v1/changes?kind=webhook").json()["results"]
    assert [e["action"] for e in entries] == ["webhook.created", "webhook.updated", "webhook.deleted"]
    assert "s3cr3t" not in str(entries)
    assert entries[0]["changes"]["url"] == [None, "https://hooks.example.com/in?token=REDACTED&team=REDACTED#REDACTED"]
    assert "url" in entries[1]["changes"]  # a change of a redacted part is still a recorded change


@pytest.mark.django_db
def test_lists_show_the_url_redacted(staff_api):
    created = create(staff_api)
    listed = staff_api.get("/api/v1/webhooks").json()["results"][0]
    assert listed["url"] == redacted_url(TOKEN_URL) and "s3cr3t" not in str(listed)
    assert "s3cr3t" not in str(staff_api.get(f"/api/v1/webhooks/{created['id']}").json())
    assert WebhookSubscription.objects.get().url == TOKEN_URL  # stored whole: deliveries need it


@pytest.mark.django_db
def test_subscription_events_are_not_sent_to_other_subscribers(staff_api):
    create(staff_api, "https://hooks.example.com/first", events=("*",))
    create(staff_api, "https://hooks.example.com/second", events=("webhook.*",))
    second = WebhookSubscription.objects.order_by("id").last()
    staff_api.post(f"/api/v1/webhooks/{second.pk}/rotate-secret")

    relay_outbox()

    assert not OutboxItem.objects.exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_the_admin_never_shows_the_secret_or_the_whole_url(admin_client):
    subscription = WebhookSubscription.objects.create(url=TOKEN_URL, events=["*"])
    subscription.rotate_secret()
    subscription.refresh_from_db()

    for page in (
        "/admin/registry_project/webhooksubscription/",
        f"/admin/registry_project/webhooksubscription/{subscription.pk}/change/",
    ):
        html = admin_client.get(page).content.decode()
        assert subscription.secret not in html and subscription.previous_secret not in html, page
        assert "whsec_" not in html and "s3cr3t" not in html, page


@pytest.mark.django_db
def test_the_admin_keeps_the_url_when_its_field_is_left_blank(admin_client):
    subscription = WebhookSubscription.objects.create(url=TOKEN_URL, events=["*"])
    response = admin_client.post(
        f"/admin/registry_project/webhooksubscription/{subscription.pk}/change/",
        {"url": "", "events": '["model.*"]', "active": "on", "description": "kept"},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    subscription.refresh_from_db()
    assert subscription.url == TOKEN_URL and subscription.events == ["model.*"]


@pytest.mark.parametrize(
    "url, shown",
    [
        (
            "https://hooks.slack.com/services/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",
            "https://hooks.slack.com/services/REDACTED/REDACTED/REDACTED",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/AbCdEf_gHiJkLmNoPqRsTuVwXyZ-0123456789",
            "https://discord.com/api/webhooks/REDACTED/REDACTED",
        ),
        ("https://hooks.example.com/v1/registry-events", "https://hooks.example.com/v1/registry-events"),
    ],
)
def test_a_token_in_the_path_is_redacted_and_plain_words_are_kept(url, shown):
    assert redacted_url(url) == shown
