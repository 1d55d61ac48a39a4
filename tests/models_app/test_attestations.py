"""Signed improvement attestations: issue, fetch, verify (also independently, from the DSSE spec), tamper, rotate."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command

from models_app.attestations.keys import generate_key
from models_app.models import Attestation, ModelVersion
from tests.models_app.conftest import ALICE

pytestmark = pytest.mark.django_db

ATTESTATION = "/api/v1/models/chat/versions/1.1.0/attestation"


@pytest.fixture
def improved(register, signing_key):
    register("chat", "1.0.0", metrics={"accuracy": 0.85, "latency_ms": 50})
    register(
        "chat",
        "1.1.0",
        metrics={"accuracy": 0.874, "latency_ms": 55},
        derived_from=("chat", "1.0.0", "finetune"),
        contributors=[{"address": ALICE, "role": "data"}],
    )
    return signing_key


def independent_verify(envelope: dict, public_key_pem: str) -> dict:
    """DSSE v1 verification written from the protocol text, sharing no code with the registry:
    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN = ASCII decimal byte count;
    the signature is Ed25519 over PAE. Returns the statement; raises InvalidSignature when it does not verify."""
    body = base64.b64decode(envelope["payload"])
    payload_type = envelope["payloadType"].encode("utf-8")
    message = b" ".join([b"DSSEv1", str(len(payload_type)).encode(), payload_type, str(len(body)).encode(), body])
    key = serialization.load_pem_public_key(public_key_pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), message)
    return json.loads(body)


def test_an_improving_derived_version_gets_a_signed_in_toto_statement(api, improved):
    response = api.get(ATTESTATION)

    assert response.status_code == 200
    body = response.json()
    assert body["key_id"] == improved
    envelope = body["envelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == improved
    [key] = api.get("/api/v1/attestations/keys").json()["keys"]
    statement = independent_verify(envelope, key["public_key"])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"].endswith("/model-improvement/v1")
    version = ModelVersion.objects.get(version="1.1.0")
    assert statement["subject"] == [
        {"name": "model:chat@1.1.0", "digest": {"sha256": version.spec["artifact"]["checksum"][7:]}}
    ]
    predicate = statement["predicate"]
    assert predicate["baseline"]["version"] == "1.0.0" and predicate["improved"]["id"] == str(version.pk)
    assert predicate["improved"]["metrics"] == {"accuracy": 0.874, "latency_ms": 55}
    assert predicate["improvements"] == ["accuracy"] and predicate["deltas"]["latency_ms"]["improved"] is False
    assert predicate["contributors"] == [{"address": ALICE, "role": "data", "weight": 1.0}]
    assert predicate["relation"] == "finetune" and predicate["issued_at"]


def test_the_registry_verifies_its_own_envelope(api, improved):
    envelope = api.get(ATTESTATION).json()["envelope"]

    result = api.post("/api/v1/attestations/verify", envelope, format="json").json()

    assert result["valid"] is True and result["keyid"] == improved
    assert result["statement"]["subject"][0]["name"] == "model:chat@1.1.0"


def test_a_tampered_payload_fails_both_verifications(api, improved):
    from cryptography.exceptions import InvalidSignature

    envelope = api.get(ATTESTATION).json()["envelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["contributors"][0]["weight"] = 0.01
    tampered = {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}

    result = api.post("/api/v1/attestations/verify", tampered, format="json").json()
    assert result["valid"] is False and result["statement"] is None
    assert "altered" in result["reason"]
    [key] = api.get("/api/v1/attestations/keys").json()["keys"]
    with pytest.raises(InvalidSignature):
        independent_verify(tampered, key["public_key"])
    retyped = {**envelope, "payloadType": "application/json"}  # the type is signed too (PAE)
    assert api.post("/api/v1/attestations/verify", retyped, format="json").json()["valid"] is False


def test_rotation_keeps_old_attestations_verifiable(api, improved, register, settings, tmp_path):
    old_envelope = api.get(ATTESTATION).json()["envelope"]
    old_path = settings.ATTESTATION_SIGNING_KEY_FILE
    new_id = generate_key(tmp_path / "new.pem")
    settings.ATTESTATION_SIGNING_KEY_FILE = str(tmp_path / "new.pem")
    settings.ATTESTATION_RETIRED_KEY_FILES = [old_path]

    register("chat", "1.2.0", metrics={"accuracy": 0.9}, derived_from=("chat", "1.1.0", "finetune"))

    keys = {k["keyid"]: k["active"] for k in api.get("/api/v1/attestations/keys").json()["keys"]}
    assert keys == {new_id: True, improved: False}
    assert api.get("/api/v1/models/chat/versions/1.2.0/attestation").json()["key_id"] == new_id
    assert api.get(ATTESTATION).json()["envelope"] == old_envelope  # stored as issued, never re-signed
    assert api.post("/api/v1/attestations/verify", old_envelope, format="json").json()["valid"] is True

    settings.ATTESTATION_RETIRED_KEY_FILES = []  # the old key dropped: its envelopes no longer verify here
    result = api.post("/api/v1/attestations/verify", old_envelope, format="json").json()
    assert result["valid"] is False and "key this registry knows" in result["reason"]


def test_no_attestation_for_a_baseline_or_a_version_that_improves_nothing(api, register, signing_key):
    register("chat", "1.0.0", metrics={"accuracy": 0.85})
    register("chat", "1.1.0", metrics={"accuracy": 0.80}, derived_from=("chat", "1.0.0", "retrain"))

    for version in ("1.0.0", "1.1.0"):
        response = api.get(f"/api/v1/models/chat/versions/{version}/attestation")
        assert response.status_code == 404 and response.json()["errors"][0]["code"] == "no_attestation"
    assert not Attestation.objects.exists()


def test_without_a_signing_key_versions_register_but_are_not_attested(api, register, settings):
    settings.ATTESTATION_SIGNING_KEY_FILE = ""
    register("chat", "1.0.0", metrics={"accuracy": 0.85})
    register("chat", "1.1.0", metrics={"accuracy": 0.9}, derived_from=("chat", "1.0.0", "retrain"))

    assert api.get("/api/v1/models/chat/versions/1.1.0/attestation").status_code == 404
    assert api.get("/api/v1/attestations/keys").json() == {"keys": []}


@pytest.mark.parametrize(
    "envelope, path",
    [
        ([], ""),
        ({"payloadType": "x", "signatures": [{"keyid": "k", "sig": "AA=="}]}, "/payload"),
        ({"payloadType": "x", "payload": "not base64!", "signatures": [{"keyid": "k", "sig": "AA=="}]}, "/payload"),
        ({"payloadType": "x", "payload": "AA==", "signatures": []}, "/signatures"),
        ({"payloadType": "x", "payload": "AA==", "signatures": ["sig"]}, "/signatures/0"),
        ({"payloadType": "x", "payload": "AA==", "signatures": [{"keyid": "k", "sig": 5}]}, "/signatures/0/sig"),
        ({"payload": "AA==", "signatures": [{"keyid": "k", "sig": "AA=="}]}, "/payloadType"),
    ],
)
def test_a_malformed_envelope_is_a_400_naming_the_field(api, signing_key, envelope, path):
    response = api.post("/api/v1/attestations/verify", envelope, format="json")
    assert response.status_code == 400
    assert path in [e["path"] for e in response.json()["errors"]]


def test_a_read_only_key_may_verify(readonly_api, signing_key):
    envelope = {
        "payloadType": "x",
        "payload": "AA==",
        "signatures": [{"keyid": "", "sig": base64.b64encode(b"0" * 64).decode()}],
    }
    response = readonly_api.post("/api/v1/attestations/verify", envelope, format="json")
    assert response.status_code == 200 and response.json()["valid"] is False


def test_create_attestation_key_writes_a_private_key_once(tmp_path, settings):
    path = tmp_path / "keys" / "registry.pem"
    settings.ATTESTATION_SIGNING_KEY_FILE = str(path)

    call_command("create_attestation_key")
    first = path.read_bytes()
    call_command("create_attestation_key", "--if-missing")

    assert path.read_bytes() == first and oct(path.stat().st_mode & 0o777) == "0o600"
    assert b"PRIVATE KEY" in first


def test_make_run_loads_an_example_chain_with_contributors_and_attestations(signing_key):
    from io import StringIO

    call_command("load_lineage_examples", stdout=StringIO())

    awq = ModelVersion.objects.get(model__name="mistral-7b-support-awq")
    assert awq.derived_from.model.name == "mistral-7b-support" and awq.lineage_depth == 3
    assert ModelVersion.objects.filter(contributions__isnull=False).distinct().count() == 3
    assert Attestation.objects.count() == 3
