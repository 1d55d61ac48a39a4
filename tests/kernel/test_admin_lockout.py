"""Admin login brute-force protection (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
from one address, that pair is locked out, even with the right password, until the cool-off passes or an
operator runs ``axes_reset``. API keys are unaffected."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


def log_in(password: str, *, username: str = "root", address: str = "10.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response, client


def fail_until_locked(username: str = "root", address: str = "10.0.0.1"):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response, _ = log_in("wrong", username=username, address=address)
        assert response.status_code == 200 and b"Please enter the correct username and password" in response.content
    response, _ = log_in("wrong", username=username, address=address)
    assert response.status_code == 429
    return response


def assert_logged_in(response, client):
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_repeated_wrong_passwords_lock_the_account_out_even_for_the_right_password(admin_user):
    locked = fail_until_locked()
    assert b"Too many failed logins" in locked.content and b"root" in locked.content

    response, client = log_in(PASSWORD)
    assert response.status_code == 429 and b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_username_and_address(admin_user):
    get_user_model().objects.create_superuser("other", "other@example.com", PASSWORD)
    fail_until_locked()

    assert_logged_in(*log_in(PASSWORD, address="10.0.0.2"))
    assert_logged_in(*log_in(PASSWORD, username="other"))


def test_the_lockout_ends_after_the_cool_off(admin_user):
    fail_until_locked()
    # As if the cool-off had passed since the last failure (no waiting in tests).
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME)

    assert_logged_in(*log_in(PASSWORD))


def test_axes_reset_lifts_the_lockout(admin_user):
    fail_until_locked()
    call_command("axes_reset", verbosity=0)

    assert_logged_in(*log_in(PASSWORD))


def test_a_locked_out_user_keeps_using_the_api_with_a_key(api, user):
    fail_until_locked(username=user.username, address="127.0.0.1")

    response = api.get("/api/v1/models", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200


def behind_the_proxy(password: str, client_address: str, *, forged: str = ""):
    """A login through one trusted proxy (10.0.0.254), which appends the address it saw to X-Forwarded-For."""
    client = Client(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=f"{forged}{client_address}")
    return client.post(LOGIN, {"username": "root", "password": password}), client


def test_behind_a_trusted_proxy_the_lockout_is_per_client_address_not_the_proxys(admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        behind_the_proxy("wrong", "198.51.100.7")

    # The attacker is locked out even when it forges a left-most X-Forwarded-For entry...
    assert behind_the_proxy(PASSWORD, "198.51.100.7", forged="192.0.2.1, ")[0].status_code == 429
    # ...while another client behind the same proxy logs in.
    assert_logged_in(*behind_the_proxy(PASSWORD, "198.51.100.8"))


def test_without_trusted_proxies_x_forwarded_for_is_ignored(admin_user):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        behind_the_proxy("wrong", "198.51.100.7")

    # Every client of an undeclared proxy is one address: the header could be anyone's invention.
    assert behind_the_proxy(PASSWORD, "198.51.100.8")[0].status_code == 429
