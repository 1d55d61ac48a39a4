"""Signed improvement attestations: an in-toto Statement v1 in a DSSE envelope, signed with the registry's
Ed25519 key.

- Statement: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
- DSSE envelope and its pre-authentication encoding (PAE):
  https://github.com/secure-systems-lab/dsse/blob/master/envelope.md and .../protocol.md

The signing key is a PEM file named by ``ATTESTATION_SIGNING_KEY_FILE`` (a mounted secret in production; ``make
run`` creates a local one), never a database row. A key id is the hex SHA-256 of the raw 32-byte public key.
Rotation: point the setting at the new key and list the old one in ``ATTESTATION_RETIRED_KEY_FILES``; envelopes
signed by it stay verifiable. Envelopes are stored as issued, so an old one is never re-signed.

- ``keys``: the signing key, the verification keys, key ids, generating a key;
- ``sign``: the statement, its DSSE signature, and issuing (``models_app.lineage.record`` calls ``issue``);
- ``verify``: checking an envelope against the registry's keys.

The ORM model is ``models_app.models.Attestation``.
"""
