"""Uploading a model version's artifact files: streamed upload with SHA-256 and BLAKE3 computed in the same pass,
declared-digest checks that keep nothing on a mismatch, and sealing.

Each upload writes to a key of its own (``<model>/<version>/<upload id>/<filename>``), so a rejected or failed
upload only ever has its own object to delete, a replaced file's old object is deleted once the new row has
committed, and no two versions share an object (deleting one version's files cannot break another's).
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import blake3
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from kernel.exceptions import Conflict, RegistryError
from kernel.metrics import ARTIFACT_UPLOAD_SECONDS, ARTIFACT_UPLOADED_BYTES
from kernel.models import changelog
from kernel.rules.validation import pointer
from models_app.artifacts.storage import artifact_storage, storage_tier
from models_app.models import ArtifactFile, ModelVersion
from models_app.models.model import is_checksum_placeholder

logger = logging.getLogger(__name__)

# A flat file name: no directories, no leading dot, nothing a shell or a URL has to escape.
FILENAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
CHUNK = 1024 * 1024
MAX_FILES_PER_VERSION = 1000


class ArtifactTooLarge(RegistryError):
    status_code = 413
    code = "too_large"


class LengthRequired(RegistryError):
    status_code = 411
    code = "length_required"


class BodyInterrupted(RegistryError):
    """The client stopped sending (silent past the server's idle deadline) or the connection dropped mid-body."""

    status_code = 408
    code = "body_interrupted"

    @classmethod
    def after(cls, filename: str, received: int | None = None) -> BodyInterrupted:
        where = "" if received is None else f" after {received:,} bytes"
        return cls(
            f"{filename}: the body stopped{where} (the client went silent past the server's idle "
            "deadline, or the connection dropped); nothing was kept. Send the file again.",
            path="filename",
        )


class ArtifactMismatch(RegistryError):
    """The bytes received are not what the version's document declares (or not all that was announced)."""

    code = "artifact_mismatch"


def check_filename(filename: str) -> str:
    if not isinstance(filename, str) or not FILENAME_RE.fullmatch(filename) or ".." in filename:
        raise RegistryError(
            f"{filename!r} is not a valid artifact file name: 1-255 characters of A-Z, a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit, without '..'.",
            code="invalid_filename",
            path="filename",
        )
    return filename


@dataclass(frozen=True)
class Declared:
    """What a version's document promises about one file; ``pointer`` says where in the document."""

    size: int | None
    algorithm: str | None
    digest: str | None
    pointer: str


def declared_files(spec: dict) -> dict[str, Declared]:
    """Files the document declares: each entry of ``artifact.files``, and the file named by the last segment of
    ``artifact.path`` when ``artifact`` itself gives a ``checksum`` or ``size_bytes``."""
    artifact = spec.get("artifact") if isinstance(spec, dict) else None
    if not isinstance(artifact, dict):
        return {}
    found: dict[str, Declared] = {}

    def add(name: str, entry: dict, at: str) -> None:
        checksum = entry.get("checksum")
        if is_checksum_placeholder(checksum):
            checksum = None  # names no content: nothing to check an upload against
        algorithm, _, digest = checksum.partition(":") if isinstance(checksum, str) else (None, "", None)
        size = entry.get("size_bytes")
        found[name] = Declared(size if isinstance(size, int) else None, algorithm, digest or None, at)

    files = artifact.get("files")
    if isinstance(files, dict):
        for name, entry in files.items():
            if isinstance(entry, dict):
                add(name, entry, pointer("artifact", "files", name))
    main = posixpath.basename(str(artifact.get("path", "")).rstrip("/"))
    if main and main not in found and ("checksum" in artifact or "size_bytes" in artifact):
        add(main, artifact, "/artifact")
    return found


class HashingReader:
    """Wraps a byte stream: every byte read is counted and fed to SHA-256 and BLAKE3, so the digests are ready when
    the storage has consumed the stream (one pass, memory bounded by the reader's chunk)."""

    def __init__(self, stream: IO[bytes], *, limit: int, filename: str):
        self.stream = stream
        self.limit = limit
        self.filename = filename
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.blake3 = blake3.blake3()

    def read(self, n: int | None = -1) -> bytes:
        want = CHUNK if n is None or n < 0 else n
        parts, got = [], 0
        while got < want:  # fill the request: S3's uploader treats a short read as the end of the stream
            try:
                data = self.stream.read(min(want - got, CHUNK))
            except OSError:  # a socket timeout or reset; Django raises UnreadablePostError, an OSError
                raise BodyInterrupted.after(self.filename, self.size + got) from None
            if not data:
                break
            parts.append(data)
            got += len(data)
        data = b"".join(parts)
        self.size += len(data)
        if self.size > self.limit:
            raise ArtifactTooLarge(
                f"{self.filename} is larger than the {self.limit:,}-byte limit per file (ARTIFACT_MAX_FILE_BYTES).",
                path="filename",
            )
        self.sha256.update(data)
        self.blake3.update(data)
        return data

    # A forward-only stream: storages must not seek it (django-storages and s3transfer ask).
    closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def digests(self) -> tuple[str, str]:
        return self.sha256.hexdigest(), self.blake3.hexdigest()


@dataclass
class Incoming:
    """One file of an upload: its name, a readable stream and, when the client announced it, its length."""

    filename: str
    stream: IO[bytes]
    length: int | None = None


@dataclass
class Received:
    filename: str
    key: str
    size: int
    sha256: str
    blake3: str
    sealed: bool


# -- the version's side ------------------------------------------------------------------------------------------


def refresh_summary(version_id) -> None:
    """Rewrite the version's ``stored_artifacts`` from its rows; call inside the transaction that changed them."""
    files = [f.as_dict() for f in ArtifactFile.objects.filter(version_id=version_id).order_by("filename")]
    ModelVersion.objects.filter(pk=version_id).update(stored_artifacts=files)


def ensure_uploadable(version, filenames: Iterable[str]) -> None:
    """Refuse before reading any byte: archived versions and sealed files (409), bad names (400)."""
    from kernel.choices import Lifecycle

    names = [check_filename(name) for name in filenames]
    if version.status == Lifecycle.ARCHIVED:
        raise Conflict(f"{version} is archived; its artifacts cannot change.", code="archived")
    if version.artifacts_sealed_at is not None:
        raise Conflict(f"The artifact set of {version} is sealed; register a new version to change it.", code="sealed")
    sealed = sorted(version.artifact_files.filter(filename__in=names, sealed=True).values_list("filename", flat=True))
    if sealed:
        raise Conflict(
            f"{', '.join(sealed)} of {version} is sealed and cannot be overwritten; register a new version instead.",
            code="sealed",
            path="filename",
            details={"files": sealed},
        )


def receive(version, incoming: Incoming) -> Received:
    """Stream one file to a fresh key, computing both digests, then check it against the announced length and
    the document's declaration. On any failure the object is deleted before the error propagates."""
    storage = artifact_storage()
    key = ArtifactFile.new_key(version, incoming.filename)
    reader = HashingReader(incoming.stream, limit=settings.ARTIFACT_MAX_FILE_BYTES, filename=incoming.filename)
    saved = None
    try:
        saved = storage.save(key, File(reader, name=incoming.filename))
        sha256, blake3_hex = reader.digests()
        if incoming.length is not None and reader.size != incoming.length:
            raise ArtifactMismatch(
                f"{incoming.filename}: the body ended after {reader.size:,} of the {incoming.length:,} bytes announced "
                "(Content-Length); nothing was kept.",
                code="incomplete_body",
                path="filename",
                details={
                    "filename": incoming.filename,
                    "expected": {"size": incoming.length},
                    "actual": {"size": reader.size},
                },
            )
        declared = declared_files(version.spec).get(incoming.filename)
        if declared is not None:
            _check_declared(incoming.filename, declared, reader.size, {"sha256": sha256, "blake3": blake3_hex})
    except BaseException:
        _delete_quietly(storage, saved or key)
        raise
    return Received(incoming.filename, saved, reader.size, sha256, blake3_hex, sealed=declared is not None)


def _check_declared(filename: str, declared: Declared, size: int, digests: dict[str, str]) -> None:
    expected, actual = {}, {}
    if declared.size is not None and declared.size != size:
        expected["size"], actual["size"] = declared.size, size
    if declared.digest and digests.get(declared.algorithm) != declared.digest:
        expected[declared.algorithm] = declared.digest
        actual[declared.algorithm] = digests.get(declared.algorithm)
    if expected:
        said = ", ".join(f"{k} {expected[k]} but received {actual[k]}" for k in expected)
        raise ArtifactMismatch(
            f"{filename}: the document declares {said} (at {declared.pointer}); nothing was kept.",
            code="checksum_mismatch" if set(expected) - {"size"} else "size_mismatch",
            path="filename",
            details={"filename": filename, "declared_at": declared.pointer, "expected": expected, "actual": actual},
        )


def _delete_quietly(storage, key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # the original error matters more; the orphan is logged for an operator
        logger.exception("could not delete the rejected upload %s", key)


def store_files(version, files: Iterable[Incoming], *, user=None) -> list[ArtifactFile]:
    """Store every file or none: each is streamed and checked; if any fails, the objects already written for
    this request are deleted and the error is raised. Rows are written in one transaction under the version's
    row lock, which re-checks archiving and sealing against concurrent requests."""
    storage = artifact_storage()
    received: list[Received] = []
    started = time.perf_counter()
    try:
        for incoming in files:
            ensure_uploadable(version, [incoming.filename])
            received.append(receive(version, incoming))
        if not received:
            raise RegistryError("The request carries no file.", code="no_file", path="filename")
        replaced: list[str] = []
        with transaction.atomic():
            locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
            ensure_uploadable(locked, [r.filename for r in received])
            existing = {a.filename: a for a in locked.artifact_files.all()}
            if len(set(existing) | {r.filename for r in received}) > MAX_FILES_PER_VERSION:
                raise Conflict(f"A version holds at most {MAX_FILES_PER_VERSION} files.", code="too_many_files")
            now = timezone.now()
            stored = []
            for item in received:
                previous = existing.get(item.filename)
                if previous is not None:
                    replaced.append(previous.storage_key)
                    previous.delete()
                stored.append(
                    ArtifactFile.objects.create(
                        version=locked,
                        filename=item.filename,
                        size=item.size,
                        sha256=item.sha256,
                        blake3=item.blake3,
                        storage_key=item.key,
                        storage_tier=storage_tier(),
                        sealed=item.sealed,
                        verified_at=now,
                        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
                    )
                )
                changelog.record(
                    "model.artifact_stored",
                    kind="model",
                    name=locked.model.name,
                    version=locked.version,
                    object_id=locked.pk,
                    changes={
                        "file": item.filename,
                        "size": item.size,
                        "sha256": item.sha256,
                        "blake3": item.blake3,
                        "replaced": previous is not None,
                    },
                )
            refresh_summary(locked.pk)
            transaction.on_commit(lambda: [_delete_quietly(storage, key) for key in replaced])
    except BaseException:
        for item in received:
            _delete_quietly(storage, item.key)
        raise
    ARTIFACT_UPLOADED_BYTES.inc(sum(item.size for item in received))
    ARTIFACT_UPLOAD_SECONDS.observe(time.perf_counter() - started)
    return stored


def seal(version) -> None:
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if locked.artifacts_sealed_at is not None:
            return
        locked.artifacts_sealed_at = timezone.now()
        locked.save(update_fields=["artifacts_sealed_at", "updated_at"])
        locked.artifact_files.update(sealed=True)
        refresh_summary(locked.pk)
        changelog.record(
            "model.artifacts_sealed", kind="model", name=locked.model.name, version=locked.version, object_id=locked.pk
        )
    version.artifacts_sealed_at = locked.artifacts_sealed_at
