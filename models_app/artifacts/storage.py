"""Where artifact bytes live: one Django storage, chosen by settings (``ARTIFACT_STORAGE``).

- ``filesystem`` (default): ``FileSystemStorage`` under ``ARTIFACT_ROOT``.
- ``s3``: django-storages' ``S3Storage`` on ``ARTIFACT_S3_BUCKET`` at ``ARTIFACT_S3_ENDPOINT_URL`` (any S3-compatible
  store), credentials from the environment only.

Everything else (upload, download, verify, purge) speaks Django's storage API, so a new backend is a settings change.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from functools import cache
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.core.signals import setting_changed
from django.dispatch import receiver

MIB = 1024 * 1024
# S3 allows at most 10,000 parts per multipart upload; an upload of unknown length (a streamed request body) uses
# one fixed part size, so the part size must let the largest allowed file fit.
S3_MAX_PARTS = 10_000


# A storage key is relative, '/'-separated, with no empty, '.' or '..' segment, no backslash (a separator on Windows
# and to some S3 tools) and no control character (NUL ends a C string). Upload writes
# ``<model>/<version>/<upload id>/<filename>`` (ArtifactFile.new_key), which always passes.
MAX_KEY_LENGTH = 1024
_UNSAFE_KEY_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\\]")


class StorageKeyRefused(FileNotFoundError):
    """A key that could name something outside the artifact store. Storage refuses it before touching anything: to
    the caller it names no stored file (a download answers 404, an integrity check marks the file missing). The
    message never shows the store's location."""


def key_problem(key: object) -> str | None:
    """Why ``key`` is not a safe storage key, or None."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        return f"a storage key is a string of 1-{MAX_KEY_LENGTH} characters"
    if _UNSAFE_KEY_CHARACTERS.search(key):
        return "a storage key holds no backslash or control character (NUL included)"
    if key.startswith("/"):
        return "a storage key is relative to the artifact store, not an absolute path"
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        return "a storage key has no empty, '.' or '..' segment"
    return None


def check_storage_key(key: str) -> str:
    problem = key_problem(key)
    if problem:
        raise StorageKeyRefused(f"Refused storage key: {problem}.")
    return key


class ArtifactFileSystemStorage(FileSystemStorage):
    """FileSystemStorage whose every path (open, save, delete, exists, size all go through ``path``) is a checked
    key that resolves, symbolic links followed, inside ``ARTIFACT_ROOT``."""

    def path(self, name: str) -> str:
        path = super().path(check_storage_key(name))
        root = os.path.realpath(self.location)
        if os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise StorageKeyRefused("Refused storage key: it resolves outside the artifact store.")
        return path


def is_s3() -> bool:
    return settings.ARTIFACT_STORAGE == "s3"


def storage_tier() -> str:
    """The name shown beside each stored file (``filesystem`` or ``s3``)."""
    return settings.ARTIFACT_STORAGE


@cache
def artifact_storage() -> Storage:
    if is_s3():
        return _s3_storage()
    return ArtifactFileSystemStorage(
        location=settings.ARTIFACT_ROOT, file_permissions_mode=0o640, directory_permissions_mode=0o750
    )


@cache
def _probe_storage() -> Storage:
    """The same store for readiness probes, with short timeouts and no retries: a probe answers in seconds."""
    return _s3_storage(timeout=PROBE_TIMEOUT_SECONDS, attempts=1) if is_s3() else artifact_storage()


PROBE_TIMEOUT_SECONDS = 2
PROBE_PREFIX = "_registry/health"  # model names start with a letter or digit, so no artifact key starts so
PROBE_BYTES = b"registry readiness probe\n"


def probe() -> None:
    """Readiness: write a small object, read it back, delete it (reachable AND writable). Raises on any failure."""
    store = _probe_storage()
    key = store.save(f"{PROBE_PREFIX}/{os.getpid()}-{uuid.uuid4().hex}", ContentFile(PROBE_BYTES))
    try:
        with store.open(key, "rb") as stream:
            if stream.read() != PROBE_BYTES:
                raise OSError("the artifact storage returned other bytes than were written")
    finally:
        store.delete(key)


def open_stored(artifact) -> IO[bytes]:
    """The stored bytes of an ``ArtifactFile``, to read."""
    return artifact_storage().open(artifact.storage_key, "rb")


def download_url(artifact) -> str:
    """A short-lived presigned URL (S3) for clients to fetch an ``ArtifactFile``'s bytes directly."""
    return artifact_storage().url(artifact.storage_key)


def _s3_storage(*, timeout: int | None = None, attempts: int = 3) -> Storage:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    class ArtifactS3Storage(S3Storage):
        """S3Storage taking checked keys only, on every public operation the registry uses."""

        def open(self, name, mode="rb"):
            return super().open(check_storage_key(name), mode)

        def save(self, name, content, max_length=None):
            return super().save(check_storage_key(name), content, max_length=max_length)

        def delete(self, name):
            return super().delete(check_storage_key(name))

        def exists(self, name):
            return super().exists(check_storage_key(name))

        def size(self, name):
            return super().size(check_storage_key(name))

        def url(self, name, *args, **kwargs):
            return super().url(check_storage_key(name), *args, **kwargs)

    conf = settings.ARTIFACT_S3
    part_size = max(8 * MIB, math.ceil(settings.ARTIFACT_MAX_FILE_BYTES / S3_MAX_PARTS / MIB) * MIB)
    transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=2)
    # A streamed body is read one part at a time; keep at most two parts in memory, so an upload's memory is
    # bounded by the part size, never by the file's.
    transfer.max_in_memory_upload_chunks = 2
    client_config = Config(
        signature_version="s3v4",
        # Path-style addressing works on every S3-compatible store (virtual hosts need DNS per bucket).
        s3={"addressing_style": "path" if conf["endpoint_url"] else "auto"},
        # boto3 >= 1.36 adds CRC checksums to every request by default, which several non-AWS stores reject
        # (boto3 #4392); send them only where the API requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": attempts, "mode": "standard"},
        # Completing a multipart upload of a large file can take minutes on some stores; a short read timeout
        # would retry a completion that already succeeded.
        connect_timeout=timeout or 10,
        read_timeout=timeout or 300,
    )
    return ArtifactS3Storage(
        bucket_name=conf["bucket_name"],
        endpoint_url=conf["endpoint_url"],
        region_name=conf["region_name"],
        access_key=conf["access_key"],
        secret_key=conf["secret_key"],
        location=conf["location"],
        default_acl=None,
        # Bytes, stored as sent: a guessed Content-Encoding (``.gz``) would let clients decode on download.
        object_parameters={"ContentType": "application/octet-stream"},
        file_overwrite=True,  # keys are unique per upload (see ArtifactFile.new_key); never rename silently
        querystring_auth=True,
        querystring_expire=settings.ARTIFACT_URL_EXPIRE_SECONDS,
        client_config=client_config,
        transfer_config=transfer,
    )


@receiver(setting_changed)
def _forget_storage(setting: str, **kwargs) -> None:
    if setting.startswith("ARTIFACT_"):
        artifact_storage.cache_clear()
        _probe_storage.cache_clear()
