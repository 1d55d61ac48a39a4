"""Definition documents read from files (JSON or YAML) for the ``register`` and ``validate`` commands: the same
limits as an API body (size, depth, NUL, finite numbers) and the same validator per kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.apps import apps
from django.conf import settings
from rest_framework import exceptions

from kernel.api.parsers import check_json_value, reject_json_constant
from kernel.models.definitions import Definition
from kernel.rules.check import check_document
from kernel.rules.validation import Issue


class DocumentFileError(Exception):
    """The file cannot be read as one document (or a list of documents); nothing in it was looked at further."""


def definition_models() -> dict[str, type[Definition]]:
    """kind -> definition model, for every installed app that has one."""
    found = {}
    for model in apps.get_models():
        if issubclass(model, Definition):
            found[model.kind] = model
    return found


def detect_kind(document: Any) -> str:
    """A pipeline has ``steps``, a policy ``rules``; anything else is read as a model document."""
    if isinstance(document, dict):
        if "steps" in document:
            return "pipeline"
        if "rules" in document:
            return "policy"
    return "model"


class _NoAliasLoader(yaml.SafeLoader):
    """YAML anchors and aliases can expand a small file into a huge document (billion laughs): refused."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def load(path: Path) -> list[Any]:
    """The documents in ``path``: one document, or a list of them. YAML for .yaml/.yml, JSON otherwise."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise DocumentFileError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise DocumentFileError(f"larger than {limit} bytes (MAX_REQUEST_BYTES)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentFileError(f"not UTF-8 (byte {exc.start})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
        else:
            data = json.loads(text, parse_constant=reject_json_constant)
    except yaml.YAMLError as exc:
        raise DocumentFileError(f"malformed YAML: {exc}".replace("\n", " ")) from None
    except (ValueError, RecursionError) as exc:
        raise DocumentFileError(f"malformed JSON: {exc}") from None
    try:
        check_json_value(data)
    except exceptions.ParseError as exc:
        raise DocumentFileError(str(exc.detail)) from None
    return data if isinstance(data, list) else [data]


@dataclass
class Checked:
    """One document of a file as the API would register it (server-managed fields dropped), checked as the API
    checks it (``kernel.rules.check.check_document``)."""

    label: str
    kind: str
    document: Any
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    source: Any = None  # the document as the file holds it: what ``register`` hands the API's registration


def check_files(paths: list[Path], kind: str | None = None) -> Iterator[Checked]:
    """Each document of each file, checked; an unreadable file is one item with an ``unreadable`` error."""
    for path in paths:
        try:
            yield from check_file(path, kind)
        except DocumentFileError as exc:
            yield Checked(str(path), kind or "", None, [Issue("", "unreadable", str(exc))])


def check_file(path: Path, kind: str | None = None) -> list[Checked]:
    documents = load(path)
    models = definition_models()
    checked = []
    for index, document in enumerate(documents):
        label = f"{path}" if len(documents) == 1 else f"{path}[{index}]"
        document_kind = kind or detect_kind(document)
        # The API's one check: server-managed fields are warnings, the ``definition`` block is checked, so a
        # document saved from a GET validates and registers here as it does over HTTP.
        checked_document, report = check_document(models[document_kind], document)
        checked.append(Checked(label, document_kind, checked_document, report.errors, report.warnings, document))
    return checked
