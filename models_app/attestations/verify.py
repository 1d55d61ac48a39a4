"""Verifying a DSSE envelope against the registry's keys (the active one and the retired ones)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from django.conf import settings

from kernel.rules.validation import DocumentInvalid, Issue
from models_app.attestations.keys import verification_keys
from models_app.attestations.sign import PAYLOAD_TYPE, pae

MAX_SIGNATURES = 16
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
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("keyid", ""), str)
            or len(entry.get("keyid", "")) > 128
        ):
            raise DocumentInvalid(
                [Issue(f"/signatures/{index}", "invalid_type", 'A signature is {"keyid": string, "sig": base64}.')]
            )
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


def problem_with_attestation(envelope: Any, key_id: str, version) -> str | None:
    """Why a stored attestation cannot be the registry's attestation of ``version`` (an import checks each row with
    this), or None: it must be a well-formed DSSE envelope of an in-toto statement whose one subject is
    ``version``'s (name and digest, as ``subject_of`` issues it) and whose improved version is ``version``, signed
    by ``key_id``; where this registry knows that key, the signature must verify. (A key it does not know, as in a
    restore into a registry with other keys, cannot be checked here; /api/v1/attestations/verify answers for it.)"""
    from models_app.attestations.sign import subject_of

    try:
        verification = verify(envelope)
    except DocumentInvalid as exc:
        return f"the envelope is malformed ({exc})"
    signers = [entry.get("keyid") for entry in envelope["signatures"]]
    if key_id not in signers:
        return f"key_id {key_id[:12]}... is not among the envelope's signers"
    if not verification.valid and key_id in verification_keys():
        return f"the signature does not verify: {verification.reason}"
    try:
        statement = json.loads(base64.b64decode(envelope["payload"]))
    except (ValueError, RecursionError):
        statement = None
    if envelope["payloadType"] != PAYLOAD_TYPE or not isinstance(statement, dict):
        return "the payload is not an in-toto statement"
    expected = subject_of(version)
    if statement.get("subject") != [expected]:
        return f"its signed subject is not {expected['name']} with this version's digest"
    predicate = statement.get("predicate")
    improved = predicate.get("improved") if isinstance(predicate, dict) else None
    if not isinstance(improved, dict) or improved.get("id") != str(version.pk):
        return f"its signed statement attests another version than {expected['name']}"
    return None
