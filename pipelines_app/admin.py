from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from kernel.admin.base import DefinitionAdmin, DefinitionVersionAdmin
from pipelines_app.dag import CycleError
from pipelines_app.models import Pipeline, PipelineVersion

# Layout of the DAG picture: one column per stage (DAG level), one row per step within it.
BOX_WIDTH, BOX_HEIGHT = 150, 36
COLUMN_GAP, ROW_GAP, MARGIN = 60, 18, 10
LABEL_CHARS = 20


@admin.register(Pipeline)
class PipelineAdmin(DefinitionAdmin):
    fields = ("name", "owner", "created_at", "updated_at", "deleted_at")

    def kind_sections(self, definition: Pipeline, versions: list) -> list:
        latest = next((v for v in versions if v.pk == definition.latest_version_id), None)
        if latest is None:
            return []
        try:
            picture = dag_svg(latest)
        except CycleError:  # only a row written around validation could hold one
            return []
        return [(f"Steps of the latest version, {latest.version}", picture)]


def dag_svg(version: PipelineVersion) -> SafeString:
    """The DAG as inline SVG, laid out by level (left to right), an arrow per dependency. Every step id is
    escaped by ``format_html``; nothing is loaded from outside the page."""
    graph = version.step_graph()
    levels = graph.levels()
    position: dict[str, tuple[int, int]] = {}
    for column, level in enumerate(levels):
        for row, step_id in enumerate(level):
            position[step_id] = (MARGIN + column * (BOX_WIDTH + COLUMN_GAP), MARGIN + row * (BOX_HEIGHT + ROW_GAP))
    width = MARGIN * 2 + len(levels) * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = MARGIN * 2 + max(len(level) for level in levels) * (BOX_HEIGHT + ROW_GAP) - ROW_GAP
    arrows = format_html_join(
        "",
        '<line class="dependency" data-from="{}" data-to="{}" x1="{}" y1="{}" x2="{}" y2="{}" '
        'stroke="#666" stroke-width="1.5" marker-end="url(#dag-arrow)"/>',
        (
            (
                dependency,
                step.id,
                position[dependency][0] + BOX_WIDTH,
                position[dependency][1] + BOX_HEIGHT // 2,
                position[step.id][0] - 2,
                position[step.id][1] + BOX_HEIGHT // 2,
            )
            for step in graph.steps.values()
            for dependency in step.depends_on
        ),
    )
    types = {raw.get("id"): raw.get("type", "") for raw in version.spec["steps"]}
    boxes = format_html_join(
        "",
        '<g class="step" data-step="{}"><title>{} ({})</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="5" fill="#eef4f9" stroke="#417690"/>'
        '<text x="{}" y="{}" font-size="12" text-anchor="middle" dominant-baseline="middle">{}</text></g>',
        (
            (
                step_id,
                step_id,
                types.get(step_id, ""),
                x,
                y,
                BOX_WIDTH,
                BOX_HEIGHT,
                x + BOX_WIDTH // 2,
                y + BOX_HEIGHT // 2,
                step_id if len(step_id) <= LABEL_CHARS else step_id[: LABEL_CHARS - 1] + "…",
            )
            for step_id, (x, y) in position.items()
        ),
    )
    return format_html(
        '<svg class="pipeline-dag" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="Pipeline steps and their dependencies">'
        '<defs><marker id="dag-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>{}{}</svg>',
        width,
        height,
        width,
        height,
        arrows,
        boxes,
    )


@admin.register(PipelineVersion)
class PipelineVersionAdmin(DefinitionVersionAdmin):
    readonly_fields = (*DefinitionVersionAdmin.readonly_fields, "dag_picture", "execution_order_table", "models_used")
    fieldsets = (
        *DefinitionVersionAdmin.fieldsets[:1],
        ("Steps", {"fields": ("dag_picture", "execution_order_table", "models_used")}),
        *DefinitionVersionAdmin.fieldsets[1:],
    )

    @admin.display(description="DAG")
    def dag_picture(self, obj: PipelineVersion):
        try:
            return dag_svg(obj)
        except CycleError:  # only a row written around validation could hold one
            return "The stored steps contain a cycle."

    @admin.display(description="execution order")
    def execution_order_table(self, obj: PipelineVersion):
        try:
            order = obj.execution_order()
        except CycleError:
            return "The stored steps contain a cycle."
        steps = obj.step_graph().steps
        on_critical_path = set(order["critical_path"]["steps"])
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    number,
                    ", ".join(stage),
                    ", ".join(sorted({dependency for step_id in stage for dependency in steps[step_id].depends_on}))
                    or "-",
                    ", ".join(f"{step_id}: {steps[step_id].worst_case_seconds} s" for step_id in stage),
                    "yes" if on_critical_path & set(stage) else "",
                )
                for number, stage in enumerate(order["stages"], start=1)
            ),
        )
        return format_html(
            '<table class="execution-order"><thead><tr><th>stage</th><th>steps (run together)</th>'
            "<th>waits for</th><th>worst case</th><th>critical path</th></tr></thead><tbody>{}</tbody></table>"
            "<p>Critical path: {} &mdash; {} s worst case (timeouts &times; (1 + retries)). "
            "max_parallel: {}.</p>",
            rows,
            " → ".join(order["critical_path"]["steps"]),
            order["critical_path"]["duration_seconds"],
            order["max_parallel"] or "unlimited",
        )

    @admin.display(description="models")
    def models_used(self, obj: PipelineVersion):
        return ", ".join(obj.model_refs) or "-"
