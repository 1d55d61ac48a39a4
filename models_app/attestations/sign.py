"""Signed improvement attestations: an in-toto Statement v1 in a DSSE envelope, signed with the registry's
Ed25519 key.

- Statement: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
- DSSE envelope and its pre-authentication encoding (PAE):
  https://github.com/secure-systems-lab/dsse/blob/master/envelope.md and .../protocol.md

The signing key is a PEM file named by ``ATTESTATION_SIGNING_KEY_FILE`` (a mounted secret in production; ``make
run`` creates a local one), never a database row. A key id is the hex SHA-256 of the raw 32-byte public key.
Rotation: point the setting at the new key and list the old one in ``ATTESTATION_RETIRED_KEY_FILES``; envelopes
signed by it stay verifiable. Envelopes are stored as issued, so an old one is never re-signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone

from kernel.models import changelog
from kernel.rules.validation import DocumentInvalid, Issue

if TYPE_CHECKING:
    from models_app.models import ModelVersion

logger = logging.getLogger(__name__)

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://registry.local/attestations/model-improvement/v1"
MAX_SIGNATURES = 16


class Attestation(models.Model):
    """The envelope issued for an improving version, kept exactly as signed."""

    version = models.OneToOneField("models_app.ModelVersion", on_delete=models.PROTECT, related_name="attestation", primary_key=True)
    key_id = models.CharField(max_length=64, help_text="SHA-256 of the signing public key.")
    envelope = models.JSONField(help_text="DSSE envelope: payloadType, payload (base64 statement), signatures.")
    issued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"attestation of {self.version_id} by key {self.key_id[:12]}"

    def as_dict(self) -> dict:
        return {"key_id": self.key_id, "issued_at": self.issued_at.isoformat(), "envelope": self.envelope}


# -- keys ----------------------------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _load(path: str) -> Ed25519PrivateKey | Ed25519PublicKey:
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, (Ed25519PrivateKey, Ed25519PublicKey)):
        raise ImproperlyConfigured(f"{path} is not an Ed25519 key.")
    return key


def signing_key() -> Ed25519PrivateKey | None:
    """The active key, or None when none is configured (then no attestation is issued, and a warning logged)."""
    path = settings.ATTESTATION_SIGNING_KEY_FILE
    if not path or not os.path.exists(path):
        return None
    key = _load(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"ATTESTATION_SIGNING_KEY_FILE={path} holds a public key; signing needs the private key.")
    return key


@dataclass(frozen=True)
class VerificationKey:
    key_id: str
    public_key: Ed25519PublicKey
    active: bool

    def as_dict(self) -> dict:
        pem = self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"keyid": self.key_id, "algorithm": "ed25519", "public_key": pem.decode(), "active": self.active}


def verification_keys() -> dict[str, VerificationKey]:
    """Every key an envelope may be verified with: the active one and the retired ones."""
    keys: dict[str, VerificationKey] = {}
    active = signing_key()
    if active is not None:
        public = active.public_key()
        keys[key_id(public)] = VerificationKey(key_id(public), public, True)
    for path in settings.ATTESTATION_RETIRED_KEY_FILES:
        key = _load(path)
        public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
        keys.setdefault(key_id(public), VerificationKey(key_id(public), public, False))
    return keys


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key (PKCS#8 PEM, readable by its owner only); returns its key id."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key_id(key.public_key())


# -- DSSE ----------------------------------------------------------------------------------------------------------


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


BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z"
# The DSSE envelope ``verify`` accepts, as OpenAPI documents it (``verify`` checks the same rules by hand, so that
# a malformed envelope is a 400 naming each field). Other members are ignored, as DSSE allows.
ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["payloadType", "payload", "signatures"],
    "properties": {
        "payloadType": {"type": "string", "minLength": 1, "maxLength": 256},
        "payload": {"type": "string", "pattern": BASE64, "description": "Standard base64 (with padding)."},
        "signatures": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SIGNATURES,
            "items": {
                "type": "object",
                "required": ["sig"],
                "properties": {
                    "keyid": {"type": "string", "maxLength": 128},
                    "sig": {"type": "string", "maxLength": 256, "pattern": BASE64},
                },
            },
        },
    },
}


@dataclass
class Verification:
    valid: bool
    reason: str
    key_id: str | None = None
    statement: dict | None = None

    def as_dict(self) -> dict:
        return {"valid": self.valid, "reason": self.reason, "keyid": self.key_id, "statement": self.statement}


def _b64(value: Any, path: str, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > limit:
        raise DocumentInvalid([Issue(path, "invalid_type", f"Expected a base64 string of at most {limit} characters.")])
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DocumentInvalid([Issue(path, "invalid_base64", "Not valid standard base64.")]) from None


def verify(envelope: Any) -> Verification:
    """Check a DSSE envelope against the registry's keys. A malformed envelope raises DocumentInvalid (400);
    a well-formed one that fails answers ``valid: false`` with the reason."""
    if not isinstance(envelope, dict):
        raise DocumentInvalid([Issue("", "invalid_type", "Expected a DSSE envelope (a JSON object).")])
    errors = []
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str) or not 0 < len(payload_type) <= 256:
        errors.append(Issue("/payloadType", "required", "payloadType is a string of 1-256 characters."))
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not 0 < len(signatures) <= MAX_SIGNATURES:
        errors.append(Issue("/signatures", "required", f"signatures is a list of 1-{MAX_SIGNATURES} objects."))
        signatures = []
    if "payload" not in envelope:
        errors.append(Issue("/payload", "required", "payload (base64) is required."))
    if errors:
        raise DocumentInvalid(errors)
    payload = _b64(envelope["payload"], "/payload", 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    decoded = []
    for index, entry in enumerate(signatures):
        if not isinstance(entry, dict) or not isinstance(entry.get("keyid", ""), str) or len(entry.get("keyid", "")) > 128:
            raise DocumentInvalid([Issue(f"/signatures/{index}", "invalid_type", "A signature is {\"keyid\": string, \"sig\": base64}.")])
        decoded.append((entry.get("keyid", ""), _b64(entry.get("sig"), f"/signatures/{index}/sig", 256)))
    keys = verification_keys()
    message = pae(payload_type, payload)
    for keyid, signature in decoded:
        candidates = [keys[keyid]] if keyid in keys else ([] if keyid else list(keys.values()))
        for key in candidates:
            try:
                key.public_key.verify(signature, message)
            except InvalidSignature:
                continue
            statement = None
            if payload_type == PAYLOAD_TYPE:
                try:
                    statement = json.loads(payload)
                except ValueError:
                    return Verification(False, "The signature is good but the payload is not JSON.", key.key_id)
            return Verification(True, "Signed by a registry key.", key.key_id, statement)
    if not any(keyid in keys for keyid, _ in decoded) and all(keyid for keyid, _ in decoded):
        return Verification(False, "No signature is by a key this registry knows (see /api/v1/attestations/keys).")
    return Verification(False, "The signature does not match the payload: it was altered or signed by another key.")


# -- issuing -------------------------------------------------------------------------------------------------------


def _version_ref(version: ModelVersion) -> dict:
    return {"id": str(version.pk), "model": version.model.name, "version": version.version, "metrics": version.spec.get("metrics", {})}


def subject_of(version: ModelVersion) -> dict:
    """The attested artifact: its registered sha256 checksum, or (none registered) the digest of the canonical
    spec, said so in the subject's name."""
    checksum = (version.spec.get("artifact") or {}).get("checksum")
    name = f"model:{version.model.name}@{version.version}"
    if isinstance(checksum, str) and checksum.startswith("sha256:"):
        return {"name": name, "digest": {"sha256": checksum.removeprefix("sha256:")}}
    return {"name": f"{name}#spec", "digest": {"sha256": hashlib.sha256(canonical_json(version.spec)).hexdigest()}}


def statement_for(version: ModelVersion, issued_at) -> dict:
    from models_app.lineage import improvements

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
    attestation = Attestation.objects.create(version=version, key_id=key_id(key.public_key()), envelope=envelope, issued_at=issued_at)
    changelog.record(
        "model.attestation_issued",
        kind="model",
        name=version.model.name,
        version=version.version,
        object_id=version.pk,
        changes={"key_id": attestation.key_id, "predicate_type": PREDICATE_TYPE},
    )
    return attestation
