"""Every committed write that changes a kind's documents runs the kind's ``changed`` hook once; a rejected
write runs nothing. (Policies rely on it to keep every replica's compiled rule index fresh.)"""

from __future__ import annotations

import pytest

from kernel.exceptions import Conflict
from kernel.reads.lookups import lookup
from kernel.writes.delete import restore, soft_delete
from kernel.writes.lifecycle import activate, archive, deprecate
from kernel.writes.register import register, register_version
from kernel.writes.update import update_document
from models_app.models import Model

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(Model, "changed", classmethod(lambda cls: calls.append(cls.kind)))
    return calls


def test_each_write_announces_one_change_after_commit(announced, model_doc, django_capture_on_commit_callbacks):
    writes = [
        lambda: register(Model, model_doc(version="1.0.0")),
        lambda: register_version(Model.objects.get(), model_doc(version="1.1.0")),
        lambda: activate(lookup(Model, "llama2-7b-chat", "1.0.0")),
        lambda: update_document(lookup(Model, "llama2-7b-chat", "1.0.0"), {"description": "x"}),
        lambda: deprecate(lookup(Model, "llama2-7b-chat", "1.0.0")),
        lambda: archive(lookup(Model, "llama2-7b-chat", "1.1.0")),
        lambda: soft_delete(Model.objects.get()),
        lambda: restore(Model.objects.get()),
    ]
    for index, write in enumerate(writes, start=1):
        with django_capture_on_commit_callbacks(execute=True):
            write()
        assert announced == ["model"] * index, index


def test_a_rejected_write_announces_nothing(announced, model_doc, django_capture_on_commit_callbacks):
    register(Model, model_doc(version="1.0.0"))
    announced.clear()

    conflicting = model_doc(version="1.0.0")
    conflicting["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry, not a conflict
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Conflict):
        register(Model, conflicting)

    assert callbacks == [] and announced == []
