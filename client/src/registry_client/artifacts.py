"""Streamed artifact upload and download in bounded memory, with digests computed while the bytes pass.

Upload: ``PUT .../artifacts/{filename}`` with the raw file as the body and its ``Content-Length``; the file is
read in ``CHUNK`` pieces, each hashed (SHA-256 always, BLAKE3 when the ``blake3`` package is installed) and sent,
so memory stays at a chunk or two whatever the file's size. The registry stores a file only when the whole body
arrived (a short body is refused and nothing is kept), so an interrupted upload is **restarted** from the first
byte on a new connection, with fresh digests. The answer's size and digests must equal those computed here.
When the upload meets ``409 sealed`` (a declared file seals on its first upload: an attempt whose answer was lost,
or the same job run twice), the stored file's digest is read with HEAD: the same bytes are success, others the
conflict.

Download: ``GET`` into ``<dest>.part``, hashed as it is written; a connection that drops mid-file is **resumed**
with ``Range: bytes=<received>-`` (the registry answers 206), so the bytes already received are kept and hashed
once. The final digests are checked against the registry's (``X-Artifact-Sha256`` / ``X-Artifact-Blake3``)
before ``<dest>.part`` is renamed to ``<dest>``; on a mismatch the partial file is deleted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ._http import Transport
from .errors import DigestMismatch, NotFound, RegistryError, TransportError, error_from_response

try:  # BLAKE3 is optional: SHA-256 is always computed and checked
    import blake3 as _blake3
except ImportError:  # pragma: no cover - depends on the environment
    _blake3 = None

CHUNK = 1024 * 1024
Progress = Callable[[int, int | None], None]  # (bytes done so far, total or None); called with 0 on a restart


class Digests:
    """SHA-256 (and BLAKE3 when available) over the bytes fed to it."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.blake3 = _blake3.blake3() if _blake3 is not None else None
        self.size = 0

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.blake3 is not None:
            self.blake3.update(data)
        self.size += len(data)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "sha256": self.sha256.hexdigest()}
        if self.blake3 is not None:
            out["blake3"] = self.blake3.hexdigest()
        return out


def file_digests(path: str | os.PathLike[str], progress: Progress | None = None) -> dict[str, Any]:
    """Size, SHA-256 (and BLAKE3) of a local file, read in chunks."""
    digests = Digests()
    total = os.path.getsize(path)
    with open(path, "rb") as handle:
        while data := handle.read(CHUNK):
            digests.update(data)
            if progress:
                progress(digests.size, total)
    return digests.as_dict()


def compare(expected: dict[str, Any], actual: dict[str, Any], what: str) -> None:
    """Raise DigestMismatch when a digest or the size both sides know differs."""
    for field in ("size", "sha256", "blake3"):
        if expected.get(field) is not None and actual.get(field) is not None and expected[field] != actual[field]:
            raise DigestMismatch(
                f"{what}: {field} differs (registry {expected[field]}, local {actual[field]})",
                expected=expected,
                actual=actual,
            )


@dataclass
class UploadResult:
    file: dict[str, Any]  # the registry's answer: filename, size, sha256, blake3, sealed, integrity, ...
    local: dict[str, Any]  # size and digests computed while streaming
    attempts: int


def _path(name: str, version: str, filename: str | None = None) -> str:
    base = f"/api/v1/models/{name}/versions/{version}/artifacts"
    return f"{base}/{filename}" if filename else base


def upload(
    transport: Transport,
    name: str,
    version: str,
    source: str | os.PathLike[str],
    *,
    filename: str | None = None,
    progress: Progress | None = None,
    timeout: httpx.Timeout | None = None,
) -> UploadResult:
    source = Path(source)
    filename = filename or source.name
    size = source.stat().st_size
    path = _path(name, version, filename)
    state: dict[str, Any] = {}

    def body() -> Iterator[bytes]:
        state["starts"] = state.get("starts", 0) + 1
        digests = state["digests"] = Digests()
        if progress:
            progress(0, size)
        with open(source, "rb") as handle:
            while data := handle.read(CHUNK):
                digests.update(data)
                if progress:
                    progress(digests.size, size)
                yield data

    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    # The transport's loop retries a dropped connection (PUT is idempotent: an undeclared file is replaced, a
    # short body stores nothing) and 429/503; content_factory streams the file again from its first byte.
    response = transport.request(
        "PUT",
        path,
        headers=headers,
        content_factory=body,
        timeout=timeout or httpx.Timeout(300.0, connect=10.0),
        expect=(409,),
    )
    attempts = state.get("starts", 1)
    local = state["digests"].as_dict()
    if response.status_code == 409:
        conflict = error_from_response(response)
        if "sealed" in conflict.codes:
            # The file is there and sealed: an earlier attempt whose answer was lost, or an earlier run of the same
            # job. The same bytes are success (the stored digest decides); other bytes are the conflict.
            try:
                stored = head(transport, name, version, filename)
            except NotFound:  # the set is sealed and this file is not in it
                raise conflict from None
            whole = file_digests(source)
            if stored.get("sha256") == whole["sha256"] and stored.get("size") == whole["size"]:
                return UploadResult(file={**stored, "sealed": True}, local=whole, attempts=attempts)
        raise conflict
    answer = response.json()
    if local.get("size") != size:
        raise RegistryError(f"{source} changed while it was uploaded ({size} bytes, then {local.get('size')}).")
    compare(answer, local, f"upload of {filename}")
    return UploadResult(file=answer, local=local, attempts=attempts)


def head(transport: Transport, name: str, version: str, filename: str) -> dict[str, Any]:
    """A stored file's size and digests, from HEAD (no bytes)."""
    response = transport.request("HEAD", _path(name, version, filename))
    return {
        "filename": filename,
        "size": int(response.headers.get("Content-Length", "0")),
        "sha256": response.headers.get("X-Artifact-Sha256"),
        "blake3": response.headers.get("X-Artifact-Blake3"),
        "integrity": response.headers.get("X-Artifact-Integrity"),
    }


@dataclass
class DownloadResult:
    path: Path
    expected: dict[str, Any]
    local: dict[str, Any]
    resumed: int  # how many times a dropped connection was resumed with Range


def _expected_from(response: httpx.Response) -> dict[str, Any]:
    # On S3 the digests ride on the registry's redirect, not on the storage's answer.
    for candidate in [response, *reversed(response.history)]:
        sha256 = candidate.headers.get("X-Artifact-Sha256")
        if sha256:
            return {"sha256": sha256, "blake3": candidate.headers.get("X-Artifact-Blake3")}
    return {}


def download(
    transport: Transport,
    name: str,
    version: str,
    filename: str,
    dest: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    attempts: int | None = None,
    timeout: httpx.Timeout | None = None,
) -> DownloadResult:
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".part")
    path = _path(name, version, filename)
    attempts = attempts or transport.retry.attempts
    timeout = timeout or httpx.Timeout(300.0, connect=10.0)
    digests = Digests()
    expected: dict[str, Any] = {}
    total: int | None = None
    resumed = 0
    attempt = 0
    with open(partial, "wb") as out:
        while True:
            attempt += 1
            headers = {"Range": f"bytes={digests.size}-"} if digests.size else {}
            try:
                with transport.stream("GET", path, headers=headers, timeout=timeout) as response:
                    if digests.size and response.status_code != 206:
                        # The range was not honoured: the whole file comes again, so start over.
                        out.seek(0)
                        out.truncate()
                        digests = Digests()
                    expected = _expected_from(response) or expected
                    if total is None:
                        length = response.headers.get("Content-Length")
                        total = int(length) + digests.size if length is not None else None
                    for data in response.iter_raw(CHUNK):
                        out.write(data)
                        digests.update(data)
                        if progress:
                            progress(digests.size, total)
                if total is None or digests.size >= total:
                    break
                raise httpx.RemoteProtocolError("the answer ended before its Content-Length")
            except (httpx.TransportError, TransportError) as exc:
                if attempt >= attempts:
                    partial.unlink(missing_ok=True)
                    raise TransportError(f"GET {path}: {exc} (after {attempt} attempts)") from exc
                resumed += 1
                transport.retries += 1
                transport.sleep(transport.retry.delay(attempt, None) or 0)
    local = digests.as_dict()
    try:
        if total is not None:
            compare({"size": total}, local, f"download of {filename}")
        compare(expected, local, f"download of {filename}")
    except DigestMismatch:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return DownloadResult(path=dest, expected=expected, local=local, resumed=resumed)


__all__ = ["CHUNK", "Digests", "DownloadResult", "UploadResult", "download", "file_digests", "upload"]
