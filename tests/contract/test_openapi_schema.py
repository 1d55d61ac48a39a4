"""The OpenAPI schema generated in a long-lived process (a server answering /api/schema more than once, or the test
suite) is the same every time: generating it must not change the module-level schemas it is built from."""

from __future__ import annotations

import json

from drf_spectacular.generators import SchemaGenerator


def test_the_schema_is_the_same_when_generated_twice_in_one_process():
    first = SchemaGenerator().get_schema(request=None, public=True)
    second = SchemaGenerator().get_schema(request=None, public=True)

    assert "ErrorTypeEnum" in second["components"]["schemas"]
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
