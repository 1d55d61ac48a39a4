from __future__ import annotations

import copy
import json
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test.utils import override_settings
from rest_framework.test import APIClient

from kernel.models import ApiKey
from tests import replica_mode

ROOT = Path(__file__).resolve().parent.parent

# The files that take longest are collected first: `make test` runs two pytest-xdist workers that take whole files
# in collection order, so a two-minute file collected last would run alone at the end while the other worker idles.
SLOW_FILES_FIRST = (
    "tests/contract/test_schemathesis.py",
    "tests/browser/test_every_admin_page.py",
    "tests/kernel/test_webhook_slow_receivers.py",
    "tests/integration/test_backup_jobs.py",
    "tests/contract/test_readme.py",
    "tests/kernel/test_permission_walker.py",
)


def pytest_collection_modifyitems(items):
    first = {path: position for position, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(
        key=lambda item: first.get(item.path.relative_to(ROOT).as_posix(), len(first))
    )  # stable: in-file order kept


def example(app: str, name: str) -> dict:
    return json.loads((ROOT / app / "examples" / f"{name}.json").read_text())


def assert_latest_flags_follow_pointers() -> None:
    """Every kind: the versions flagged ``is_latest`` are exactly the ones the definitions' ``latest_version``
    pointers name, one per definition that has a pointer (the lists read the flag, lookups the pointer)."""
    from models_app.models import Model
    from pipelines_app.models import Pipeline
    from policies_app.models import Policy

    for definition_model in (Model, Pipeline, Policy):
        version_model = definition_model.versions.rel.related_model
        parent = f"{version_model.parent_field}_id"
        flagged = sorted(version_model.objects.filter(is_latest=True).values_list(parent, "pk"))
        pointed = sorted(definition_model.objects.exclude(latest_version=None).values_list("pk", "latest_version_id"))
        assert flagged == pointed, definition_model.kind


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, which pytest-django flushes (TRUNCATE) after each transactional test: allowed to empty
    the append-only change log, for this session and the servers tests start (migration 0013)."""
    from django.db import connection

    from kernel.models.changelog import allow_truncate_in

    with django_db_blocker.unblock():
        allow_truncate_in(connection)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    """MD5 first for every password the suite hashes: Django's default PBKDF2 (1,000,000 iterations) cost each
    created user a good part of a second. The defaults stay listed after it, so a PBKDF2 hash still verifies.
    Only this process (and its live_server thread) hashes this way: the servers tests start (gunicorn, the README's
    runserver) keep their own settings, and none of them checks a password the suite hashed (they take API keys,
    which djangorestframework-api-key hashes with SHA-512 either way)."""
    from django.conf import settings

    fast_first = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    with override_settings(PASSWORD_HASHERS=fast_first):
        yield


@pytest.fixture(autouse=True)
def webhook_dns_is_local(monkeypatch):
    """No test sends a DNS query for a webhook URL: the egress resolver (kernel/egress.py) answers for address
    literals and ``localhost`` only, any other name does not resolve unless a test stands in for it."""
    import socket

    from kernel import egress

    def local_only(host, port, *args, **kwargs):
        if host == "localhost":
            return socket.getaddrinfo("127.0.0.1", port, *args, **kwargs)
        try:
            return socket.getaddrinfo(host, port, *args, flags=socket.AI_NUMERICHOST, **kwargs)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (tests resolve no names)") from None

    monkeypatch.setattr(egress, "getaddrinfo", local_only)


@pytest.fixture
def llama_doc() -> dict:
    """The llama2-7b-chat example from DESIGN.md (a fresh copy per test), with a digest in place of the
    specification's placeholder checksum: the tests register content they can upload and have checked."""
    doc = copy.deepcopy(example("models_app", "llama2-7b-chat"))
    doc["artifact"]["checksum"] = "sha256:8a8b9c5d3e1f2a4b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b"
    return doc


@pytest.fixture
def model_doc(llama_doc):
    """Build a valid model document: model_doc(name="x", version="1.2.0", **overrides)."""

    def build(name: str = "llama2-7b-chat", version: str = "1.0.0", **overrides) -> dict:
        doc = copy.deepcopy(llama_doc)
        doc.update(name=name, version=version, **overrides)
        return doc

    return build


@pytest.fixture
def user(db):
    """A service user holding every registry permission (keys act as their user; RegistryAccess)."""
    user = get_user_model().objects.create_user(username="svc", password="unused-password-123")
    user.user_permissions.set(
        Permission.objects.exclude(content_type__app_label__in=("auth", "admin", "contenttypes", "sessions"))
    )
    return user


def _client_for(user, *, read_only: bool = False) -> APIClient:
    _, key = ApiKey.objects.issue(user, read_only=read_only)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.api_key = key
    return client


@pytest.fixture
def api(user) -> APIClient:
    """A client with a read-write API key."""
    return _client_for(user)


@pytest.fixture
def readonly_api(user) -> APIClient:
    return _client_for(user, read_only=True)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


if replica_mode.active():
    # The suite against a read replica (tests/replica_suite.py): a statement-count bound counts the statements of
    # every database, since a read's now run on the replica, and leaves out the replica routing's own. A
    # ``connection`` the test names is not singled out: its statements may now run on the other database.

    class _EveryDatabase:
        def __init__(self, contexts):
            self.contexts = contexts

        @property
        def captured_queries(self) -> list[dict]:
            queries = (query for context in self.contexts for query in context.captured_queries)
            return [query for query in queries if not replica_mode.is_routing(query)]

        def __len__(self) -> int:
            return len(self.captured_queries)

    @contextmanager
    def _count_on_every_database(num: int, exact: bool = True, connection=None, info: str | None = None):
        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        with ExitStack() as stack:
            captured = _EveryDatabase([stack.enter_context(CaptureQueriesContext(c)) for c in connections.all()])
            yield captured
        performed = len(captured)
        if performed > num or (exact and performed != num):
            statements = "\n\n".join(query["sql"] for query in captured.captured_queries)
            pytest.fail(
                f"Expected {'' if exact else 'at most '}{num} statements on every database but {performed} were "
                f"run{chr(10) + info if info else ''}\n\n{statements}"
            )

    @pytest.fixture
    def django_assert_num_queries():
        return _count_on_every_database

    @pytest.fixture
    def django_assert_max_num_queries():
        def at_most(num: int, connection=None, info: str | None = None):
            return _count_on_every_database(num, exact=False, connection=connection, info=info)

        return at_most
