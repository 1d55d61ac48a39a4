"""Every kind's validator answers any JSON value in any field with errors, never an exception: custom rules see
documents that failed the schema. (Found by fuzzing the API with schemathesis.)"""

from __future__ import annotations

import copy
import itertools

import pytest

from kernel.writes.register import register
from models_app.validation import model_validator
from pipelines_app.validation import pipeline_validator
from policies_app.validation import policy_validator
from tests.conftest import example

ODD_VALUES = [None, True, 0, -1, 1.5, "", "x", [], [{}], [[]], {}, {"a": {"b": 1}}, [1, "a", None]]

CASES = [
    (model_validator, example("models_app", "llama2-7b-chat")),
    (pipeline_validator, example("pipelines_app", "text-generation-pipeline")),
    (policy_validator, example("policies_app", "user-rate-limits")),
]


def replacements(document: dict):
    """Every top-level field, and every field of the first item of each list of objects, set to each odd value."""
    for key in document:
        for value in ODD_VALUES:
            doc = copy.deepcopy(document)
            doc[key] = value
            yield f"/{key}", doc
        items = document[key] if isinstance(document[key], list) else []
        if items and isinstance(items[0], dict):
            for field, value in itertools.product(list(items[0]) + ["id"], ODD_VALUES):
                doc = copy.deepcopy(document)
                doc[key][0][field] = value
                yield f"/{key}/0/{field}", doc


@pytest.mark.django_db
@pytest.mark.parametrize("validator, document", CASES, ids=["model", "pipeline", "policy"])
def test_validators_report_errors_for_any_value_in_any_field(validator, document):
    from models_app.models import Model

    register(Model, example("models_app", "llama2-7b-chat"))  # the pipeline example's step names it
    assert validator.check(document).valid, "the example itself must be valid"
    for path, doc in replacements(document):
        report = validator.check(doc)  # must not raise
        assert all(e.code and e.message for e in report.errors), path
