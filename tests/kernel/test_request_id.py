"""Every response carries a request id: the caller's X-Request-ID when it is a plain token, a new one otherwise;
code serving the request reads it from registry_project.request_context."""

from __future__ import annotations

import pytest

from registry_project import request_context

pytestmark = pytest.mark.django_db


def test_the_callers_request_id_is_returned_and_visible_while_serving(api, llama_doc, monkeypatch):
    seen = []
    from kernel.api import views

    original = views.register
    monkeypatch.setattr(
        views, "register", lambda *a, **k: (seen.append(request_context.current_request_id()), original(*a, **k))[1]
    )

    response = api.post("/api/v1/models", llama_doc, format="json", HTTP_X_REQUEST_ID="req-42.a")

    assert response.status_code == 201 and response["X-Request-ID"] == "req-42.a"
    assert seen == ["req-42.a"] and request_context.current_request_id() == ""


@pytest.mark.parametrize("given", [None, "", "x" * 129, "a b", "evil\nline"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(anon, given):
    headers = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    first = anon.get("/health/live", **headers)["X-Request-ID"]
    second = anon.get("/health/live", **headers)["X-Request-ID"]
    assert len(first) == 32 and first != second
