"""The artifact endpoints of a model version: list, streamed upload (raw body or multipart), download with Range
or a presigned redirect, HEAD, and seal.

Uploads never touch ``request.body``, ``request.data`` or the JSON parser: the body is read in chunks from the WSGI
input (raw) or by Django's multipart parser into temporary files on disk (multipart), so neither
``DATA_UPLOAD_MAX_MEMORY_SIZE`` nor the API's JSON size limit applies; ``ARTIFACT_MAX_FILE_BYTES`` does.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api.filtersets import StrictQueryParameters
from kernel.exceptions import DefinitionNotFound, RegistryError
from kernel.metrics import ARTIFACT_SERVED_BYTES
from kernel.reads.lookups import lookup
from models_app.artifacts.storage import download_url, is_s3, open_stored
from models_app.artifacts.upload import (
    CHUNK,
    ArtifactTooLarge,
    BodyInterrupted,
    Incoming,
    LengthRequired,
    ensure_uploadable,
    seal,
    store_files,
)
from models_app.models import ArtifactFile, Model, ModelVersion
from models_app.models.artifact_files import FILE_SCHEMA
from registry_project.private_apis.for_drf import django_request

# One byte range (several ranges in one request are answered with the whole file, as RFC 9110 allows).
RANGE_RE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")

PATH_PARAMS = [
    OpenApiParameter("name", str, OpenApiParameter.PATH),
    OpenApiParameter("version", str, OpenApiParameter.PATH, description="A version number, `latest` or `current`."),
]
FILENAME_PARAM = OpenApiParameter(
    "filename",
    {"type": "string", "pattern": r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,254}\Z"},
    OpenApiParameter.PATH,
    description="A flat file name, e.g. `model.safetensors`: letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'.",
)
LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "sealed": {"type": "boolean"},
        "files": {"type": "array", "items": FILE_SCHEMA},
    },
}
BINARY = {"type": "string", "format": "binary"}
# A multipart file part: any bytes. The part's name is free (`file` here); a part is a file when its
# Content-Disposition carries a file name, and for PUT .../artifacts that file name names the stored file. Parts
# without a file name are plain form fields, which are ignored.
FILE_PART = {
    "format": "binary",
    "description": "The file's bytes, in a part whose Content-Disposition carries a file name.",
}
IGNORED_FIELDS = {"type": "string", "description": "Plain form fields (parts without a file name) are ignored."}
MULTIPART_BODY = {
    "multipart/form-data": {
        "type": "object",
        "required": ["file"],
        "properties": {"file": FILE_PART},
        "additionalProperties": IGNORED_FIELDS,
        "description": "One or more file parts; each part's file name (letters, digits, '.', '_', '-') names the stored file.",
    }
}
# One file: the raw body, or one multipart part. Several files (PUT .../artifacts): multipart only.
UPLOAD_BODY = {
    "application/octet-stream": BINARY,
    "multipart/form-data": {
        "type": "object",
        "required": ["file"],
        "properties": {"file": FILE_PART},
        "additionalProperties": IGNORED_FIELDS,
        "description": "Exactly one file part (its file name is ignored: the URL names the file).",
    },
}


class BoundedUploadHandler(TemporaryFileUploadHandler):
    """Multipart files go to temporary files on disk (never memory), and stop at the per-file size limit."""

    def receive_data_chunk(self, raw_data: bytes, start: int):
        limit = settings.ARTIFACT_MAX_FILE_BYTES
        if start + len(raw_data) > limit:
            raise ArtifactTooLarge(
                f"{self.file_name} is larger than the {limit:,}-byte limit per file (ARTIFACT_MAX_FILE_BYTES).",
                path="filename",
            )
        return super().receive_data_chunk(raw_data, start)


class VersionArtifactsView(StrictQueryParameters, APIView):
    action = "artifacts"  # named for the permission and schema hooks, which expect a viewset's action
    # The body is streamed by these views, never parsed: neither StrictJSONParser nor its size limit applies.
    parser_classes: list = []
    # Uploading, replacing and sealing files change the model version (RegistryAccess; reads need a key only).
    permission_verbs = {"artifacts": "change"}

    def permission_model(self, verb: str):
        return ModelVersion

    def get_version(self) -> ModelVersion:
        return lookup(Model, self.kwargs["name"], self.kwargs["version"])

    def incoming(self, request, filename: str | None) -> list[Incoming]:
        """The files this request carries: multipart parts, or the raw body named by the URL."""
        if request.content_type.startswith("multipart/form-data"):
            return self._multipart(request, filename)
        if filename is None:
            raise RegistryError(
                "Upload several files as multipart/form-data, or one file as the raw body of PUT .../artifacts/{filename}.",
                code="multipart_required",
                path="Content-Type",
            )
        raw = request.META.get("CONTENT_LENGTH")
        if not raw:
            raise LengthRequired("A raw upload needs a Content-Length header.", path="Content-Length")
        try:
            length = int(raw)
        except ValueError:
            raise RegistryError(
                f"Content-Length {raw!r} is not a number.", code="invalid", path="Content-Length"
            ) from None
        if length < 0:
            raise RegistryError("Content-Length must not be negative.", code="invalid", path="Content-Length")
        if length > settings.ARTIFACT_MAX_FILE_BYTES:
            raise ArtifactTooLarge(
                f"{filename} ({length:,} bytes) is larger than the {settings.ARTIFACT_MAX_FILE_BYTES:,}-byte limit per file "
                "(ARTIFACT_MAX_FILE_BYTES).",
                path="Content-Length",
            )
        return [Incoming(filename, django_request(request), length)]

    def _multipart(self, request, filename: str | None) -> list[Incoming]:
        http_request = django_request(request)
        try:
            handlers = [BoundedUploadHandler(http_request)]
            parser = MultiPartParser(request.META, http_request, handlers, http_request.encoding)
            _, files = parser.parse()
        except RequestDataTooBig as exc:
            raise ArtifactTooLarge(str(exc), path=None) from None
        except OSError:  # the body stalled past the idle deadline or the connection dropped (UnreadablePostError)
            raise BodyInterrupted.after(filename or "the multipart body") from None
        except (MultiPartParserError, SuspiciousOperation, ValueError) as exc:
            raise RegistryError(f"Malformed multipart body: {exc}", code="malformed_multipart", path=None) from None
        uploads = [f for field in files for f in files.getlist(field)]
        if filename is not None:
            if len(uploads) != 1:
                raise RegistryError(
                    f"PUT .../artifacts/{filename} takes exactly one file; got {len(uploads)}.",
                    code="one_file",
                    path="filename",
                )
            return [Incoming(filename, uploads[0], uploads[0].size)]
        names = [u.name for u in uploads]
        if len(set(names)) != len(names):
            raise RegistryError("Two parts carry the same file name.", code="duplicate_filename", path="filename")
        return [Incoming(u.name, u, u.size) for u in uploads]

    def upload(self, request, filename: str | None) -> Response:
        version = self.get_version()
        if filename is not None:
            ensure_uploadable(version, [filename])  # refuse before reading any byte
        files = self.incoming(request, filename)
        try:
            stored = store_files(version, files, user=request.user)
        finally:
            for f in files:
                if f.stream is not django_request(request):
                    f.stream.close()
        body = stored[0].as_dict() if filename is not None else {"files": [f.as_dict() for f in stored]}
        return Response(body, status=201)


class ArtifactListView(VersionArtifactsView):
    @extend_schema(parameters=PATH_PARAMS, responses={200: LIST_SCHEMA}, operation_id="model_artifacts_list")
    def get(self, request, name: str, version: str):
        """The version's stored files with size, SHA-256, BLAKE3, storage tier, seal and integrity status."""
        found = self.get_version()
        return Response(
            {
                "name": found.model.name,
                "version": found.version,
                "sealed": found.artifacts_sealed_at is not None,
                "files": [f.as_dict() for f in found.artifact_files.all()],
            }
        )

    @extend_schema(
        parameters=PATH_PARAMS,
        request=MULTIPART_BODY,
        responses={201: {"type": "object", "properties": {"files": {"type": "array", "items": FILE_SCHEMA}}}},
        operation_id="model_artifacts_upload",
    )
    def put(self, request, name: str, version: str):
        """Upload several files as multipart/form-data (each part's file name names the file): all are stored, or
        none."""
        return self.upload(request, None)


class ArtifactFileView(VersionArtifactsView):
    def get_file(self) -> ArtifactFile:
        version = self.get_version()
        artifact = version.artifact_files.filter(filename=self.kwargs["filename"]).first()
        if artifact is None:
            raise DefinitionNotFound(f"{version} has no stored file {self.kwargs['filename']!r}.", path="filename")
        artifact.version = version
        return artifact

    @extend_schema(
        parameters=[*PATH_PARAMS, FILENAME_PARAM],
        request=UPLOAD_BODY,
        responses={201: FILE_SCHEMA},
        operation_id="model_artifact_upload",
    )
    def put(self, request, name: str, version: str, filename: str):
        """Stream one file (the raw body with Content-Length, or one multipart part). SHA-256 and BLAKE3 are
        computed while it streams; a size or digest the document declares must match, or nothing is kept (400)."""
        return self.upload(request, filename)

    @extend_schema(
        parameters=[
            *PATH_PARAMS,
            FILENAME_PARAM,
            OpenApiParameter(
                "Range",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="One byte range, e.g. `bytes=0-1023`.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="A presigned URL (S3 storage)."),
            416: OpenApiResponse(description="The range lies outside the file."),
        },
        operation_id="model_artifact_download",
    )
    def get(self, request, name: str, version: str, filename: str):
        """The file's bytes (Range supported), or on S3 a redirect to a short-lived presigned URL."""
        artifact = self.get_file()
        try:  # a key the storage refuses (models_app.artifacts.storage) is a FileNotFoundError too
            if is_s3():
                return with_digests(HttpResponseRedirect(download_url(artifact)), artifact)
            stream = open_stored(artifact)
        except FileNotFoundError:
            raise DefinitionNotFound(
                f"{artifact} is missing from storage; an operator has been told by the integrity check.",
                code="missing_from_storage",
                path="filename",
            ) from None
        span = byte_range(request.headers.get("Range"), artifact.size)
        if span == "unsatisfiable":
            stream.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{artifact.size}"
            return with_digests(response, artifact)
        start, end = span or (0, artifact.size - 1)
        response = StreamingHttpResponse(
            read_span(stream, start, end), status=206 if span else 200, content_type="application/octet-stream"
        )
        response["Content-Length"] = str(max(end - start + 1, 0))
        if span:
            response["Content-Range"] = f"bytes {start}-{end}/{artifact.size}"
        return with_digests(response, artifact)

    @extend_schema(parameters=[*PATH_PARAMS, FILENAME_PARAM], responses={200: None}, operation_id="model_artifact_head")
    def head(self, request, name: str, version: str, filename: str):
        """Size and digests, without the bytes."""
        artifact = self.get_file()
        response = HttpResponse(content_type="application/octet-stream")
        response["Content-Length"] = str(artifact.size)
        return with_digests(response, artifact)


class SealView(VersionArtifactsView):
    @extend_schema(
        parameters=PATH_PARAMS, request=None, responses={200: LIST_SCHEMA}, operation_id="model_artifacts_seal"
    )
    def post(self, request, name: str, version: str):
        """Seal the version's artifact set: no file may be added or replaced afterwards (409)."""
        found = self.get_version()
        seal(found)
        return Response(
            {
                "name": found.model.name,
                "version": found.version,
                "sealed": True,
                "files": [f.as_dict() for f in found.artifact_files.all()],
            }
        )


def with_digests(response: HttpResponse, artifact: ArtifactFile) -> HttpResponse:
    response["ETag"] = f'"{artifact.sha256}"'
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(artifact.sha256)).decode()}:"
    response["X-Artifact-Sha256"] = artifact.sha256
    response["X-Artifact-Blake3"] = artifact.blake3
    response["X-Artifact-Integrity"] = artifact.integrity
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{artifact.filename}"'
    return response


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single ``Range: bytes=...``; None to send the whole file (no header, or one we
    ignore as RFC 9110 allows); ``"unsatisfiable"`` for a range outside the file (416)."""
    match = RANGE_RE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None
        if start >= size:
            return "unsatisfiable"
        return start, min(end, size - 1)
    if not last:
        return None
    suffix = int(last)
    if suffix == 0 or size == 0:
        return "unsatisfiable"
    return max(size - suffix, 0), size - 1


def read_span(stream, start: int, end: int) -> Iterator[bytes]:
    try:
        stream.seek(start)
        left = end - start + 1
        while left > 0:
            data = stream.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            ARTIFACT_SERVED_BYTES.inc(len(data))
            yield data
    finally:
        stream.close()
