"""Cross-app integrity without cross-app imports.

An app whose definitions depend on another app's (a pipeline step naming a model) registers a *guard* for the
depended-on model class from its ``AppConfig.ready``. Before archiving a version or deleting a definition, the
owning app asks ``ensure_unused(obj, action)``; it never imports the dependent app.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db import models

from registry_project.exceptions import Conflict

# A guard gets the object about to be archived or deleted and returns human-readable names of what depends on it.
Guard = Callable[[models.Model], list[str]]

_guards: dict[str, list[Guard]] = defaultdict(list)


def register_guard(model_label: str, guard: Guard) -> None:
    """``model_label`` is ``"app_label.ModelName"`` of the model whose rows the guard protects."""
    if guard not in _guards[model_label]:
        _guards[model_label].append(guard)


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
