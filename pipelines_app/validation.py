"""Pipeline-document rules beyond the JSON Schema. Each rule checks the types it relies on (the document may have
failed the schema) and adds every problem it finds to the report, so one response lists them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.apps import apps
from django.db.models import CharField, IntegerField, Value

from kernel.choices import Lifecycle
from kernel.rules.semver import InvalidVersion, ParsedVersion, parse_version
from kernel.rules.validation import DocumentValidator, Report, at_most, objects_in, pointer
from pipelines_app.dag import CycleError, StepGraph

MODEL_STEP_TYPES = frozenset({"inference", "evaluation"})


def with_article(word: str) -> str:
    """'an inference', 'a validation': the article English uses before the word."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def split_model_reference(reference: str) -> tuple[str, str | None]:
    """``"llama2-7b-chat@1.2.0"`` -> ``("llama2-7b-chat", "1.2.0")``; an unpinned name has no version."""
    name, _, pin = reference.partition("@")
    return name, pin or None


def pinned_reference(name: str, version: ParsedVersion) -> str:
    """The canonical text of a pin: build metadata does not identify a version, so it is left out."""
    return f"{name}@{ParsedVersion(version.major, version.minor, version.patch, version.prerelease, '').text}"


def step_timeouts_within_pipeline(document: dict, report: Report) -> None:
    limit = _positive_int(document.get("timeout_seconds"))
    if limit is None:
        return
    for index, step in objects_in(document, "steps"):
        timeout = _positive_int(step.get("timeout_seconds"))
        if timeout is not None and timeout > limit:
            report.error(
                pointer("steps", index, "timeout_seconds"),
                "timeout_exceeds_pipeline",
                f"Step '{step.get('id')}' may run {timeout} s, longer than the pipeline's timeout_seconds={limit}.",
            )


def steps_form_a_dag(document: dict, report: Report) -> None:
    """Duplicate ids, unknown and self dependencies, every cycle; then, for a sound DAG, the timing and
    connectivity warnings."""
    graph = StepGraph.from_steps(document.get("steps"), report)
    cycles, truncated = graph.cycles()
    for cycle in cycles:
        # Point at the dependency that closes the cycle: the first step's entry naming the last step.
        first, last = graph.steps[cycle[0]], cycle[-1]
        raw = document["steps"][first.index].get("depends_on")
        report.error(
            pointer("steps", first.index, "depends_on", raw.index(last)),
            "cycle",
            f"Steps form a cycle: {' -> '.join([*cycle, cycle[0]])}.",
        )
    if truncated:
        report.error("/steps", "cycle", f"More cycles exist than the {len(cycles)} listed; break these first.")
    for group in graph.components()[1:]:
        report.warn(
            pointer("steps", graph.steps[group[0]].index),
            "disconnected_steps",
            f"Steps {', '.join(group)} are not connected to the rest of the pipeline; they form a separate group."
            if len(group) > 1
            else f"Step {group[0]} is not connected to the rest of the pipeline.",
        )
    try:
        levels = graph.levels()
    except CycleError:
        return
    limit = _positive_int(document.get("timeout_seconds"))
    if limit is None:
        return
    # One attempt per step, as the issue asks: retries are the exception, and the execution order reports the
    # worst case with retries separately.
    path, seconds = graph.critical_path(levels, lambda step: step.timeout_seconds or 0)
    if seconds > limit:
        report.warn(
            "/timeout_seconds",
            "critical_path_exceeds_timeout",
            f"The critical path {' -> '.join(path)} may take {seconds} s by its step timeouts, more than the "
            f"pipeline's timeout_seconds={limit}.",
        )


def models_are_registered(document: dict, report: Report) -> None:
    """Inference and evaluation steps name a model; every named model is registered (and not deleted), whether
    the step names it alone, with a version or through an alias; a pinned version exists and is not archived, and
    a named alias exists. One query for the models and versions, one for the aliases, whatever the number of
    steps."""
    references: list[tuple[str, str, str, ParsedVersion | None]] = []  # (path, reference, name, pin)
    aliased: list[tuple[str, str, str]] = []  # (path, name, alias)
    for index, step in objects_in(document, "steps"):
        model = step.get("model")
        path = pointer("steps", index, "model")
        if model is None:
            if step.get("type") in MODEL_STEP_TYPES:
                report.error(
                    path,
                    "model_required",
                    f"{with_article(step['type']).capitalize()} step names the model it runs: 'model': '<name>' or '<name>@<version>'.",
                )
            continue
        if not isinstance(model, str) or not model:
            continue  # the schema reports it
        name, pin = split_model_reference(model)
        parsed = None
        if pin is not None and pin[:1].isalpha():
            # name@alias: an alias starts with a letter, a version with a digit. The model itself is checked with
            # the others below (a deleted model keeps its aliases, for a restore, but serves nothing).
            aliased.append((path, name, pin))
            references.append((path, model, name, None))
            continue
        if pin is not None:
            try:
                parsed = parse_version(pin)
            except InvalidVersion as exc:
                report.error(path, "invalid_version", str(exc))
                continue
        references.append((path, model, name, parsed))
    if not references:
        return

    # One round trip: the live models named and (union) the versions of the pinned ones with their status.
    # Matching the pins in Python keeps the SQL small: compiling one OR-ed lookup per pin cost more than the
    # query itself.
    Model = apps.get_model("models_app", "Model")
    ModelVersion = apps.get_model("models_app", "ModelVersion")
    no_int, no_text = Value(None, output_field=IntegerField()), Value("", output_field=CharField())
    # .order_by() drops the models' default ordering: SQLite refuses ORDER BY inside a UNION's parts.
    found = (
        Model.objects.alive()
        .filter(name__in={name for _, _, name, _ in references})
        .order_by()
        .values_list("name", no_int, no_int, no_int, no_text, no_text)
    )
    pinned_names = {name for _, _, name, parsed in references if parsed is not None}
    if pinned_names:
        found = found.union(
            ModelVersion.objects.filter(model__name__in=pinned_names, model__deleted_at__isnull=True)
            .order_by()
            .values_list("model__name", "major", "minor", "patch", "prerelease", "status"),
            all=True,
        )
    registered: set[str] = set()
    statuses: dict[str, str] = {}
    for name, major, minor, patch, prerelease, status in found:
        if major is None:
            registered.add(name)
        else:
            statuses[pinned_reference(name, ParsedVersion(major, minor, patch, prerelease, ""))] = status
    for path, _reference, name, parsed in references:
        if name not in registered:
            report.error(path, "model_not_registered", f"No model named '{name}' is registered.")
            aliased = [entry for entry in aliased if entry[0] != path]
        elif parsed is not None:
            status = statuses.get(pinned_reference(name, parsed))
            if status is None:
                report.error(path, "model_version_not_found", f"Model '{name}' has no version {parsed.text}.")
            elif status == Lifecycle.ARCHIVED:
                report.error(
                    path,
                    "model_version_archived",
                    f"Version {parsed.text} of model '{name}' is archived; pin a live version.",
                )
    if aliased:
        aliases_exist(aliased, report)


def aliases_exist(aliased: list[tuple[str, str, str]], report: Report) -> None:
    """Steps naming ``model@alias``: the alias exists (one query for every such step)."""
    from kernel.models.aliases import Alias

    found = set(
        Alias.objects.filter(
            kind="model", definition_name__in={n for _, n, _ in aliased}, alias__in={a for _, _, a in aliased}
        ).values_list("definition_name", "alias")
    )
    for path, name, alias in aliased:
        if (name, alias) not in found:
            report.error(path, "model_alias_not_found", f"Model '{name}' has no alias '{alias}'.")


pipeline_validator = DocumentValidator(
    "pipeline",
    Path(__file__).parent / "schemas" / "pipeline.json",
    rules=[
        at_most("steps", "MAX_PIPELINE_STEPS", code="too_many_steps", kind="pipeline"),
        steps_form_a_dag,
        step_timeouts_within_pipeline,
        models_are_registered,
    ],
)
