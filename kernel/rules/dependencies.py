"""Cross-app integrity without cross-app imports.

An app whose definitions depend on another app's (a pipeline step naming a model) registers a *guard* for the
depended-on model class from its ``AppConfig.ready``. Before archiving a version or deleting a definition, the
owning app asks ``ensure_unused(obj, action)``; it never imports the dependent app.

Set-based jobs (retention over the whole registry) cannot ask once per row. A guard may therefore also offer a
set form, ``protected_ids(queryset) -> ids``: the primary keys, among ``queryset``, of the rows it protects,
answered in one or a few queries (a set, or a ``values_list("pk", flat=True)`` queryset). ``protected_ids`` below
asks every guard for a queryset at once; a guard registered without a set form still works there, asked row by
row (correct, only slow), so adding a guard never needs the set form first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import models

from kernel.exceptions import Conflict

# A guard gets the object about to be archived or deleted and returns human-readable names of what depends on it.
Guard = Callable[[models.Model], list[str]]

# The set form: given a queryset of rows about to be archived or deleted, the primary keys of those it protects.
SetGuard = Callable[[models.QuerySet], Iterable[Any]]

logger = logging.getLogger(__name__)

_guards: dict[str, list[Guard]] = defaultdict(list)
_set_forms: dict[Guard, SetGuard] = {}


def register_guard(model_label: str, guard: Guard, *, protected_ids: SetGuard | None = None) -> None:
    """``model_label`` is ``"app_label.ModelName"`` of the model whose rows the guard protects; ``protected_ids``
    is the guard's optional set form (see the module docstring): both must protect the same rows."""
    if guard not in _guards[model_label]:
        _guards[model_label].append(guard)
    if protected_ids is not None:
        _set_forms[guard] = protected_ids


def dependents_of(obj: models.Model) -> list[str]:
    found: list[str] = []
    for guard in _guards.get(obj._meta.label, ()):
        found.extend(guard(obj))
    return found


def ensure_unused(obj: models.Model, action: str) -> None:
    dependents = dependents_of(obj)
    if dependents:
        raise Conflict(
            f"Cannot {action} {obj}: it is used by {', '.join(sorted(dependents))}.",
            code="in_use",
            details={"dependents": sorted(dependents)},
        )


def protected_ids(queryset: models.QuerySet) -> set:
    """Primary keys of the rows in ``queryset`` that some guard protects: one set-form call per guard, or the
    per-object guard for each row when a guard has no set form."""
    protected: set = set()
    for guard in _guards.get(queryset.model._meta.label, ()):
        set_form = _set_forms.get(guard)
        if set_form is not None:
            protected.update(set_form(queryset))
            continue
        logger.warning("guard %s has no set form; asking it row by row", getattr(guard, "__name__", guard))
        protected.update(obj.pk for obj in queryset.iterator(chunk_size=1000) if guard(obj))
    return protected
