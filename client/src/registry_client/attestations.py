"""Offline verification of the registry's attestations: a DSSE envelope (in-toto Statement v1 payload) signed
with Ed25519 over DSSE's pre-authentication encoding, checked against public keys from
``GET /api/v1/attestations/keys`` (saved once; no registry needed afterwards)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import VerificationFailed

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def key_id_of(public_key: Any) -> str:
    """The registry's key id: the hex SHA-256 of the raw 32-byte Ed25519 public key."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_keys(document: Any) -> dict[str, Any]:
    """``{keyid: Ed25519PublicKey}`` from the keys endpoint's answer (``{"keys": [...]}`` or its list), or PEM
    text holding one public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if isinstance(document, str | bytes):
        text = document.encode() if isinstance(document, str) else document
        if text.lstrip().startswith(b"-----BEGIN"):
            key = load_pem_public_key(text)
            if not isinstance(key, Ed25519PublicKey):
                raise VerificationFailed("The PEM key is not an Ed25519 public key.")
            return {key_id_of(key): key}
        document = json.loads(text)
    entries = document.get("keys", []) if isinstance(document, dict) else document
    keys: dict[str, Any] = {}
    for entry in entries or []:
        key = load_pem_public_key(entry["public_key"].encode())
        if not isinstance(key, Ed25519PublicKey):
            continue
        computed = key_id_of(key)
        if entry.get("keyid") and entry["keyid"] != computed:
            raise VerificationFailed(f"Key {entry['keyid']} does not match its public key (id {computed}).")
        keys[computed] = key
    if not keys:
        raise VerificationFailed("No Ed25519 public key found in the keys given.")
    return keys


@dataclass
class Verification:
    valid: bool
    reason: str
    keyid: str | None = None
    statement: dict[str, Any] | None = None
    subjects: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "keyid": self.keyid,
            "subjects": self.subjects,
            "statement": self.statement,
        }


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationFailed(f"{where} is not a base64 string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationFailed(f"{where} is not valid base64.") from None


def envelope_of(document: Any) -> dict[str, Any]:
    """The DSSE envelope: the document itself, or the ``envelope`` of the attestation endpoint's answer."""
    if isinstance(document, dict) and isinstance(document.get("envelope"), dict):
        return document["envelope"]
    if isinstance(document, dict) and "payload" in document:
        return document
    raise VerificationFailed("Not a DSSE envelope nor an attestation holding one (no payload).")


def verify_envelope(document: Any, keys: dict[str, Any], *, artifact_sha256: str | None = None) -> Verification:
    """Check the envelope's signatures against ``keys``; with ``artifact_sha256``, also that the statement's
    subject names that digest (the artifact in hand is the one attested)."""
    from cryptography.exceptions import InvalidSignature

    envelope = envelope_of(document)
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise VerificationFailed("payloadType is missing.")
    payload = _b64(envelope.get("payload"), "payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise VerificationFailed("signatures is missing or empty.")
    message = pae(payload_type, payload)
    known_key_named = False
    for index, entry in enumerate(signatures):
        if not isinstance(entry, dict):
            raise VerificationFailed(f"signatures/{index} is not an object.")
        signature = _b64(entry.get("sig"), f"signatures/{index}/sig")
        keyid = entry.get("keyid") or ""
        candidates = {keyid: keys[keyid]} if keyid in keys else ({} if keyid else keys)
        known_key_named = known_key_named or bool(candidates)
        for candidate_id, key in candidates.items():
            try:
                key.verify(signature, message)
            except InvalidSignature:
                continue
            statement = None
            if payload_type == PAYLOAD_TYPE:
                try:
                    statement = json.loads(payload)
                except ValueError:
                    return Verification(False, "The signature is good but the payload is not JSON.", candidate_id)
            subjects = (statement or {}).get("subject") or []
            if artifact_sha256 is not None:
                digests = [s.get("digest", {}).get("sha256") for s in subjects if isinstance(s, dict)]
                if artifact_sha256 not in digests:
                    return Verification(
                        False,
                        f"The signature is good but no subject has the artifact's sha256 {artifact_sha256} "
                        f"(subjects: {digests}).",
                        candidate_id,
                        statement,
                        subjects,
                    )
            return Verification(True, "Signed by a registry key.", candidate_id, statement, subjects)
    if not known_key_named:
        return Verification(False, "No signature is by a key given (see /api/v1/attestations/keys).")
    return Verification(False, "The signature does not match the payload: it was altered or signed by another key.")
