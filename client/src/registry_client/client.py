"""The typed client for every ``/api/v1`` operation.

    from registry_client import RegistryClient

    with RegistryClient("http://127.0.0.1:8000", api_key="...") as registry:
        registry.models.register(document)
        for model in registry.models.iter(family="llama"):
            print(model["name"], model["version"])
        registry.models.activate("llama2-7b-chat", "1.1.0")
        registry.models.upload("llama2-7b-chat", "1.1.0", "model.safetensors")

Documents are plain dicts (the registry's flat JSON documents); each method returns the registry's answer.
Errors are the exceptions of ``registry_client.errors``; lists are pages or iterators that follow ``next``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from . import artifacts as _artifacts
from . import attestations as _attestations
from ._http import RetryPolicy, Transport, json_or_none
from .diff import diff_documents
from .errors import NotFound
from .version import __version__

Document = dict[str, Any]
# For annotations inside classes that have a `list` method (a type checker would read `list` as the method).
Documents = list[Document]
MOVES = ("activate", "deprecate", "archive", "deactivate")


def _q(segment: str) -> str:
    return quote(str(segment), safe="@")


@dataclass
class Page:
    """One page of a list: ``results`` and what the registry says about the rest."""

    results: list[Document]
    count: int | None
    count_is_exact: bool | None
    next: str | None

    @classmethod
    def from_answer(cls, body: Any) -> Page:
        if isinstance(body, list):
            return cls(results=body, count=len(body), count_is_exact=True, next=None)
        return cls(
            results=body.get("results", []),
            count=body.get("count"),
            count_is_exact=body.get("count_is_exact"),
            next=body.get("next"),
        )


class _Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def _get(self, path: str, **params: Any) -> Any:
        return json_or_none(self._t.request("GET", path, params=params))

    def _send(self, method: str, path: str, body: Any = None, *, idempotent: bool = False, **kwargs: Any) -> Any:
        return json_or_none(self._t.request(method, path, json=body, idempotent_write=idempotent, **kwargs))

    def _iter(self, path: str, params: dict[str, Any] | None = None, *, page_size: int | None = None) -> Iterator[Any]:
        """Every item of a paginated list, following ``next`` (limit/offset pages and change-log cursors)."""
        params = dict(params or {})
        if page_size is not None:
            params["limit"] = page_size
        url: str | None = path
        while url:
            body = json_or_none(self._t.request("GET", url, params=params))
            page = Page.from_answer(body)
            yield from page.results
            url = self._t.relative(page.next) if page.next else None
            params = {}  # the next link carries every parameter


class Definitions(_Resource):
    """Models, pipelines or policies: the verbs every kind of versioned definition shares."""

    def __init__(self, transport: Transport, kind: str) -> None:
        super().__init__(transport)
        self.kind = kind
        self.base = f"/api/v1/{kind}"

    def _name(self, name: str) -> str:
        return f"{self.base}/{_q(name)}"

    def _version(self, name: str, version: str) -> str:
        return f"{self._name(name)}/versions/{_q(version)}"

    # Reading
    def list(self, *, limit: int | None = None, offset: int | None = None, **filters: Any) -> Page:
        """One page of the latest version of each definition (filters as the endpoint takes them)."""
        return Page.from_answer(self._get(self.base, limit=limit, offset=offset, **filters))

    def iter(self, *, page_size: int = 100, **filters: Any) -> Iterator[Document]:
        """Every definition matching ``filters``, page after page."""
        return self._iter(self.base, filters, page_size=page_size)

    def search(self, text: str, **filters: Any) -> Iterator[Document]:
        return self.iter(search=text, **filters)

    def get(self, name: str, version: str | None = None) -> Document:
        """The latest version's document, or ``version`` (a number, ``latest``, ``current`` or ``@alias``)."""
        if version is None:
            return self._get(self._name(name))
        return self._get(self._version(name, version))

    def get_by_id(self, version_id: str) -> Document:
        return self._get(f"{self.base}/id/{_q(version_id)}")

    def exists(self, name: str, version: str | None = None) -> bool:
        path = self._version(name, version) if version else self._name(name)
        return self._t.request("GET", path, expect=(404,)).status_code != 404

    def versions(self, name: str, *, page_size: int = 100, **filters: Any) -> Iterator[Document]:
        """Every version, newest first."""
        return self._iter(f"{self._name(name)}/versions", filters, page_size=page_size)

    def history(self, name: str, **filters: Any) -> Iterator[Document]:
        """The definition's change-log entries."""
        return self._iter(f"{self._name(name)}/history", filters)

    def diff(self, name: str, from_version: str | None, to_version: str) -> dict[str, Any]:
        """The registry's comparison of two versions (``GET .../diff``): ``from`` and ``to`` (which version each
        is), the ``changed``, ``added`` and ``removed`` fields by JSON Pointer with their values, and for models
        the metric deltas (``metrics``) and where the two sit in ``lineage``. ``from_version=None`` compares a
        model version with the version it derives from. A registry without the endpoint (older than the
        comparison) gets the same entries computed here from the two documents, without metrics or lineage."""
        try:
            return self._get(f"{self._name(name)}/diff", **{"from": from_version, "to": to_version})
        except NotFound as exc:
            if from_version is None or not any(e.message.startswith("No such endpoint") for e in exc.errors):
                raise
        before, after = self.get(name, from_version), self.get(name, to_version)
        side = ("id", "name", "version", "status", "is_current", "aliases", "created_at")
        return {
            "kind": self.kind.rstrip("s").replace("policie", "policy"),
            "name": name,
            "from": {key: before.get(key) for key in side},
            "to": {key: after.get(key) for key in side},
            **diff_documents(before, after),
            "truncated": False,
        }

    # Writing
    def validate(self, document: Document) -> Document:
        """``{"valid", "errors", "warnings"}`` without saving (a read-only key may call it)."""
        return self._send("POST", f"{self.base}/validate", document)

    def register(self, document: Document, *, idempotency_key: str | None = None) -> Document:
        """Register a version (the definition on its first). A retry of the same spec answers the stored version
        with an ``already_registered`` warning; another spec under the number raises Conflict."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._send("POST", self.base, document, idempotent=True, headers=headers)

    def register_version(self, name: str, document: Document) -> Document:
        return self._send("POST", f"{self._name(name)}/versions", document, idempotent=True)

    def update(self, name: str, fields: Document, *, version: str | None = None) -> Document:
        """Change mutable fields (PATCH: fields left out stay as they are)."""
        return self._send("PATCH", self._name(name), fields, params={"version": version})

    def delete(self, name: str) -> None:
        self._send("DELETE", self._name(name))

    def delete_version(self, name: str, version: str) -> None:
        self._send("DELETE", self._version(name, version))

    def restore(self, name: str) -> Document:
        return self._send("POST", f"{self._name(name)}/restore")

    # Lifecycle
    def move(self, name: str, version: str, move: str) -> Document:
        if move not in MOVES:
            raise ValueError(f"move must be one of {', '.join(MOVES)}; got {move!r}")
        return self._send("POST", f"{self._version(name, version)}/{move}", idempotent=True)

    def activate(self, name: str, version: str) -> Document:
        return self.move(name, version, "activate")

    def deprecate(self, name: str, version: str) -> Document:
        return self.move(name, version, "deprecate")

    def archive(self, name: str, version: str) -> Document:
        return self.move(name, version, "archive")

    # Aliases
    def aliases(self, name: str) -> Documents:
        return Page.from_answer(self._get(f"{self._name(name)}/aliases")).results

    def get_alias(self, name: str, alias: str, *, at: str | None = None) -> Document:
        """The alias document; ``etag`` is added from the answer's ETag, for ``set_alias(if_match=...)``."""
        response = self._t.request("GET", f"{self._name(name)}/aliases/{_q(alias)}", params={"at": at})
        body = response.json()
        if response.headers.get("ETag"):
            body.setdefault("etag", response.headers["ETag"])
        return body

    def set_alias(self, name: str, alias: str, version: str, *, if_match: str | None = None) -> Document:
        """Point ``alias`` at ``version``. With ``if_match`` (the version it points at now, or a GET's ETag) the
        move happens only if nobody moved it first; otherwise PreconditionFailed (412)."""
        headers = {"If-Match": _etag(if_match)} if if_match else None
        response = self._t.request(
            "PUT",
            f"{self._name(name)}/aliases/{_q(alias)}",
            json={"version": version},
            headers=headers,
            idempotent_write=True,
        )
        body = response.json()
        if response.headers.get("ETag"):
            body.setdefault("etag", response.headers["ETag"])
        return body

    def delete_alias(self, name: str, alias: str, *, if_match: str | None = None) -> None:
        headers = {"If-Match": _etag(if_match)} if if_match else None
        self._send("DELETE", f"{self._name(name)}/aliases/{_q(alias)}", headers=headers)

    def alias_history(self, name: str, alias: str) -> Iterator[Document]:
        return self._iter(f"{self._name(name)}/aliases/{_q(alias)}/history")

    def rollback_alias(self, name: str, alias: str) -> Document:
        return self._send("POST", f"{self._name(name)}/aliases/{_q(alias)}/rollback", idempotent=True)


def _etag(value: str) -> str:
    """``1.0.0`` -> ``"1.0.0"``; a value already quoted (or weak) is sent as given."""
    return value if value.startswith(('"', "W/")) else f'"{value}"'


class Models(Definitions):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport, "models")

    def lineage(self, name: str, version: str | None = None, *, direction: str | None = None) -> Document:
        """The chain from the baseline to ``version`` (or ``direction="descendants"``); without a version, the
        model's whole lineage where the server has that endpoint."""
        if version is None:
            return self._get(f"{self._name(name)}/lineage")
        return self._get(f"{self._version(name, version)}/lineage", direction=direction)

    def attestation(self, name: str, version: str) -> Document:
        """``{"key_id", "issued_at", "envelope"}``: the signed DSSE envelope (404 ``no_attestation`` if none)."""
        return self._get(f"{self._version(name, version)}/attestation")

    def bindings(self, name: str, version: str, **filters: Any) -> Iterator[Document]:
        return self._iter(f"{self._version(name, version)}/bindings", filters)

    # Artifacts
    def artifacts(self, name: str, version: str) -> Document:
        """``{"name", "version", "sealed", "files": [{filename, size, sha256, blake3, ...}]}``."""
        return self._get(f"{self._version(name, version)}/artifacts")

    def artifact_info(self, name: str, version: str, filename: str) -> Document:
        """Size and digests of one stored file (HEAD: no bytes)."""
        return _artifacts.head(self._t, name, version, filename)

    def upload(
        self,
        name: str,
        version: str,
        path: str | os.PathLike[str],
        *,
        filename: str | None = None,
        progress: _artifacts.Progress | None = None,
    ) -> _artifacts.UploadResult:
        """Stream a file up (bounded memory); digests computed on the way are checked against the answer's.
        A dropped connection restarts the upload from the first byte."""
        return _artifacts.upload(self._t, name, version, path, filename=filename, progress=progress)

    def download(
        self,
        name: str,
        version: str,
        filename: str,
        dest: str | os.PathLike[str],
        *,
        progress: _artifacts.Progress | None = None,
    ) -> _artifacts.DownloadResult:
        """Stream a file down to ``dest`` (resumed with Range after a dropped connection), its digests checked."""
        return _artifacts.download(self._t, name, version, filename, dest, progress=progress)

    def seal(self, name: str, version: str) -> Document:
        return self._send("POST", f"{self._version(name, version)}/seal")


class Pipelines(Definitions):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport, "pipelines")

    def execution_order(self, name: str, version: str | None = None) -> Document:
        return self._get(f"{self._name(name)}/execution-order", version=version)


class Policies(Definitions):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport, "policies")

    def evaluate(self, entity: str, resource: str, action: str, roles: list[str] | None = None) -> Document:
        body: Document = {"entity": entity, "resource": resource, "action": action}
        if roles:
            body["roles"] = roles
        return self._send("POST", f"{self.base}/evaluate", body)


class Bindings(_Resource):
    base = "/api/v1/bindings"

    def list(self, *, limit: int | None = None, offset: int | None = None, **filters: Any) -> Page:
        return Page.from_answer(self._get(self.base, limit=limit, offset=offset, **filters))

    def iter(self, *, page_size: int = 100, **filters: Any) -> Iterator[Document]:
        return self._iter(self.base, filters, page_size=page_size)

    def get(self, binding_id: int, *, at: str | None = None) -> Document:
        return self._get(f"{self.base}/{binding_id}", at=at)

    def create(self, binding: Document) -> Document:
        return self._send("POST", self.base, binding)

    def update(self, binding_id: int, fields: Document) -> Document:
        return self._send("PATCH", f"{self.base}/{binding_id}", fields)

    def delete(self, binding_id: int) -> None:
        self._send("DELETE", f"{self.base}/{binding_id}")

    def enable(self, binding_id: int) -> Document:
        return self._send("POST", f"{self.base}/{binding_id}/enable", idempotent=True)

    def disable(self, binding_id: int) -> Document:
        return self._send("POST", f"{self.base}/{binding_id}/disable", idempotent=True)

    def report(
        self, binding_id: int, outcomes: Document | Documents, *, idempotency_key: str | None = None
    ) -> Document:
        """One outcome or a batch (<= 1,000). Retried with one Idempotency-Key, so a batch counts once."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._send("POST", f"{self.base}/{binding_id}/report", outcomes, idempotent=True, headers=headers)


class Webhooks(_Resource):
    base = "/api/v1/webhooks"

    def iter(self) -> Iterator[Document]:
        return self._iter(self.base)

    def create(self, url: str, events: list[str], **fields: Any) -> Document:
        """Subscribe (staff); the answer shows the signing secret once."""
        return self._send("POST", self.base, {"url": url, "events": events, **fields})

    def get(self, webhook_id: int) -> Document:
        return self._get(f"{self.base}/{webhook_id}")

    def update(self, webhook_id: int, fields: Document) -> Document:
        return self._send("PATCH", f"{self.base}/{webhook_id}", fields)

    def delete(self, webhook_id: int) -> None:
        self._send("DELETE", f"{self.base}/{webhook_id}")

    def test(self, webhook_id: int) -> Document:
        return self._send("POST", f"{self.base}/{webhook_id}/test")

    def deliveries(self, webhook_id: int) -> Documents:
        return Page.from_answer(self._get(f"{self.base}/{webhook_id}/deliveries")).results

    def redeliver(self, webhook_id: int, delivery_id: str) -> Document:
        return self._send("POST", f"{self.base}/{webhook_id}/deliveries/{_q(delivery_id)}/redeliver")

    def rotate_secret(self, webhook_id: int) -> Document:
        return self._send("POST", f"{self.base}/{webhook_id}/rotate-secret")


class Attestations(_Resource):
    def keys(self) -> Document:
        """``{"keys": [{"keyid", "algorithm", "public_key", "active"}]}``: save it to verify offline later."""
        return self._get("/api/v1/attestations/keys")

    def verify_remote(self, envelope: Document) -> Document:
        """Ask the registry to verify an envelope (``{"valid", "reason", "keyid", "statement"}``)."""
        return self._send("POST", "/api/v1/attestations/verify", _attestations.envelope_of(envelope))

    def verify(
        self, document: Document, *, keys: Any = None, artifact_sha256: str | None = None
    ) -> _attestations.Verification:
        """Verify here, with ``keys`` (the keys document, PEM text) or else the registry's keys fetched now."""
        loaded = _attestations.load_keys(keys if keys is not None else self.keys())
        return _attestations.verify_envelope(document, loaded, artifact_sha256=artifact_sha256)


class RegistryClient:
    """A client for one registry. ``base_url`` is the server (``http://host:8000``), ``api_key`` an API key;
    ``timeout`` (seconds) bounds each request, ``retry`` says how 429/503 and dropped connections are retried."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.transport = Transport(
            base_url,
            api_key,
            timeout=timeout,
            retry=retry,
            user_agent=f"registry-client/{__version__}",
            transport=transport,
        )
        t = self.transport
        self.models = Models(t)
        self.pipelines = Pipelines(t)
        self.policies = Policies(t)
        self.bindings = Bindings(t)
        self.webhooks = Webhooks(t)
        self.attestations = Attestations(t)
        self._ops = _Resource(t)

    def kind(self, kind: str) -> Definitions:
        """``models``, ``pipelines`` or ``policies`` (singular accepted)."""
        resources = {"model": self.models, "pipeline": self.pipelines, "policy": self.policies}
        singular = {"models": "model", "pipelines": "pipeline", "policies": "policy"}.get(kind, kind)
        if singular not in resources:
            raise ValueError(f"kind must be models, pipelines or policies; got {kind!r}")
        return resources[singular]

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Across kinds
    def versions(self, *, page_size: int = 100, **filters: Any) -> Iterator[Document]:
        """Model versions across models (filters region, min_eval_score, max_cost, capability, status, is_current)."""
        return self._ops._iter("/api/v1/versions", filters, page_size=page_size)

    def route(self, model: str, **params: Any) -> Document:
        """Ranked bindings for a model (version=, alias=, region=, environment=, capability=, sort=, max_cost=)."""
        return self._ops._get("/api/v1/route", model=model, **params)

    def changes(self, *, after_id: int | None = None, follow: bool = True, **filters: Any) -> Iterator[Document]:
        """Change-log entries oldest first from ``after_id``, following the cursor while more are waiting."""
        params = {"after_id": after_id, **filters}
        if not follow:
            return iter(self._ops._get("/api/v1/changes", **params)["results"])
        return self._ops._iter("/api/v1/changes", params)

    def stats(self, *, refresh: bool = False) -> Document:
        return self._ops._get("/api/v1/stats", refresh="true" if refresh else None)

    def retention_stats(self) -> Document:
        return self._ops._get("/api/v1/retention/stats")

    def apply_retention(self, *, model: str | None = None, keep: int | None = None, dry_run: bool = False) -> Document:
        """Archive old versions by each model's retention setting (staff); ``dry_run`` reports and changes nothing."""
        body = {k: v for k, v in {"model": model, "keep": keep, "dry_run": dry_run}.items() if v is not None}
        return self._ops._send("POST", "/api/v1/retention/apply", body)

    def contributor_impact(self, address: str, **params: Any) -> Document:
        return self._ops._get(f"/api/v1/contributors/{_q(address)}/impact", **params)

    def health(self) -> Document:
        return json_or_none(self.transport.request("GET", "/health", expect=(503,)))
