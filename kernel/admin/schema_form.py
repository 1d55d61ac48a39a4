"""The register form, generated from the kind's JSON Schema: a structured field per property (text, number,
choice, yes/no, a list of words), a fieldset per object, a repeatable fieldset per array of objects, and a JSON
box only where the schema leaves the shape free (``metadata``, a step's ``config``).

Why our own generator rather than django-jsonform (its React widget renders a schema too): the kinds' schemas are
Draft 2020-12 with ``$defs``, ``if``/``then`` shapes chosen by a field (a policy's rules by its ``type``) and
``null`` in enums, which django-jsonform's widget reads only in part; and the form must show the API's validation
errors beside their fields by JSON Pointer, live, which needs to know where each field is. Here every field
carries its key in the page's structure, and ``registry/schema_form.js`` builds the document from it, asks the
kind's ``validate`` endpoint, and places each error beside the field its ``path`` names (or the nearest one
above). No new dependency, nothing loaded from outside the page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from kernel.api.schema import inline_defs

MAX_DEPTH = 6  # deeper schemas get a JSON box
LONG_TEXT = 300  # strings allowed longer than this get a textarea
# Where registry/schema_form.js puts the errors whose JSON Pointer names this field (or a part of it it lacks).
ERRORS = mark_safe('<ul class="errorlist field-errors" aria-live="polite"></ul>')


def effective_schema(schema: dict, document: dict) -> dict:
    """The kind's schema (``$defs`` inlined) with the ``allOf`` ``if``/``then`` branches that ``document`` meets
    merged in, so a policy of type rbac shows rbac's rule fields."""
    schema = inline_defs(schema)
    for clause in schema.get("allOf", []):
        condition = clause.get("if", {}).get("properties", {})
        wanted = {key: rule["const"] for key, rule in condition.items() if isinstance(rule, dict) and "const" in rule}
        if wanted and all(document.get(key) == value for key, value in wanted.items()) and "then" in clause:
            schema = _merged(schema, clause["then"])
    return schema


def _merged(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _types(node: dict) -> set[str]:
    declared = node.get("type")
    return set(declared) if isinstance(declared, list) else {declared} if declared else set()


def field_kind(node: dict, depth: int) -> str:
    """How a schema node is edited: object, array (of objects), enum, boolean, integer, number, string, list (of
    words) or json (anything whose shape the schema leaves open)."""
    types = _types(node) - {"null"}
    if "enum" in node:
        return "enum"
    if types == {"object"} and node.get("properties") and depth < MAX_DEPTH:
        return "object"
    if types == {"array"}:
        items = node.get("items", {})
        if _types(items) == {"object"} and items.get("properties") and depth < MAX_DEPTH:
            return "array"
        if _types(items) - {"null"} == {"string"} and "enum" not in items:
            return "list"
        return "json"
    if len(types) == 1 and types <= {"boolean", "integer", "number", "string"}:
        return types.pop()
    return "json"


def _field_id(pointer: str) -> str:
    return "field" + re.sub(r"[^A-Za-z0-9_]", "-", pointer)  # as registry/schema_form.js renumbers them


def render_fields(schema: dict, document: dict) -> SafeString:
    """The fields of ``schema``'s properties, filled with ``document``'s values."""
    return _members(schema, document if isinstance(document, dict) else {}, "", 0)


def _members(node: dict, value: dict, pointer: str, depth: int) -> SafeString:
    required = set(node.get("required", []))
    return format_html_join(
        "",
        "{}",
        (
            (_field(key, child, value.get(key), f"{pointer}/{key}", key in required, depth + 1),)
            for key, child in node.get("properties", {}).items()
            if isinstance(child, dict)
        ),
    )


def _field(key: str, node: dict, value: Any, pointer: str, required: bool, depth: int) -> SafeString:
    kind = field_kind(node, depth)
    help_text = node.get("description", "")
    errors = ERRORS
    if kind == "object":
        return format_html(
            '<fieldset class="schema-object" data-key="{}" data-kind="object" data-container>'
            "<legend>{}{}</legend>{}{}{}</fieldset>",
            key,
            key,
            " (required)" if required else "",
            errors,
            _help(help_text),
            _members(node, value if isinstance(value, dict) else {}, pointer, depth),
        )
    if kind == "array":
        items = value if isinstance(value, list) else []
        item_schema = node["items"]
        rendered = format_html_join(
            "",
            "{}",
            (
                (_item(item_schema, item if isinstance(item, dict) else {}, depth, f"{key} {number}"),)
                for number, item in enumerate(items, start=1)
            ),
        )
        blank = _item(item_schema, {}, depth, f"new {key} item")
        return format_html(
            '<fieldset class="schema-array" data-key="{}" data-kind="array"><legend>{}{}</legend>{}{}'
            '<div class="schema-items">{}</div><template class="schema-blank">{}</template>'
            '<button type="button" class="button schema-add">Add to {}</button></fieldset>',
            key,
            key,
            " (required)" if required else "",
            errors,
            _help(help_text),
            rendered,
            blank,
            key,
        )
    field_id = _field_id(pointer)
    return format_html(
        '<div class="schema-field" data-key="{}" data-kind="{}"><label for="{}"{}>{}</label>{}{}{}</div>',
        key,
        kind,
        field_id,
        mark_safe(' class="required"') if required else "",
        key,
        _input(kind, node, value, field_id, required),
        errors,
        _help(help_text),
    )


def _item(node: dict, value: dict, depth: int, label: str) -> SafeString:
    return format_html(
        '<fieldset class="schema-item" data-item data-container><legend>{}</legend>{}{}'
        '<button type="button" class="button schema-remove">Remove {}</button></fieldset>',
        label,
        ERRORS,
        _members(node, value, "", depth),
        label,
    )


def _help(text: str) -> SafeString:
    return format_html('<p class="help">{}</p>', text) if text else mark_safe("")


def _input(kind: str, node: dict, value: Any, field_id: str, required: bool) -> SafeString:
    if kind == "enum":
        choices = node["enum"]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (
                    json.dumps(choice),
                    mark_safe(" selected") if value == choice and value is not None else "",
                    "none" if choice is None else choice,
                )
                for choice in choices
            ),
        )
        empty = format_html('<option value=""{}>–</option>', mark_safe(" selected") if value is None else "")
        return format_html('<select id="{}" data-input>{}{}</select>', field_id, empty, options)
    if kind == "boolean":
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (text, mark_safe(" selected") if value is choice else "", label)
                for text, choice, label in (("", None, "–"), ("true", True, "yes"), ("false", False, "no"))
            ),
        )
        return format_html('<select id="{}" data-input>{}</select>', field_id, options)
    if kind in ("integer", "number"):
        shown = "" if value is None or isinstance(value, bool) else value
        bounds = format_html_join(
            "",
            ' {}="{}"',
            (
                (attr, node[key])
                for key, attr in (("minimum", "min"), ("maximum", "max"))
                if isinstance(node.get(key), int | float)
            ),
        )
        return format_html(
            '<input type="number" id="{}" value="{}" step="{}"{} data-input>',
            field_id,
            shown,
            "1" if kind == "integer" else "any",
            bounds,
        )
    if kind == "list":
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else ""
        return format_html(
            '<input type="text" id="{}" value="{}" data-input placeholder="comma-separated">', field_id, shown
        )
    if kind == "json":
        shown = "" if value is None else json.dumps(value, indent=2)
        return format_html(
            '<textarea id="{}" rows="{}" data-input placeholder="JSON">{}</textarea>',
            field_id,
            min(max(shown.count("\n") + 1, 2), 12),
            shown,
        )
    shown = value if isinstance(value, str) else ("" if value is None else str(value))
    if (node.get("maxLength") or 0) > LONG_TEXT:
        return format_html('<textarea id="{}" rows="3" data-input>{}</textarea>', field_id, shown)
    return format_html(
        '<input type="text" id="{}" value="{}" data-input{}>',
        field_id,
        shown,
        mark_safe(" required") if required else "",
    )
