"""Every private API of a framework the registry relies on, in one place, each with what it relies on.

A private API is an underscore name or an internal module of Django, DRF, jsonschema or gunicorn: nothing promises
it survives an upgrade. Each is wrapped here so an upgrade's breakage shows up in one file, and CI runs the suite
on the next Django release as well as the pinned one (``.ci/run``), so it is known before anyone upgrades.
"""

from __future__ import annotations

from django.db import models
from django.db.models.constants import OnConflict
from rest_framework.utils.mediatypes import _MediaType


def insert_unless_conflict(instance: models.Model, using: str = "default") -> bool:
    """INSERT ``instance`` unless a unique constraint already holds its values (``ON CONFLICT DO NOTHING ...
    RETURNING``); True if it was inserted (the row is then ours, locked until the transaction ends).

    Relies on ``QuerySet._insert(objs, fields, returning_fields, using, on_conflict)`` (Django 4.1-6.0), the one
    call that both skips a conflicting row and returns the inserted row's generated fields, which ``bulk_create``
    (``ignore_conflicts=True``) does not return; and on ``Model._state``."""
    meta = instance._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    rows = type(instance)._base_manager._insert(
        [instance], fields=fields, returning_fields=meta.db_returning_fields, using=using, on_conflict=OnConflict.IGNORE
    )
    if not rows or rows[0] is None:
        return False
    for value, returned in zip(rows[0], meta.db_returning_fields):
        setattr(instance, returned.attname, value)
    instance._state.adding, instance._state.db = False, using
    return True


def media_type_params(media_type: str) -> dict[str, str]:
    """The parameters of a media type as DRF reads them (``application/json; indent=4`` -> ``{"indent": "4"}``).

    Relies on ``rest_framework.utils.mediatypes._MediaType`` (DRF 3.x), the parser DRF's content negotiation and
    JSON renderer use, so the answer is what the renderer would act on."""
    return _MediaType(media_type).params
