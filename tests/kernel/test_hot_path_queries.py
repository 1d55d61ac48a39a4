"""The hot paths' SQL, counted: a document read is one prepared query, which also reads the credential token that
confirms the cached API key (api.auth.ConfirmsCredentialsLate); a write is
the lock, its rows and the change log, nothing read twice; on PostgreSQL a registration is one statement. On PostgreSQL the change-log entry, the webhook
subscriptions' match and the outbox item are one statement; on SQLite the outbox takes a query of its own. A
query coming back fails here.

Inside a test, ``transaction.atomic`` opens a savepoint (the test's own transaction is outermost), so a write's
count includes SAVEPOINT and RELEASE where production sends BEGIN and COMMIT.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kernel.fastpaths.prepared import Placeholder, PreparedQuery
from models_app.models import Model, ModelVersion
from tests import replica_mode

pytestmark = pytest.mark.django_db
URL = "/api/v1/models"


@pytest.fixture
def registered(api, model_doc):
    for version in ("1.0.0", "1.1.0"):
        assert api.post(URL, model_doc(version=version), format="json").status_code == 201
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/activate").status_code == 200
    api.get(URL)  # the key is verified and cached
    return Model.objects.get()


def sql_of(captured) -> list[str]:
    """The statements, without the consistency token a write's answer gets when replicas are configured."""
    return [q["sql"] for q in captured.captured_queries if not replica_mode.is_routing(q)]


def savepoint_statements() -> int:
    """A write's transaction is a savepoint and its release inside a test's transaction; in autocommit (make
    test-replica, and a request in production) psycopg's BEGIN and COMMIT, which Django does not log."""
    return 2 if connection.in_atomic_block else 0


@pytest.mark.parametrize(
    "path, version",
    [
        ("/llama2-7b-chat", "1.1.0"),
        ("/llama2-7b-chat/versions/current", "1.0.0"),
        ("/llama2-7b-chat/versions/latest", "1.1.0"),
        ("/llama2-7b-chat/versions/1.0.0", "1.0.0"),
        ("/llama2-7b-chat?version=1.1.0", "1.1.0"),
    ],
)
def test_a_document_read_is_one_query_with_the_credential_token(
    api, registered, path, version, django_assert_num_queries
):
    with django_assert_num_queries(1) as captured:
        response = api.get(URL + path)
    assert response.status_code == 200 and response.json()["version"] == version
    assert "registry_project_credentialgeneration" in captured.captured_queries[0]["sql"]


def test_a_read_by_id_is_one_query_with_the_credential_token(api, registered, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = api.get(f"{URL}/id/{registered.current_version_id}")
    assert response.json()["version"] == "1.0.0" and response.json()["is_current"] is True


def test_registering_a_version_reads_nothing_twice(api, registered, model_doc):
    with CaptureQueriesContext(connection) as captured:
        response = api.post(f"{URL}/llama2-7b-chat/versions", model_doc(version="1.2.0"), format="json")
    assert response.status_code == 201 and response.json()["aliases"] == []
    queries = sql_of(captured)
    assert not any("auth_permission" in q for q in queries)  # the cached key's user carries its permissions
    if connection.vendor == "postgresql":
        # token, savepoint, the one registration statement (kernel.fastpaths.one_statement), release
        wrapped = savepoint_statements()
        assert len(queries) == 2 + wrapped and "models_app_model_register_v1(" in queries[1 + wrapped // 2], queries
        assert (
            ModelVersion.objects.get(version="1.2.0").is_latest
            and not ModelVersion.objects.get(version="1.1.0").is_latest
        )
        return
    # token, savepoint, lock by name, the existing/latest versions, clear the old latest row's is_latest flag (the
    # one-latest constraint is checked row by row), insert, move the pointer, change log with its outbox, release
    assert len(queries) == 10, queries
    assert sum("is_latest" in q and q.startswith("UPDATE") for q in queries) == 1


def test_registering_a_new_model_reads_nothing_twice(api, registered, model_doc):
    with CaptureQueriesContext(connection) as captured:
        response = api.post(URL, model_doc(name="brand-new", version="1.0.0"), format="json")
    assert response.status_code == 201
    queries = sql_of(captured)
    if connection.vendor == "postgresql":
        wrapped = savepoint_statements()  # as above
        assert len(queries) == 2 + wrapped and "models_app_model_register_v1(" in queries[1 + wrapped // 2], queries
    else:
        # token, savepoint, lock (a miss), the model inserted inside its own savepoint (a concurrent first
        # registration of the name rolls back to it: kernel.writes.register), insert the version (a model inserted
        # by this transaction has no versions to read), move the pointer, change log with its outbox, release
        assert len(queries) == 11, queries
        assert not any(q.startswith("SELECT") and "models_app_modelversion" in q for q in queries)
    assert response.json()["name"] == "brand-new" and Model.objects.get(name="brand-new").owner is not None


def test_activating_reads_nothing_twice_and_answers_with_the_aliases(api, registered, django_assert_num_queries):
    assert api.put(f"{URL}/llama2-7b-chat/aliases/champion", {"version": "1.1.0"}, format="json").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = api.post(f"{URL}/llama2-7b-chat/versions/1.1.0/activate")
    assert response.status_code == 200 and response.json()["aliases"] == ["champion"]
    queries = sql_of(captured)
    if connection.vendor == "postgresql":
        # token, the version, savepoint, the one activation statement (kernel.fastpaths.one_statement), release
        wrapped = savepoint_statements()
        assert len(queries) == 3 + wrapped and "models_app_model_activate_v1(" in queries[2 + wrapped // 2], queries
        return
    # token, the version, savepoint, lock, the version with its aliases, clear the previous current (UPDATE ...
    # RETURNING its number), set this one, move the pointer, change log with its outbox, release
    assert len(queries) == 11, queries
    assert sum("RETURNING" in q and q.startswith("UPDATE") for q in queries) == 1


def test_reads_after_activate_never_serve_the_old_state(api, registered):
    old_current = registered.current_version_id
    assert api.get(f"{URL}/llama2-7b-chat/versions/current").json()["version"] == "1.0.0"
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.1.0/activate").status_code == 200

    assert api.get(f"{URL}/llama2-7b-chat/versions/current").json()["version"] == "1.1.0"
    before = api.get(f"{URL}/id/{old_current}").json()
    assert before["version"] == "1.0.0" and before["is_current"] is False
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/deprecate").status_code == 200
    assert api.get(f"{URL}/llama2-7b-chat/versions/1.0.0").json()["status"] == "deprecated"


def test_prepared_reads_do_not_serve_deleted_versions_or_definitions(api, registered):
    deprecated_id = ModelVersion.objects.get(version="1.1.0").pk
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.1.0/deprecate").status_code == 200
    assert api.delete(f"{URL}/llama2-7b-chat/versions/1.1.0").status_code == 204
    assert api.get(f"{URL}/llama2-7b-chat/versions/1.1.0").status_code == 404
    assert api.get(f"{URL}/id/{deprecated_id}").status_code == 404
    assert api.get(f"{URL}/llama2-7b-chat").json()["version"] == "1.0.0"

    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/deprecate").status_code == 200
    assert api.delete(f"{URL}/llama2-7b-chat").status_code == 204
    for path in ("", "/versions/current", "/versions/1.0.0", "/versions/latest"):
        assert api.get(f"{URL}/llama2-7b-chat{path}").status_code == 404, path


def test_a_prepared_query_refuses_a_placeholder_the_compiler_rewrites(registered):
    # startswith turns the value into a LIKE pattern: running it with a request's value would match wrongly.
    query = PreparedQuery(lambda name: Model.objects.filter(name__startswith=name), name=Placeholder.TEXT)
    with pytest.raises(ValueError):
        query.first(name="llama")
    exact = PreparedQuery(lambda name: Model.objects.filter(name=name), name=Placeholder.TEXT)
    assert exact.first(name="llama2-7b-chat").pk == registered.pk and exact.first(name="llama") is None
    by_id = PreparedQuery(lambda pk: ModelVersion.objects.filter(pk=pk), pk=Placeholder.UUID)
    assert by_id.first(pk=registered.current_version_id).version == "1.0.0" and by_id.first(pk=uuid.uuid4()) is None


@pytest.mark.postgres
def test_a_token_bucket_in_redis_admits_exactly_its_burst_under_concurrency():
    from django.core.cache import cache

    if not hasattr(cache, "take_token"):
        pytest.skip("the token bucket's script needs the Redis cache")
    key = f"test-bucket:{uuid.uuid4().hex}"
    waits: list[float] = []
    lock = threading.Lock()

    def take():
        for _ in range(5):
            wait = cache.take_token(key, 1, 10, 120)  # 10 tokens, one more a minute
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert waits.count(0.0) == 10  # 40 takes at once: the burst, never more
    assert all(55 <= wait <= 60 for wait in waits if wait)  # the next token is about a minute away
