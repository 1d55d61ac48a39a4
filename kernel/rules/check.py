"""The one check of a registrable document, shared by registration, updates, the ``validate`` endpoint, the
admin and the commands, so they always agree."""

from __future__ import annotations

from typing import Any

from kernel.documents.shape import DEFINITION_KEY, check_definition_block, ignore_read_only
from kernel.rules.validation import Report


def check_document(definition_model, document: Any) -> tuple[Any, Report]:
    """(the registrable document, its validation report). Server-managed fields are dropped with a warning, the
    nested ``definition`` block is checked here (it is the same for every kind), the rest by the kind's validator."""
    document, ignored = ignore_read_only(document)
    has_block = isinstance(document, dict) and DEFINITION_KEY in document
    block = document.pop(DEFINITION_KEY) if has_block else None
    report = definition_model.validator.check(document)
    report.warnings[:0] = ignored
    if has_block:
        report.errors.extend(check_definition_block(block))
        document[DEFINITION_KEY] = block
    return document, report
