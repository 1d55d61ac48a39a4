"""Cross-app integrity without cross-app imports.

An app whose definitions depend on another app's (a pipeline step naming a model) registers a *guard* for the
depended-on model class from its ``AppConfig.ready``. Before archiving a version or deleting a definition, the
owning app asks ``ensure_unused(obj, action)``; it never imports the dependent app.

A rename is refused only by what names a row by its name rather than by its id (a pipeline step's
``"model": "name@1.2.0"`` is immutable text, a stored file's key starts with it; a binding holds the version's id
and follows the rename): such an app registers a *name guard* with ``register_name_guard``, and ``kernel.writes.rename`` asks
``ensure_not_named(obj)``.

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
_name_guards: dict[str, list[Guard]] = defaultdict(list)


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


def register_name_guard(model_label: str, guard: Guard) -> None:
    """``guard(obj)`` names what refers to ``obj`` by its name (each with where, e.g. a JSON Pointer), so that
    renaming it would leave them naming nothing."""
    if guard not in _name_guards[model_label]:
        _name_guards[model_label].append(guard)


def ensure_not_named(obj: models.Model) -> None:
    """Refuse (409 ``in_use``) to rename ``obj`` while something names it by its name."""
    naming = [name for guard in _name_guards.get(obj._meta.label, ()) for name in guard(obj)]
    if naming:
        shown = "; ".join(naming[:20]) + (f"; and {len(naming) - 20} more" if len(naming) > 20 else "")
        raise Conflict(
            f"Cannot rename {obj}: these name it by its name, which a rename cannot change: {shown}.",
            code="in_use",
            details={"dependents": naming},
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
