"""The curator's view of a pipeline version: its DAG as a picture and its execution order as a table."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from kernel.writes.register import register
from pipelines_app.models import Pipeline
from tests.pipelines_app.conftest import pipeline, step

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client):
    admin_user = get_user_model().objects.create_superuser("curator", "curator@example.com", "curator-password-1")
    client.force_login(admin_user)
    return client


def test_the_version_page_draws_the_dag_with_an_arrow_per_dependency(curator, pipeline_doc, llama):
    version = register(Pipeline, pipeline_doc).version

    response = curator.get(f"/admin/pipelines_app/pipelineversion/{version.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    svg = re.search(r"<svg class=\"pipeline-dag\".*?</svg>", html, re.S).group(0)
    assert re.findall(r'data-step="([^"]+)"', svg) == ["validate", "preprocess", "generate", "postprocess"]
    arrows = re.findall(r'class="dependency" data-from="([^"]+)" data-to="([^"]+)"', svg)
    assert sorted(arrows) == [("generate", "postprocess"), ("preprocess", "generate"), ("validate", "preprocess")]
    assert "<script" not in svg and "http://www.w3.org/2000/svg" in svg and "https://" not in svg


def test_the_version_page_shows_the_execution_order_as_a_table(curator):
    doc = pipeline(
        step("a", timeout_seconds=10), step("b", "a"), step("c", "a"), step("d", "a"), name="wide", max_parallel=2
    )
    version = register(Pipeline, doc).version

    html = curator.get(f"/admin/pipelines_app/pipelineversion/{version.pk}/change/").content.decode()

    table = re.search(r'<table class="execution-order">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", table)
    assert rows == [("1", "a"), ("2", "b, c"), ("3", "d")]
    assert "10 s worst case" in html


def test_step_ids_are_escaped_in_the_picture_and_the_table(curator):
    version = register(Pipeline, pipeline(step("a"), step("b", "a"), name="escaping")).version
    # Ids are slugs, so markup cannot get in through the API; a row edited around it must still not inject.
    version.spec["steps"][0]["id"] = "<i>x</i>"
    version.spec["steps"][1]["depends_on"] = ["<i>x</i>"]
    type(version).objects.filter(pk=version.pk).update(spec=version.spec)

    html = curator.get(f"/admin/pipelines_app/pipelineversion/{version.pk}/change/").content.decode()

    assert "<i>x</i>" not in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html


def test_registering_through_the_admin_shows_errors_beside_the_steps_field(curator):
    response = curator.post(
        "/admin/pipelines_app/pipeline/register/",
        {
            "document": json.dumps(
                {
                    "name": "loop",
                    "version": "1.0.0",
                    "steps": [
                        {"id": "a", "type": "custom", "depends_on": ["b"]},
                        {"id": "b", "type": "inference", "depends_on": ["a"]},
                    ],
                }
            )
        },
    )

    assert response.status_code == 200
    errors = response.context["server_errors"]
    assert any("a -> b -> a" in error["message"] and error["path"].startswith("/steps") for error in errors)
    assert any(error["path"] == "/steps/1/model" for error in errors)
    assert not Pipeline.objects.filter(name="loop").exists()


def test_registering_a_valid_pipeline_through_the_admin_opens_its_version_page(curator):
    response = curator.post(
        "/admin/pipelines_app/pipeline/register/",
        {
            "document": json.dumps(
                {"name": "ok", "version": "1.0.0", "max_parallel": 2, "steps": [{"id": "a", "type": "custom"}]}
            )
        },
    )

    version = Pipeline.objects.get(name="ok").versions.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/pipelines_app/pipelineversion/{version.pk}/change/"
    assert version.spec["max_parallel"] == 2


def test_the_pipeline_list_and_page_render(curator, pipeline_doc, llama):
    definition = register(Pipeline, pipeline_doc).version.pipeline

    assert curator.get("/admin/pipelines_app/pipeline/").status_code == 200
    assert curator.get(f"/admin/pipelines_app/pipeline/{definition.pk}/change/").status_code == 200
    assert curator.get("/admin/pipelines_app/pipelineversion/").status_code == 200
