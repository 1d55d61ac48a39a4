from __future__ import annotations

import copy

import pytest

from kernel.writes.register import register
from models_app.models import Model
from tests.conftest import example


@pytest.fixture
def pipeline_doc() -> dict:
    """The text-generation-pipeline example from DESIGN.md (a fresh copy per test)."""
    return copy.deepcopy(example("pipelines_app", "text-generation-pipeline"))


@pytest.fixture
def llama(db, llama_doc) -> Model:
    """llama2-7b-chat 1.0.0 registered, so the example pipeline's inference step resolves."""
    return register(Model, llama_doc).version.model


def step(step_id: str, *depends_on: str, **fields) -> dict:
    return {"id": step_id, "type": fields.pop("type", "custom"), "depends_on": list(depends_on), **fields}


def pipeline(*steps: dict, name: str = "p", version: str = "1.0.0", **fields) -> dict:
    return {"name": name, "version": version, "steps": list(steps), **fields}
