"""jsonschema's private APIs, each behind one function. Read in jsonschema 4.26.0."""

from __future__ import annotations

from jsonschema import _keywords


def unique_items(validator, unique, instance, schema):
    """jsonschema's own ``uniqueItems`` keyword function (the errors it yields), for a validator that runs it only
    on arrays short enough to be worth its quadratic comparison.

    Relies on ``jsonschema._keywords.uniqueItems(validator, uI, instance, schema)`` (read in jsonschema 4.26.0)."""
    yield from _keywords.uniqueItems(validator, unique, instance, schema)
