from __future__ import annotations

import pytest

from models_app.attestations.keys import generate_key

# EIP-55 test vectors (checksummed) and their lowercase forms.
ALICE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BOB = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
CAROL = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"


@pytest.fixture
def signing_key(settings, tmp_path):
    """A fresh registry signing key, configured the way production configures it (a file path)."""
    path = tmp_path / "attestation.pem"
    key_id = generate_key(path)
    settings.ATTESTATION_SIGNING_KEY_FILE = str(path)
    settings.ATTESTATION_RETIRED_KEY_FILES = []
    return key_id


@pytest.fixture
def register(api, model_doc):
    """register(name, version, metrics=..., derived_from=(model, version, relation), contributors=[...]) through
    the API; returns the response."""

    def post(name: str, version: str, *, metrics=None, derived_from=None, contributors=None, expect=201, **extra):
        doc = model_doc(name=name, version=version, **extra)
        if metrics is not None:
            doc["metrics"] = metrics
        if derived_from is not None:
            doc["derived_from"] = dict(zip(("model", "version", "relation"), derived_from))
        if contributors is not None:
            doc["contributors"] = contributors
        response = api.post("/api/v1/models", doc, format="json")
        assert response.status_code == expect, response.json()
        return response

    return post
