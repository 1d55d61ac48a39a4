"""The name rule is written once in Python (``kernel.rules.names``); the copies that cannot import it (the JSON Schema
files, ECMA-262, and the database's CHECK constraint with the column's length) must accept exactly the names it
accepts."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, transaction

from kernel.rules.names import NAME, is_name
from kernel.rules.validation import RegistrySchemaValidator, python_regex
from models_app.models import Model
from pipelines_app.models import Pipeline
from policies_app.models import Policy

ACCEPTED = ["a", "0", "llama2-7b-chat", "a.b_c-d", "9lives", "x" * 128, "a" + "." * 127, "a-", "a_", "a."]
REFUSED = [
    "",
    "llama\n",
    "a\n",
    "\nllama",
    "Llama",
    "lLAMA",
    "x" * 129,
    ".hidden",
    "-a",
    "_a",
    "a b",
    "a/b",
    "a@b",
    "naïve",
    "a\t",
    "ａ",
    "x" * 128 + "\n",
]
SAMPLES = ACCEPTED + REFUSED
KINDS = [Model, Pipeline, Policy]


def test_the_samples_are_what_the_python_rule_says():
    assert all(is_name(name) for name in ACCEPTED)
    assert not any(is_name(name) for name in REFUSED)


def name_schema(kind) -> dict:
    schema = kind.validator.schema
    name = schema["properties"]["name"]
    if name.get("$ref") == "#/$defs/name":
        name = schema["$defs"]["name"]
    return name


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_a_kinds_json_schema_accepts_exactly_the_names_the_rule_accepts(kind):
    validator = RegistrySchemaValidator(name_schema(kind))
    assert [name for name in SAMPLES if validator.is_valid(name)] == ACCEPTED


def test_a_pipeline_steps_model_reference_is_a_name_with_an_optional_version():
    steps = Pipeline.validator.schema["properties"]["steps"]
    pattern = steps["items"]["properties"]["model"]["pattern"]
    assert pattern.startswith(f"^{NAME}(@")
    reference = python_regex(pattern)
    for name in SAMPLES:
        if "@" not in name:  # "a@b" is model a at version b
            assert bool(reference.search(name)) == is_name(name), name
        assert bool(reference.search(f"{name}@1.0.0")) == is_name(name), name


# PostgreSQL's CHECK is the backstop this holds to the rule. On SQLite, Django evaluates the constraint's regex with
# Python's re, whose $ also matches before a final newline: there the validators are the only guard of that case.
@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_the_database_accepts_exactly_the_names_the_rule_accepts(kind):
    # Written past the model's validators: the CHECK constraint and the column's length decide alone.
    stored = []
    for name in SAMPLES:
        try:
            with transaction.atomic():
                kind.objects.create(name=name)
        except (IntegrityError, DataError):
            continue
        stored.append(name)
    assert stored == ACCEPTED
