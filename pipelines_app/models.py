from __future__ import annotations

from django.db import models

from kernel.models.definitions import Definition, DefinitionVersion, version_pointer
from kernel.rules.latest import NEWEST_FIRST
from kernel.rules.semver import InvalidVersion, parse_version
from kernel.rules.validation import pointer
from pipelines_app.dag import StepGraph
from pipelines_app.querysets import PipelineVersionQuerySet
from pipelines_app.validation import pinned_reference, pipeline_validator, split_model_reference


class Pipeline(Definition):
    """A registered pipeline: a DAG of steps, some of which run registered models."""

    kind = "pipeline"
    validator = pipeline_validator
    write_functions = {
        "register": "pipelines_app_pipeline_register_v1",
        "activate": "pipelines_app_pipeline_activate_v1",
    }  # migration 0007

    latest_version = version_pointer("PipelineVersion", "latest")
    current_version = version_pointer("PipelineVersion", "current")

    class Meta(Definition.Meta):
        pass


def model_references(spec: dict) -> tuple[list[str], list[str]]:
    """(model names, canonical references) named by a spec's steps, each sorted and without repeats."""
    names, references = set(), set()
    for step in spec.get("steps") or []:
        model = step.get("model") if isinstance(step, dict) else None
        if not isinstance(model, str) or not model:
            continue
        name, pin = split_model_reference(model)
        names.add(name)
        try:
            references.add(pinned_reference(name, parse_version(pin)) if pin else name)
        except InvalidVersion:
            references.add(model)  # unreachable for a validated spec; kept verbatim rather than lost
    return sorted(names), sorted(references)


class PipelineVersion(DefinitionVersion):
    parent_field = "pipeline"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="versions")
    # Denormalised from the (immutable) spec so that "which pipelines use model X" is one JSONB containment
    # query: the API's ?model= filter and the guards that protect models from archiving and deletion.
    model_names = models.JSONField(default=list, editable=False, help_text="Models the steps run.")
    model_refs = models.JSONField(
        default=list, editable=False, help_text="The steps' model references: 'name' or canonical 'name@version'."
    )

    objects = PipelineVersionQuerySet.as_manager()

    class Meta:
        ordering = NEWEST_FIRST
        constraints = DefinitionVersion.constraints_for("pipeline")

    def derive_from_spec(self) -> None:
        self.model_names, self.model_refs = model_references(self.spec)

    def save(self, *args, **kwargs):
        self.derive_from_spec()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "spec" in update_fields:
            kwargs["update_fields"] = {*update_fields, "model_names", "model_refs"}
        super().save(*args, **kwargs)

    def reference_paths(self, reference: str) -> list[str]:
        """JSON Pointers of the steps' model references that are ``reference`` once made canonical (as
        ``model_refs`` holds them), for a guard's message."""
        return [
            pointer("steps", index, "model")
            for index, step in enumerate(self.spec.get("steps") or [])
            if isinstance(step, dict) and reference in model_references({"steps": [step]})[1]
        ]

    def step_graph(self) -> StepGraph:
        return StepGraph.from_steps(self.spec["steps"])

    def execution_order(self) -> dict:
        """How a run proceeds: stages (batches no wider than max_parallel), the DAG levels, one topological
        order and the critical path with its worst-case duration. See ``StepGraph.execution_order``."""
        return {
            "name": self.pipeline.name,
            "version": self.version,
            **self.step_graph().execution_order(self.spec.get("max_parallel")),
        }
