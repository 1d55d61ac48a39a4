"""The client package (client/src, imported from the tree: `make test` needs no install step) against a real
gunicorn on the PostgreSQL test database, loopback only. One server per module; each test gets its own user and
API key (the database is flushed after every test)."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SRC = ROOT / "client" / "src"
if str(CLIENT_SRC) not in sys.path:
    sys.path.insert(0, str(CLIENT_SRC))

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402

from kernel.models import ApiKey  # noqa: E402
from tests.servers import gunicorn  # noqa: E402


def write_signing_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)


@pytest.fixture(scope="module")
def registry_url(django_db_setup, tmp_path_factory) -> str:
    """A gunicorn (the shipped gunicorn.conf.py, threaded worker) on the test database, with artifact storage in a
    temporary folder, an attestation signing key, and webhooks allowed to reach 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("registry-client-server")
    signing_key = tmp / "attestation.pem"
    write_signing_key(signing_key)
    env = {
        "ARTIFACT_ROOT": str(tmp / "artifacts"),
        "ATTESTATION_SIGNING_KEY_FILE": str(signing_key),
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    with gunicorn(workers=1, env=env, options=("--threads", "4")) as base:
        yield base


@pytest.fixture
def staff(db):
    """A staff user with every registry permission (webhooks need staff)."""
    user = get_user_model().objects.create_user(username="ci-bot", password="unused-password-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.exclude(content_type__app_label__in=("auth", "admin", "contenttypes", "sessions"))
    )
    return user


@pytest.fixture
def api_key(staff) -> str:
    return ApiKey.objects.issue(staff)[1]


@pytest.fixture
def registry(registry_url, api_key):
    from registry_client import RegistryClient, RetryPolicy

    with RegistryClient(registry_url, api_key, timeout=20, retry=RetryPolicy(attempts=4, backoff=0.05)) as client:
        yield client


def model_document(name: str = "client-test-model", version: str = "1.0.0", **fields) -> dict:
    doc = {
        "name": name,
        "version": version,
        "family": "llama",
        "description": "registered by the client's tests",
        "artifact": {"bucket": "models", "path": f"{name}/{version}", "format": "safetensors"},
        "runtime": {"type": "vllm", "dtype": "float16"},
        "capabilities": ["chat"],
        "tags": ["client"],
    }
    doc.update(fields)
    return doc


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of the registry that drops connections on purpose: the first
    ``cut_upload`` connections whose client has sent more than ``upload_after`` bytes, and the first
    ``cut_download`` ones whose server has sent more than ``download_after`` bytes, are closed mid-stream; with
    ``flip_after``, one byte the server sends past that offset is altered."""

    def __init__(
        self,
        upstream: str,
        *,
        upload_after: int | None = None,
        cut_upload: int = 1,
        download_after: int | None = None,
        cut_download: int = 1,
        flip_after: int | None = None,
    ) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.upload_after, self.uploads_left = upload_after, cut_upload
        self.download_after, self.downloads_left = download_after, cut_download
        self.flip_after = flip_after  # alter one byte the server sends, once, past this many bytes
        self.cuts = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection(self.upstream, timeout=30)
            pair = {"open": True}
            threading.Thread(target=self._pipe, args=(client, server, "upload", pair), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "download", pair), daemon=True).start()

    def _should_cut(self, direction: str, sent: int) -> bool:
        with self.lock:
            after = self.upload_after if direction == "upload" else self.download_after
            left = self.uploads_left if direction == "upload" else self.downloads_left
            if after is None or left <= 0 or sent <= after:
                return False
            if direction == "upload":
                self.uploads_left -= 1
            else:
                self.downloads_left -= 1
            self.cuts += 1
            return True

    def _pipe(self, src: socket.socket, dst: socket.socket, direction: str, pair: dict) -> None:
        sent = 0
        try:
            while pair["open"]:
                data = src.recv(65536)
                if not data:
                    break
                sent += len(data)
                if self._should_cut(direction, sent):
                    break
                if direction == "download" and self.flip_after is not None and sent > self.flip_after:
                    self.flip_after = None
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                dst.sendall(data)
        except OSError:
            pass
        finally:
            pair["open"] = False
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self.closing = True
        self.listener.close()
