"""The registry's attestation keys: the active signing key, the retired ones still accepted for verification,
key ids (hex SHA-256 of the raw public key) and generating a new key."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


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
        raise ImproperlyConfigured(
            f"ATTESTATION_SIGNING_KEY_FILE={path} holds a public key; signing needs the private key."
        )
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
