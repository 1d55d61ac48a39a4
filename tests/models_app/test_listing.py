from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


@pytest.fixture
def catalogue(api, model_doc):
    docs = [
        model_doc(name="llama2-7b-chat", version="1.0.0"),
        model_doc(name="llama2-7b-chat", version="1.1.0", tags=["staging"]),
        model_doc(
            name="mistral-7b",
            version="0.1.0",
            family="mistral",
            capabilities=["completion"],
            description="Mistral base",
        ),
        model_doc(
            name="phi-2", version="2.0.0", family="phi", capabilities=["code"], tags=["small"], description="Tiny coder"
        ),
    ]
    for doc in docs:
        assert api.post(URL, doc, format="json").status_code == 201


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [r["name"] for r in response.json()["results"]]


def test_list_shows_each_models_latest_version(api, catalogue):
    body = api.get(URL).json()
    assert body["count"] == 3
    assert {(r["name"], r["version"]) for r in body["results"]} == {
        ("llama2-7b-chat", "1.1.0"),
        ("mistral-7b", "0.1.0"),
        ("phi-2", "2.0.0"),
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ("family=mistral", ["mistral-7b"]),
        ("tag=staging", ["llama2-7b-chat"]),
        ("tag=production", ["mistral-7b"]),  # the latest llama version is tagged staging only
        ("capability=chat", ["llama2-7b-chat"]),
        ("capability=code", ["phi-2"]),
        ("search=coder", ["phi-2"]),
        ("search=llama2", ["llama2-7b-chat"]),
        ("search=mistral", ["mistral-7b"]),
        ("status=deprecated", []),
        ("ordering=-name", ["phi-2", "mistral-7b", "llama2-7b-chat"]),
        ("ordering=version", ["mistral-7b", "llama2-7b-chat", "phi-2"]),
    ],
)
def test_filters_and_ordering(api, catalogue, query, expected):
    result = names(api.get(f"{URL}?{query}"))
    assert result == expected if "ordering" in query else sorted(result) == sorted(expected)


def test_created_range_filters(api, catalogue):
    assert api.get(f"{URL}?created_after=2000-01-01T00:00:00Z").json()["count"] == 3
    assert api.get(f"{URL}?created_before=2000-01-01T00:00:00Z").json()["count"] == 0


def test_limit_and_offset_paginate(api, catalogue):
    first = api.get(f"{URL}?limit=2").json()
    second = api.get(f"{URL}?limit=2&offset=2").json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    assert len(second["results"]) == 1 and second["next"] is None
    assert {r["name"] for r in first["results"] + second["results"]} == {"llama2-7b-chat", "mistral-7b", "phi-2"}


@pytest.mark.parametrize(
    "query", ["", "&tag=even", "&search=model-0", "&capability=chat&family=llama", "&ordering=-created_at"]
)
def test_list_query_count_does_not_grow_with_the_page(api, model_doc, django_assert_max_num_queries, query):
    for i in range(60):
        api.post(URL, model_doc(name=f"model-{i:03d}", version="1.0.0"), format="json")
        api.post(
            URL, model_doc(name=f"model-{i:03d}", version="1.1.0", tags=["even"] if i % 2 == 0 else []), format="json"
        )

    # auth + count + page (with the model joined)
    with django_assert_max_num_queries(3):
        response = api.get(f"{URL}?limit=100{query}")
    assert len(response.json()["results"]) == (30 if "tag" in query else 60)


def test_tag_matches_the_latest_versions_own_tags_or_its_models(api, model_doc):
    api.post(URL, model_doc(name="a", version="1.0.0", tags=["gpu"]), format="json")
    api.post(URL, model_doc(name="a", version="1.1.0", tags=[]), format="json")  # the latest no longer carries it
    api.post(URL, model_doc(name="b", version="1.0.0", tags=[], definition={"tags": ["gpu"]}), format="json")
    api.post(URL, model_doc(name="c", version="1.0.0", tags=["gpu"]), format="json")
    api.post(
        URL, model_doc(name="d", version="1.0.0", tags=["gpu"], definition={"tags": ["gpu"]}), format="json"
    )  # once, not twice

    body = api.get(f"{URL}?tag=gpu").json()
    assert [r["name"] for r in body["results"]] == ["b", "c", "d"] and body["count"] == 3


def test_count_is_exact_up_to_the_limit_then_a_lower_bound_and_next_leads_to_every_row(api, model_doc, settings):
    settings.API_LIST_COUNT_LIMIT = 3
    for i in range(5):
        api.post(URL, model_doc(name=f"m{i}", version="1.0.0"), format="json")

    seen, url, pages = [], f"{URL}?limit=2", []
    while url:
        body = api.get(url).json()
        pages.append((body["count"], body["count_is_exact"]))
        seen += [r["name"] for r in body["results"]]
        url = body["next"]

    assert seen == ["m0", "m1", "m2", "m3", "m4"]
    # Counted up to the limit or the page's end, whichever is further; exact once every row is within reach.
    assert pages == [(3, False), (4, False), (5, True)]
    assert api.get(f"{URL}?limit=2&search=m4").json()["count_is_exact"] is True


# Registered out of name, version and creation order, so a page taken in the order the rows were read is wrong.
SHUFFLED = [("m3", "2.0.0"), ("m0", "1.5.0"), ("m5", "0.9.0"), ("m1", "3.0.0-rc.1"), ("m4", "3.0.0"), ("m2", "1.10.0")]


@pytest.mark.parametrize(
    "ordering, expected",
    [
        ("", ["m0", "m1", "m2", "m3", "m4", "m5"]),
        ("&ordering=-name", ["m5", "m4", "m3", "m2", "m1", "m0"]),
        ("&ordering=version", ["m5", "m0", "m2", "m3", "m1", "m4"]),
        ("&ordering=-version", ["m4", "m1", "m3", "m2", "m0", "m5"]),
        ("&ordering=created_at", ["m3", "m0", "m5", "m1", "m4", "m2"]),
        ("&ordering=-created_at", ["m2", "m4", "m1", "m5", "m0", "m3"]),
    ],
)
@pytest.mark.parametrize("count_limit", [100, 3], ids=["every-match-within-the-count", "more-than-the-count"])
def test_pages_follow_the_ordering_whether_few_or_many_match(api, model_doc, settings, ordering, expected, count_limit):
    # Within the count limit the page is sorted from the matches read in no order; past it the matches are walked
    # in order to the page's end. Both must give the ordering's pages, and `next` must lead through all of them.
    settings.API_LIST_COUNT_LIMIT = count_limit
    for name, version in SHUFFLED:
        assert api.post(URL, model_doc(name=name, version=version), format="json").status_code == 201

    seen, url = [], f"{URL}?limit=2{ordering}"
    while url:
        body = api.get(url).json()
        seen += [r["name"] for r in body["results"]]
        url = body["next"]
    assert seen == expected


def test_an_ordering_the_sort_cannot_restate_takes_the_ordered_read(api, model_doc):
    # A relation orders by its model's Meta.ordering and an expression is not a column: neither is sorted by
    # position over the matches' columns, so the paginator reads the matches in order instead.
    from django.db.models.functions import Lower

    from kernel.api.pagination import _page_among_any
    from models_app.models import ModelVersion

    for name, version in SHUFFLED:
        api.post(URL, model_doc(name=name, version=version), format="json")
    versions = ModelVersion.objects.all()
    assert _page_among_any(versions.order_by("model"), 10, 0, 2) is None
    assert _page_among_any(versions.order_by(Lower("version")), 10, 0, 2) is None
    assert _page_among_any(versions.order_by("?"), 10, 0, 2) is None
    from django.db import connection

    if connection.vendor == "postgresql":
        page, count = _page_among_any(versions.order_by("-model__name"), 10, 0, 2)
        assert count == 6 and [ModelVersion.objects.get(pk=pk).model.name for pk in page] == ["m5", "m4"]


def test_a_page_past_the_last_match_still_counts_them(api, model_doc):
    for name, version in SHUFFLED:
        api.post(URL, model_doc(name=name, version=version), format="json")
    body = api.get(f"{URL}?limit=2&offset=10").json()
    assert (body["count"], body["count_is_exact"], body["results"], body["next"]) == (6, True, [], None)
    assert api.get(f"{URL}?limit=2&offset=10&tag=none").json()["count"] == 0


def test_a_list_with_more_matches_than_the_count_limit_runs_one_more_query(
    api, model_doc, settings, django_assert_max_num_queries
):
    settings.API_LIST_COUNT_LIMIT = 3
    for name, version in SHUFFLED:
        api.post(URL, model_doc(name=name, version=version), format="json")
    # auth + the matches read in no order (as many as the limit and one) + the page walked in order + the documents.
    # Outside a test's transaction (as a request runs, and in make test-replica) the walk has a transaction of its
    # own to turn parallel workers off in: BEGIN, SET LOCAL and COMMIT around it.
    from django.db import connection

    walk = 1 if connection.in_atomic_block else 4
    with django_assert_max_num_queries(3 + walk):
        body = api.get(f"{URL}?limit=2").json()
    assert [r["name"] for r in body["results"]] == ["m0", "m1"] and (body["count"], body["count_is_exact"]) == (
        3,
        False,
    )


@pytest.mark.django_db(transaction=True)
def test_the_walk_past_the_count_limit_leaves_the_connections_settings_as_they_were(api, model_doc, settings):
    # Outside a test's transaction, as a request runs: the walk turns parallel workers off for itself only.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's parallel workers")
    settings.API_LIST_COUNT_LIMIT = 3
    for name, version in SHUFFLED:
        api.post(URL, model_doc(name=name, version=version), format="json")
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        before = cursor.fetchone()[0]
    body = api.get(f"{URL}?limit=2&ordering=-version").json()
    assert [r["name"] for r in body["results"]] == ["m4", "m1"] and body["count_is_exact"] is False
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] == before != "0"


def test_versions_list_query_count_is_bounded(api, model_doc, django_assert_max_num_queries):
    for i in range(50):
        api.post(URL, model_doc(version=f"1.{i}.0"), format="json")
    with django_assert_max_num_queries(4):
        response = api.get(f"{URL}/llama2-7b-chat/versions?limit=100")
    assert len(response.json()["results"]) == 50


def test_get_by_name_runs_two_queries(api, model_doc, django_assert_max_num_queries):
    api.post(URL, model_doc(), format="json")
    with django_assert_max_num_queries(
        2
    ):  # the credential token (the verified-key cache), then the version joined with its model and aliases
        assert api.get(f"{URL}/llama2-7b-chat").status_code == 200


def test_tag_follows_a_change_of_the_models_own_tags(api, model_doc):
    api.post(URL, model_doc(name="a", version="1.0.0", tags=["own"]), format="json")
    api.post(URL, model_doc(name="a", version="1.1.0", tags=["own"]), format="json")
    assert names(api.get(f"{URL}?tag=team")) == []

    assert api.patch(f"{URL}/a", {"definition": {"tags": ["team"]}}, format="json").status_code == 200
    assert names(api.get(f"{URL}?tag=team")) == ["a"] and names(api.get(f"{URL}?tag=own")) == ["a"]
    # Every version follows, not only the latest: the versions list filters the same way.
    assert [v["version"] for v in api.get(f"{URL}/a/versions?tag=team").json()["results"]] == ["1.1.0", "1.0.0"]

    api.post(
        URL, model_doc(name="a", version="1.2.0", tags=[], definition={"tags": []}), format="json"
    )  # a registration that clears them
    assert names(api.get(f"{URL}?tag=team")) == [] and names(api.get(f"{URL}?tag=own")) == []
    assert [v["version"] for v in api.get(f"{URL}/a/versions?tag=own").json()["results"]] == ["1.1.0", "1.0.0"]


def test_an_ordering_the_sort_cannot_restate_reads_its_page_once_when_many_match(
    api, model_doc, settings, django_assert_num_queries
):
    # Past the count limit the ordered read already holds the page: no second walk of the matches.
    from django.db.models.functions import Lower
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from kernel.api.pagination import StrictLimitOffsetPagination
    from models_app.models import ModelVersion

    settings.API_LIST_COUNT_LIMIT = 3
    for name, version in SHUFFLED:
        api.post(URL, model_doc(name=name, version=version), format="json")
    paginator = StrictLimitOffsetPagination()
    request = Request(APIRequestFactory().get("/", {"limit": 2, "offset": 1}))
    with django_assert_num_queries(1):
        page = paginator.paginate_keys(ModelVersion.objects.order_by(Lower("version"), "pk"), request)
    ordered = list(ModelVersion.objects.order_by(Lower("version"), "pk").values_list("pk", flat=True))
    assert page == ordered[1:3] and (paginator.count, paginator.count_is_exact) == (3, False)
