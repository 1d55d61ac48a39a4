"""When tracing is on: the standard OTEL_* variables decide, and with none of them set nothing is installed."""

from __future__ import annotations

import pytest

from registry_project import tracing

OTEL = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture
def environment(monkeypatch):
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)

    def set_to(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_to


@pytest.mark.parametrize(
    "variables, on",
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ],
)
def test_tracing_is_on_exactly_when_the_otel_variables_ask_for_it(environment, variables, on):
    environment(**variables)
    assert tracing.configured() is on


def test_without_the_variables_start_installs_nothing(environment):
    assert tracing.start() is False
    assert not tracing.started()
    assert tracing.current_traceparent() == ""


@pytest.mark.parametrize(
    "variables, named",
    [({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"), ({"OTEL_TRACES_EXPORTER": "zipkin"}, "otlp")],
)
def test_an_exporter_the_registry_does_not_ship_is_refused_by_name(environment, variables, named):
    environment(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318", **variables)
    with pytest.raises(ValueError, match=named):
        tracing.span_exporter()


def test_a_stored_trace_context_is_continued_only_when_it_is_well_formed():
    assert tracing.context_of("") is None
    assert tracing.context_of("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None  # an all-zero trace id is invalid
    assert tracing.context_of("00-abc-def-01") is None
    assert tracing.context_of("00-" + "a" * 32 + "-" + "b" * 16 + "-01") is not None
