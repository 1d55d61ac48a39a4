"""On PostgreSQL the hot path's fixed reads (the document lookups and the credential token) are statements the
server prepared once per connection (registry_project.db); everything else keeps Django's client-side binding."""

from __future__ import annotations

import pytest
from django.db import connection, connections

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
URL = "/api/v1/models"


def prepared_statements(alias: str = "default") -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def reads_alias() -> str:
    """Where the API's reads run: the replica's connection under make test-replica, else the primary's."""
    return next((alias for alias in connections if alias.startswith("replica_")), "default")


@pytest.fixture
def registered(api, model_doc):
    for version in ("1.0.0", "1.1.0"):
        assert api.post(URL, model_doc(version=version), format="json").status_code == 201
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/activate").status_code == 200


def lookups(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith('SELECT "models_app_modelversion"."id"')]


def test_document_reads_and_the_credential_token_are_prepared_once(api, registered):
    before = prepared_statements(reads_alias())
    for _ in range(3):
        assert api.get(f"{URL}/llama2-7b-chat").json()["version"] == "1.1.0"
        assert api.get(f"{URL}/llama2-7b-chat/versions/current").json()["version"] == "1.0.0"
        assert api.get(f"{URL}/llama2-7b-chat/versions/1.0.0").json()["version"] == "1.0.0"
    statements = prepared_statements(reads_alias())
    assert len(lookups(statements)) == len(set(lookups(statements))) >= 3  # latest, current, by number: once each
    assert len(statements) > len(before)
    # The writes above (on the primary) read the credential token on its own, prepared once; each lookup reads it.
    primary = prepared_statements()
    assert sum(s.startswith("SELECT token FROM") for s in primary) == 1
    assert all("registry_project_credentialgeneration" in s for s in lookups(statements))
    # Writes and lists are not prepared: only the fixed reads are.
    assert not [s for s in {*statements, *primary} if s.lstrip().upper().startswith(("INSERT", "UPDATE", "WITH"))]


def test_a_prepared_read_follows_the_data(api, registered):
    assert api.get(f"{URL}/llama2-7b-chat/versions/current").json()["version"] == "1.0.0"
    assert api.post(f"{URL}/llama2-7b-chat/versions/1.1.0/activate").status_code == 200
    assert api.get(f"{URL}/llama2-7b-chat/versions/current").json()["version"] == "1.1.0"
    assert api.get(f"{URL}/llama2-7b-chat/versions/current").json()["status"] == "active"


def test_prepared_statements_can_be_turned_off(api, registered, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PREPARED_STATEMENTS", False)
    before = prepared_statements()
    for _ in range(3):
        assert api.get(f"{URL}/llama2-7b-chat/versions/1.0.0").status_code == 200
        assert api.get(f"{URL}/llama2-7b-chat").status_code == 200
    assert prepared_statements() == before
