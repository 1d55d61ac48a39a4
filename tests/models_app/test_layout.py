"""The app's imports go one way: the behaviour (artifacts, lineage, attestations, retention, validation) imports the
models, and importing the models pulls in none of it (README.md, Layout)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from tests.servers import ROOT

# Run in a fresh interpreter: django.setup() imports every app's models, and the admin's autodiscovery then imports
# the behaviour for good reasons, so what the models pulled in is recorded while models_app.models itself executes.
WATCH_THE_MODELS_IMPORT = """
import importlib.machinery, json, sys

class Watch:
    pulled = None

    def find_spec(self, name, path, target=None):
        if name != "models_app.models":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        execute = spec.loader.exec_module

        def exec_module(module):
            before = set(sys.modules)
            execute(module)
            Watch.pulled = sorted(set(sys.modules) - before)

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Watch())
import django

django.setup()
print("PULLED " + json.dumps(Watch.pulled))
"""


def modules_pulled_in_by_importing_the_models() -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "registry_project.settings"}
    result = subprocess.run(
        [sys.executable, "-c", WATCH_THE_MODELS_IMPORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("PULLED "))
    pulled = json.loads(line.removeprefix("PULLED "))
    assert pulled is not None, "django.setup() did not import models_app.models"
    return pulled


def test_importing_the_models_pulls_in_no_behaviour_module():
    own = [name for name in modules_pulled_in_by_importing_the_models() if name.startswith("models_app.")]
    allowed = ("models_app.models.", "models_app.choices")
    assert [name for name in own if not name.startswith(allowed)] == []
    # The package's own modules did load (the watch saw the real import, not an empty one).
    assert "models_app.models.model" in own


def module_level_imports(path, package: str) -> set[str]:
    """The app's modules a file imports when it is imported (not inside functions, not for type checking only)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for statement in ast.walk(node):
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
            if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith(package):
                for alias in statement.names:
                    submodule = f"{statement.module}.{alias.name}"
                    found.add(submodule if module_path(submodule) else statement.module)
            elif isinstance(statement, ast.Import):
                found.update(alias.name for alias in statement.names if alias.name.startswith(package))
    return found


def module_path(name: str):
    base = ROOT.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)


def test_the_apps_modules_import_each_other_without_a_cycle():
    app = ROOT / "models_app"
    graph = {}
    for path in app.rglob("*.py"):
        if "migrations" not in path.parts:
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            graph[name] = module_level_imports(path, "models_app.")
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append(trail[trail.index(name) :] + [name])
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*trail, name])

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []
