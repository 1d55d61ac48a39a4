"""The one check of a registrable document, shared by registration, updates, the ``validate`` endpoint, the
admin and the commands, so they always agree."""

from __future__ import annotations

from typing import Any

from kernel.documents.shape import DEFINITION_KEY, LABELS_KEY, check_definition_block, check_labels, ignore_read_only
from kernel.rules.validation import Report


def check_document(definition_model, document: Any) -> tuple[Any, Report]:
    """(the registrable document, its validation report). Server-managed fields are dropped with a warning, the
    nested ``definition`` block and the ``labels`` are checked here (the same for every kind), the rest by the
    kind's validator."""
    document, ignored = ignore_read_only(document)
    # The parts every kind shares, checked here once: the ``definition`` block and the labels.
    shared = {
        key: document.pop(key) for key in (DEFINITION_KEY, LABELS_KEY) if isinstance(document, dict) and key in document
    }
    report = definition_model.validator.check(document)
    report.warnings[:0] = ignored
    if DEFINITION_KEY in shared:
        report.errors.extend(check_definition_block(shared[DEFINITION_KEY]))
    if LABELS_KEY in shared:
        report.errors.extend(check_labels(shared[LABELS_KEY]))
    if isinstance(document, dict):
        document.update(shared)
    return document, report
