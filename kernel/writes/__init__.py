"""Every write of a versioned definition, one module per verb (after Zulip's ``zerver/actions``): ``register``,
``update``, ``lifecycle`` (activate, deprecate, archive), ``delete`` (and restore). The API, the admin, the
commands and the tasks call these; the models hold the fields, the read vocabulary and the hooks a kind overrides.

A verb that has a PostgreSQL fast path (``kernel.fastpaths``) calls it once, at the top: it does the whole write
or answers None ("not mine") and the ORM path below it answers, so each rule and each error message has one
source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel.models.definitions import DefinitionVersion
    from kernel.rules.validation import Issue


@dataclass
class Registration:
    """What a registration or an update answers with: the version and the warnings to show."""

    version: DefinitionVersion
    warnings: list[Issue] = field(default_factory=list)
    created_definition: bool = False
    # The version was already registered with the same content (a retry): answered 200, nothing written.
    existing: bool = False
