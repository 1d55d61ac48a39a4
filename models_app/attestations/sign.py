"""Issuing an improvement attestation: the in-toto Statement v1, its DSSE envelope (pre-authentication encoding,
Ed25519 signature) and the stored ``Attestation``."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from kernel.models import changelog
from models_app.attestations.keys import key_id, signing_key
from models_app.lineage.deltas import improvements
from models_app.models import Attestation, ModelVersion

logger = logging.getLogger(__name__)

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://registry.local/attestations/model-improvement/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(statement: dict, key: Ed25519PrivateKey) -> dict:
    payload = canonical_json(statement)
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(signature).decode()}],
    }


def _version_ref(version: ModelVersion) -> dict:
    return {
        "id": str(version.pk),
        "model": version.model.name,
        "version": version.version,
        "metrics": version.spec.get("metrics", {}),
    }


def subject_of(version: ModelVersion) -> dict:
    """The attested artifact: its registered sha256 checksum, or (none registered) the digest of the canonical
    spec, said so in the subject's name."""
    checksum = (version.spec.get("artifact") or {}).get("checksum")
    name = f"model:{version.model.name}@{version.version}"
    if isinstance(checksum, str) and checksum.startswith("sha256:"):
        return {"name": name, "digest": {"sha256": checksum.removeprefix("sha256:")}}
    return {"name": f"{name}#spec", "digest": {"sha256": hashlib.sha256(canonical_json(version.spec)).hexdigest()}}


def statement_for(version: ModelVersion, issued_at) -> dict:
    parent = version.derived_from
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject_of(version)],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "baseline": _version_ref(parent),
            "improved": _version_ref(version),
            "relation": version.relation,
            "deltas": version.deltas,
            "improvements": improvements(version.deltas),
            "contributors": version.spec.get("contributors", []),
            "issued_at": issued_at.isoformat(),
        },
    }


def issue(version: ModelVersion) -> Attestation | None:
    """Sign and store the attestation of an improving version (inside its registration's transaction)."""
    key = signing_key()
    if key is None:
        logger.warning("No attestation for %s: ATTESTATION_SIGNING_KEY_FILE is not set or does not exist.", version)
        return None
    issued_at = timezone.now()
    envelope = sign(statement_for(version, issued_at), key)
    attestation = Attestation.objects.create(
        version=version, key_id=key_id(key.public_key()), envelope=envelope, issued_at=issued_at
    )
    changelog.record(
        "model.attestation_issued",
        kind="model",
        name=version.model.name,
        version=version.version,
        object_id=version.pk,
        changes={"key_id": attestation.key_id, "predicate_type": PREDICATE_TYPE},
    )
    return attestation
