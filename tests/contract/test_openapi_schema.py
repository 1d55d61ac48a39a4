"""The OpenAPI schema generated in a long-lived process (a server answering /api/schema more than once, or the test
suite) is the same every time: generating it must not change the module-level schemas it is built from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from drf_spectacular.generators import SchemaGenerator

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_is_the_same_when_generated_twice_in_one_process():
    first = SchemaGenerator().get_schema(request=None, public=True)
    second = SchemaGenerator().get_schema(request=None, public=True)

    assert "ErrorTypeEnum" in second["components"]["schemas"]
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)


def test_creating_operations_link_to_what_they_created_with_parameters_from_the_response():
    """Explicit links (kernel.api.schema.add_links): a registered version leads to its detail with `name`
    and `version` from the RESPONSE (never from the request body), and no link leads to an attestation (which only
    derived versions have) or to a restore."""
    # From a fresh process, as a client fetches it: earlier tests in this process may have left drf-spectacular's
    # per-process state (operation ids) behind.
    done = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--format", "openapi-json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    paths = json.loads(done.stdout)["paths"]
    links = paths["/api/v1/models/{name}/versions"]["post"]["responses"]["201"]["links"]
    assert links["model_version_detail"]["parameters"] == {
        "name": "$response.body#/name",
        "version": "$response.body#/version",
    }
    created = paths["/api/v1/webhooks"]["post"]["responses"]["201"]["links"]
    assert created["webhook_rotate_secret"]["parameters"] == {"id": "$response.body#/id"}
    every_link = [
        link
        for item in paths.values()
        for operation in item.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert every_link and not any(link["operationId"].endswith(("_attestation", "_restore")) for link in every_link)
    assert not any("$request.body" in json.dumps(link) for link in every_link)
