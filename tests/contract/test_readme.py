"""The documentation runs top to bottom: the curl examples and manage.py commands of README.md and of every page
of the documentation site (mkdocs.yml's nav, in nav order, after the README), against a server started the way
``make run`` starts it (a fresh SQLite database, the examples loaded, the admin's key). Later examples rely on
earlier ones (a version registered before it is activated), so the order is that of the reading."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.contract.readme import blocks, curl_examples, documented_files, examples, manage_py_commands

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
# Interactive, or the server itself: not run here.
NOT_RUN = ("createsuperuser", "changepassword", "runserver")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def make_run_server():
    """What `make run` does, with what its .env holds (DEBUG=true, a generated SECRET_KEY), on a free port."""
    workdir = tempfile.mkdtemp(prefix="readme-")
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DEBUG="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        REGISTRY_IGNORE_DOTENV="1",
        DATABASE_URL=f"sqlite:///{workdir}/db.sqlite3",
        ADMIN_PASSWORD="",
        PYTHONUNBUFFERED="1",
    )
    env.pop("ADMIN_PASSWORD")
    host = f"http://127.0.0.1:{port}"
    for args in (("migrate", "--verbosity", "0"), ("load_examples",)):
        done = _manage(env, *args)
        assert done.returncode == 0, done.stderr
    bootstrap = _manage(env, "bootstrap_admin", "--base-url", host)
    assert host in bootstrap.stdout, bootstrap.stdout
    key = re.search(r"API key:\s+(\S+)", bootstrap.stdout).group(1)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{host}/health/live", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        yield {"HOST": host, "KEY": key, "env": env}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_readme_has_curl_examples_for_every_kind():
    urls = " ".join(c.text for c in curl_examples(README))
    for path in ("/api/v1/models", "/api/v1/pipelines", "/api/v1/policies/evaluate"):
        assert path in urls


def test_every_page_of_the_docs_is_in_the_nav_so_its_examples_run():
    """A page left out of mkdocs.yml's nav would have its examples silently skipped (mkdocs --strict refuses it
    too, through validation.nav.omitted_files)."""
    listed = set(documented_files(ROOT))
    pages = {str(path.relative_to(ROOT)) for path in DOCS.rglob("*.md")}
    assert pages - listed == set()
    assert len(examples(ROOT, curl_examples)) > len(curl_examples(README))


def test_documented_curl_examples_answer_as_documented(make_run_server):
    variables = {"HOST": make_run_server["HOST"], "KEY": make_run_server["KEY"]}
    failures = []
    for command in examples(ROOT, curl_examples):
        argv = command.argv(variables)
        done = subprocess.run(
            [*argv, "-sS", "-o", "/dev/stdout", "-w", "\n%{http_code}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        body, _, status = done.stdout.rpartition("\n")
        status = int(status or 0)
        ok = status == command.expected_status if command.expected_status else 200 <= status < 300
        if not ok:
            expected = command.expected_status or "2xx"
            failures.append(f"{command.where}: expected {expected}, got {status}: {command.text}\n    {body[:300]}")
    assert not failures, "\n".join(failures)


def test_documented_manage_py_commands_work_after_make_run(make_run_server):
    env = make_run_server["env"]
    ran = 0
    for command in examples(ROOT, manage_py_commands):
        argv = command.argv({})
        if any(word in argv for word in NOT_RUN):
            continue
        done = subprocess.run(
            [sys.executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{command.where}: {command.text}\n{done.stderr}"
        ran += 1
    assert ran >= 2


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env["REGISTRY_IGNORE_DOTENV"] = "1"
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr


def test_settings_read_a_dotenv_file_and_the_environment_wins(tmp_path):
    """What `make run` relies on: the generated .env makes DEBUG and SECRET_KEY available to every command."""
    probe = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "REGISTRY_IGNORE_DOTENV")}
    dotenv = ROOT / ".env"
    if dotenv.exists():
        pytest.skip("a developer's own .env is present; not overwriting it")
    dotenv.write_text("DEBUG=true\nSECRET_KEY=from-dotenv\n")
    try:
        from_file = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", probe],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        overridden = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", probe],
            cwd=ROOT,
            env={**env, "SECRET_KEY": "from-env"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        dotenv.unlink()
    assert from_file.stdout.split() == ["True", "from-dotenv"], from_file.stderr
    assert overridden.stdout.split() == ["True", "from-env"], overridden.stderr


def test_no_documented_request_hard_codes_the_port():
    """Every example reaches the server through $HOST (the run above serves on a free port, never 8000): a command
    of any shell block, in README.md or the docs, that names 127.0.0.1:8000 would reach another server or none."""
    files = ["README.md", *documented_files(ROOT)]
    hard_coded = [
        f"{source}:{line + number}"
        for source in files
        for line, body in blocks((ROOT / source).read_text(), ("bash", "sh", "shell", "console"))
        for number, text in enumerate(body.splitlines())
        if "127.0.0.1:8000" in text
        and not text.lstrip().startswith(("#", "export HOST=", "export REGISTRY_URL="))
        and not text.lstrip().startswith("make run")
    ]
    assert hard_coded == []
