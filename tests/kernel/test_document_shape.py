"""The document's shape is declared once (kernel/documents/shape.py, and a kind's ``document_extras``). What is not
derived from it, the list of fields a write ignores (kept in the order its warnings have always named them), is held
equal to it here; a kind that adds document fields another way is refused when it is defined. That the Python and
the SQL documents agree is tests/kernel/test_page_documents.py."""

from __future__ import annotations

import pytest

from kernel.documents.shape import (
    ID_FIELD,
    LIFECYCLE_FIELDS,
    READ_ONLY_FIELDS,
    WARNINGS_KEY,
    DocumentField,
    server_managed_extras,
)
from kernel.models.definitions import DefinitionVersion
from models_app.models import ModelVersion
from pipelines_app.models import PipelineVersion
from policies_app.models import PolicyVersion

VERSION_MODELS = [ModelVersion, PipelineVersion, PolicyVersion]


def test_a_write_ignores_exactly_the_server_managed_fields_some_kind_declares():
    declared = {ID_FIELD.name, *(field.name for field in LIFECYCLE_FIELDS), WARNINGS_KEY}
    for version_model in VERSION_MODELS:
        declared |= {field.name for field in server_managed_extras(version_model)}
    assert len(set(READ_ONLY_FIELDS)) == len(READ_ONLY_FIELDS)
    assert set(READ_ONLY_FIELDS) == declared


def test_a_kind_that_adds_a_document_field_by_overriding_document_is_refused():
    with pytest.raises(TypeError, match="document_extras"):

        class Overriding(DefinitionVersion):
            class Meta:
                abstract = True
                app_label = "tests"

            def document(self) -> dict:
                return {**super().document(), "extra": 1}


def test_a_kind_whose_server_managed_field_a_write_would_not_ignore_is_refused():
    with pytest.raises(TypeError, match="READ_ONLY_FIELDS"):

        class Unlisted(DefinitionVersion):
            document_extras = (DocumentField("checksum_verified", value=lambda version: True, sql="is_current"),)

            class Meta:
                abstract = True
                app_label = "tests"


def test_a_serializer_that_adds_fields_is_refused():
    from kernel.api.serializers import DocumentSerializer

    with pytest.raises(TypeError, match="document_extras"):

        class Adding(DocumentSerializer):
            def to_representation(self, version) -> dict:
                return {**super().to_representation(version), "extra": 1}
