"""The admin's picture of a version's lineage (server-rendered SVG, like the pipeline DAG) and its delta table.

The picture runs top to bottom: the ancestors from the baseline (the nearest ``SHOWN_ANCESTORS`` when the chain is
longer), this version highlighted, and a row of its direct derivatives. Each edge carries the relation and the
parent -> child change of one key metric (the first improved one, else the first shared one).
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from models_app.lineage.walk import lineage

BOX_WIDTH, BOX_HEIGHT = 230, 34
ROW_GAP, COLUMN_GAP, MARGIN = 46, 20, 10
LABEL_CHARS = 30
SHOWN_ANCESTORS = 12
SHOWN_CHILDREN = 8
LABEL_ROOM = 110


def _label(step: dict) -> str:
    text = f"{step['model']}@{step['version']}"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _signed(number: float) -> str:
    return f"{number:+.4g}"


def key_delta(deltas: dict) -> str:
    """One metric's change for an edge label, e.g. 'accuracy +0.024 ✓'."""
    if not deltas:
        return ""
    name = next((n for n in sorted(deltas) if deltas[n]["improved"]), min(deltas))
    delta = deltas[name]
    return f"{name} {_signed(delta['absolute'])} {'✓' if delta['improved'] else '✗'}"


def lineage_svg(version) -> SafeString:
    chain = lineage(version, "ancestors")["steps"]
    hidden = max(0, len(chain) - 1 - SHOWN_ANCESTORS)
    chain = chain[hidden:]
    children = lineage(version, "descendants")["steps"]
    children = [s for s in children if s["depth"] == version.lineage_depth + 1][:SHOWN_CHILDREN]

    nodes, edges = [], []  # (step, x, y, is_this) / (x1, y1, x2, y2, relation, delta)
    for row, step in enumerate(chain):
        nodes.append((step, MARGIN, MARGIN + row * (BOX_HEIGHT + ROW_GAP), step["id"] == str(version.pk)))
    this_y = nodes[-1][2]
    for column, step in enumerate(children):
        nodes.append((step, MARGIN + column * (BOX_WIDTH + COLUMN_GAP), this_y + BOX_HEIGHT + ROW_GAP, False))
    position = {step["id"]: (x, y) for step, x, y, _ in nodes}
    for step, x, y, _ in nodes:
        parent = (step["derived_from"] or {}).get("id")
        if parent in position:
            px, py = position[parent]
            edges.append(
                (
                    px + BOX_WIDTH // 2,
                    py + BOX_HEIGHT,
                    x + BOX_WIDTH // 2,
                    y - 2,
                    step["relation"] or "",
                    key_delta(step["deltas"]),
                )
            )

    # Room on the right for the last edge's label, drawn beside the child it points to.
    width = MARGIN * 2 + max(1, len(children)) * (BOX_WIDTH + COLUMN_GAP) + LABEL_ROOM
    height = MARGIN * 2 + max(y for _, _, y, _ in nodes) + BOX_HEIGHT
    edge_svg = format_html_join(
        "",
        '<g class="derivation" data-relation="{}"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#666" stroke-width="1.5" '
        'marker-end="url(#lineage-arrow)"/><text x="{}" y="{}" font-size="11" fill="#333">{} · {}</text></g>',
        (
            (relation, x1, y1, x2, y2, x2 + 8, (y1 + y2) // 2 + 4, relation, delta)
            for x1, y1, x2, y2, relation, delta in edges
        ),
    )
    node_svg = format_html_join(
        "",
        '<g class="version{}" data-version="{}"><title>{}@{}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="5" fill="{}" stroke="#417690" stroke-width="{}"/>'
        '<text x="{}" y="{}" font-size="12" text-anchor="middle" dominant-baseline="middle">{}</text></g>',
        (
            (
                " this" if this else "",
                f"{step['model']}@{step['version']}",
                step["model"],
                step["version"],
                x,
                y,
                BOX_WIDTH,
                BOX_HEIGHT,
                "#ffe9b3" if this else "#eef4f9",
                3 if this else 1,
                x + BOX_WIDTH // 2,
                y + BOX_HEIGHT // 2,
                _label(step),
            )
            for step, x, y, this in nodes
        ),
    )
    note = format_html('<p class="lineage-hidden">{} earlier ancestors not drawn.</p>', hidden) if hidden else ""
    return format_html(
        '{}<svg class="model-lineage" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="Lineage from the baseline to this version and its derivatives">'
        '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>{}{}</svg>',
        note,
        width,
        height,
        width,
        height,
        edge_svg,
        node_svg,
    )


def delta_table(version) -> SafeString:
    if version.derived_from_id is None:
        return format_html("<p>{}</p>", "A baseline: derived from no other version.")
    if not version.deltas:
        return format_html("<p>{}</p>", "No metric is shared with the parent version.")
    rows = format_html_join(
        "",
        '<tr class="delta" data-metric="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                name,
                name,
                d["parent"],
                d["value"],
                _signed(d["absolute"]),
                f"{d['relative'] * 100:+.2f}%" if d["relative"] is not None else "—",
                f"{d['direction']} is better",
                "improved" if d["improved"] else "worse" if d["absolute"] else "unchanged",
            )
            for name, d in sorted(version.deltas.items())
        ),
    )
    parent = version.derived_from
    return format_html(
        '<p>{} of {}@{}</p><table class="lineage-deltas"><thead><tr><th>metric</th><th>parent</th><th>this version</th>'
        "<th>change</th><th>relative</th><th>direction</th><th>verdict</th></tr></thead><tbody>{}</tbody></table>",
        version.relation,
        parent.model.name,
        parent.version,
        rows,
    )
