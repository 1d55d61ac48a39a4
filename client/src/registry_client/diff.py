"""The difference between two documents as JSON Pointer entries, computed locally for a registry older than its
own diff endpoint (``GET /api/v1/{kind}/{name}/diff``, which ``Definitions.diff`` asks first). Server-managed
fields and the version number are left out, as the endpoint leaves them: they differ between any two versions and
say nothing about the spec."""

from __future__ import annotations

from typing import Any

SERVER_MANAGED = frozenset(
    {
        "id",
        "name",
        "version",
        "status",
        "active",
        "is_current",
        "aliases",
        "created_at",
        "updated_at",
        "warnings",
        "stored_artifacts",
        "storage_tier",
        "archived_at",
        "purged_at",
    }
)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def diff_documents(before: Any, after: Any, *, ignore: frozenset[str] = SERVER_MANAGED) -> dict[str, list[dict]]:
    """``{"changed": [{path, from, to}], "added": [{path, value}], "removed": [{path, value}]}``."""
    out: dict[str, list[dict]] = {"changed": [], "added": [], "removed": []}

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if not path and key in ignore:
                    continue
                child = f"{path}/{_escape(str(key))}"
                if key not in b:
                    out["removed"].append({"path": child, "value": a[key]})
                elif key not in a:
                    out["added"].append({"path": child, "value": b[key]})
                else:
                    walk(a[key], b[key], child)
        elif a != b or type(a) is not type(b):
            out["changed"].append({"path": path or "/", "from": a, "to": b})

    walk(before, after, "")
    return out
