"""The `registry` command against a real gunicorn on PostgreSQL, run in-process with click's CliRunner (and once
as a subprocess, the way a CI job runs it): tables for people, --json for scripts, and the exit codes CI branches
on."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.client.conftest import CLIENT_SRC, model_document

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run(registry_url, api_key, tmp_path):
    """run(*args, key=..., url=...) -> click's Result, configured through REGISTRY_URL / REGISTRY_API_KEY."""
    from click.testing import CliRunner
    from registry_client.cli import cli

    def invoke(*args: str, key: str | None = api_key, url: str = registry_url, stdin: str | None = None):
        env = {"REGISTRY_URL": url, "REGISTRY_API_KEY": key, "REGISTRY_CONFIG": str(tmp_path / "none.toml")}
        return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)

    return invoke


def as_json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_register_with_the_old_services_flags_uploads_and_verifies_then_reruns_safely(run, tmp_path):
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(os.urandom(300_000))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    args = ("register", "--name", "cli-model", "--version", "1.0.0", "--artifact", str(weights), "--activate")
    first = as_json(run("--json", *args))
    assert first["document"]["artifact"]["checksum"] == f"sha256:{digest}"
    assert first["document"]["artifact"]["format"] == "safetensors"
    assert first["document"]["is_current"] is True
    assert first["artifact"]["sha256"] == digest and first["artifact"]["sealed"] is True

    again = run(*args)  # a CI job run twice: the same spec and the same bytes are success
    assert again.exit_code == 0, again.output
    assert "already registered cli-model@1.0.0" in again.stdout

    downloaded = tmp_path / "copy.safetensors"
    got = as_json(run("--json", "download", "cli-model", "1.0.0", "weights.safetensors", "-o", str(downloaded)))
    assert got["sha256"] == digest and downloaded.read_bytes() == weights.read_bytes()


def test_a_conflict_exits_5_naming_the_code_and_path(run, tmp_path):
    doc = model_document(name="cli-model")
    assert run("register", write(tmp_path / "m.json", doc)).exit_code == 0
    doc["runtime"] = {"type": "vllm", "dtype": "bfloat16"}
    conflict = run("register", write(tmp_path / "m2.json", doc))
    assert conflict.exit_code == 5
    assert "version_exists" in conflict.stderr and "/version" in conflict.stderr

    scripted = run("--json", "register", str(tmp_path / "m2.json"))
    assert scripted.exit_code == 5
    error = json.loads(scripted.stderr)
    assert error["status"] == 409 and error["errors"][0]["code"] == "version_exists"
    assert error["errors"][0]["details"]["fields"] == ["/runtime/dtype"]

    run("alias", "cli-model", "production", "1.0.0")
    run("register", "-", "--version", "1.1.0", stdin=json.dumps(model_document(name="cli-model")))
    stale = run("alias", "cli-model", "production", "1.1.0", "--if-match", "0.9.0")
    assert stale.exit_code == 5 and "412" in stale.stderr


def test_validate_exits_3_with_every_error_and_its_pointer(run, tmp_path):
    bad = model_document(name="cli-model", version="1.0")
    bad["runtime"]["gpu_memory_utilization"] = 1.5
    result = run("--json", "validate", write(tmp_path / "bad.json", bad))
    assert result.exit_code == 3
    paths = {e["path"] for e in json.loads(result.stdout)["errors"]}
    assert {"/version", "/runtime/gpu_memory_utilization"} <= paths
    human = run("validate", str(tmp_path / "bad.json"))
    assert human.exit_code == 3 and "invalid" in human.stdout and "/runtime/gpu_memory_utilization" in human.stdout
    assert run("validate", write(tmp_path / "ok.json", model_document())).exit_code == 0
    assert run("register", str(tmp_path / "bad.json")).exit_code == 3


def test_reading_commands_tables_and_json(run, tmp_path):
    for version in ("1.0.0", "1.1.0"):
        run("register", write(tmp_path / f"{version}.json", model_document(name="cli-model", version=version)))
    run("register", write(tmp_path / "other.json", model_document(name="other-model")))

    listed = as_json(run("--json", "list", "--all"))
    assert sorted(d["name"] for d in listed) == ["cli-model", "other-model"]
    table = run("list", "--filter", "family=llama")
    assert table.exit_code == 0 and "cli-model" in table.stdout and "1.1.0" in table.stdout
    assert [d["name"] for d in as_json(run("--json", "search", "other"))] == ["other-model"]
    assert as_json(run("--json", "get", "cli-model", "1.0.0"))["version"] == "1.0.0"
    assert "description" in run("get", "cli-model").stdout
    assert [d["version"] for d in as_json(run("--json", "versions", "cli-model"))] == ["1.1.0", "1.0.0"]
    found = as_json(run("--json", "diff", "models", "cli-model", "--from", "1.0.0", "--to", "1.1.0"))
    assert (found["from"]["version"], found["to"]["version"]) == ("1.0.0", "1.1.0")
    assert [(c["from"], c["to"]) for c in found["changed"]] == [("cli-model/1.0.0", "cli-model/1.1.0")]
    shown = run("diff", "cli-model", "1.0.0", "1.1.0").stdout  # the positional form, kind models by default
    assert "cli-model@1.0.0 -> cli-model@1.1.0" in shown and "/artifact/path" in shown

    assert as_json(run("--json", "activate", "cli-model", "1.1.0"))["is_current"] is True
    assert as_json(run("--json", "deprecate", "cli-model", "1.0.0"))["status"] == "deprecated"
    assert as_json(run("--json", "alias", "cli-model", "production", "1.1.0"))["version"] == "1.1.0"
    assert "cli-model@production -> 1.1.0" in run("alias", "cli-model", "production").stdout
    assert len(as_json(run("--json", "alias", "cli-model", "production", "--history"))) == 1
    assert as_json(run("--json", "stats", "--refresh"))["models"]
    assert run("stats").exit_code == 0

    exported = tmp_path / "export.jsonl"
    assert run("export", "--kind", "models", "-o", str(exported)).exit_code == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert sorted((x["document"]["name"], x["document"]["version"]) for x in lines) == [
        ("cli-model", "1.0.0"),
        ("cli-model", "1.1.0"),
        ("other-model", "1.0.0"),
    ]


def test_upload_download_and_offline_verify(run, tmp_path):
    run("register", write(tmp_path / "a.json", model_document(name="cli-model", metrics={"accuracy": 0.7})))
    child = model_document(
        name="cli-model",
        version="1.1.0",
        metrics={"accuracy": 0.9},
        derived_from={"model": "cli-model", "version": "1.0.0", "relation": "finetune"},
    )
    run("register", write(tmp_path / "b.json", child))
    config = tmp_path / "config.json"
    config.write_text('{"layers": 32}')
    uploaded = as_json(run("--json", "upload", "cli-model", "1.1.0", str(config), "--seal"))
    assert uploaded["sha256"] == hashlib.sha256(config.read_bytes()).hexdigest() and uploaded["sealed_set"]
    assert "verified" in run("download", "cli-model", "1.1.0", "config.json", "-o", str(tmp_path / "c.json")).stdout

    attestation, keys = tmp_path / "attestation.json", tmp_path / "keys.json"
    assert run("attestation", "cli-model", "1.1.0", "-o", str(attestation)).exit_code == 0
    assert run("keys", "-o", str(keys)).exit_code == 0
    offline = run("verify", str(attestation), "--keys", str(keys), url="http://127.0.0.1:9")  # no registry needed
    assert offline.exit_code == 0 and "valid" in offline.stdout
    assert as_json(run("--json", "verify", str(attestation)))["valid"] is True  # keys fetched from the registry

    document = json.loads(attestation.read_text())
    statement = json.loads(base64.b64decode(document["envelope"]["payload"]))
    statement["predicate"]["relation"] = "merge"
    document["envelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    tampered = run("verify", write(tmp_path / "tampered.json", document), "--keys", str(keys))
    assert tampered.exit_code == 8 and "NOT valid" in tampered.stdout
    wrong_file = run("verify", str(attestation), "--keys", str(keys), "--artifact", str(config))
    assert wrong_file.exit_code == 8  # the statement's subject is not this file


def test_exit_codes_for_not_found_unauthorised_unreachable_and_usage(run, tmp_path):
    assert run("get", "no-such-model").exit_code == 4
    assert run("get", "no-such-model", key="not-a-key").exit_code == 6
    assert run("--retries", "1", "list", url="http://127.0.0.1:9").exit_code == 7
    assert run("register").exit_code == 2
    assert run("list", "--limit", "1000").exit_code == 2
    assert run("--profile", "staging", "list").exit_code == 2  # no profile file

    profile = tmp_path / "config.toml"
    profile.write_text('[staging]\nurl = "http://127.0.0.1:9"\napi_key_env = "STAGING_KEY"\n')
    from click.testing import CliRunner
    from registry_client.cli import cli

    shown = CliRunner().invoke(
        cli, ["--profile", "staging", "config"], env={"REGISTRY_CONFIG": str(profile), "STAGING_KEY": "k"}
    )
    assert json.loads(shown.stdout) == {
        "url": "http://127.0.0.1:9",
        "source": f"profile [staging] of {profile}",
        "profile": "staging",
        "api_key": True,
    }
    assert "_REGISTRY_COMPLETE" in run("completion", "bash").stdout


def test_the_command_runs_as_a_program_with_help_and_version():
    env = {**os.environ, "PYTHONPATH": str(CLIENT_SRC)}
    helped = subprocess.run(
        [sys.executable, "-m", "registry_client", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert helped.returncode == 0 and "Exit codes" in helped.stdout and "register" in helped.stdout
    version = subprocess.run(
        [sys.executable, "-m", "registry_client", "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert version.returncode == 0 and "registry-client 1.0.0 (API 1.0)" in version.stdout


def test_register_a_document_with_an_artifact_declares_it_and_other_kinds_take_kind(run, tmp_path):
    weights = tmp_path / "adapter.bin"
    weights.write_bytes(b"\x00\x01" * 5000)
    done = as_json(run("--json", "register", write(tmp_path / "m.json", model_document()), "--artifact", str(weights)))
    declared = done["document"]["artifact"]["files"]["adapter.bin"]
    assert declared == {"size_bytes": 10000, "checksum": "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()}
    assert done["artifact"]["sealed"] is True

    pipeline = {"name": "cli-pipeline", "version": "1.0.0", "steps": [{"id": "only", "type": "custom"}]}
    assert run("register", "--kind", "pipelines", write(tmp_path / "p.json", pipeline)).exit_code == 0
    assert [p["name"] for p in as_json(run("--json", "list", "--kind", "pipelines"))] == ["cli-pipeline"]
    assert run("register", "--kind", "pipelines", "--name", "x", "--version", "1.0.0").exit_code == 2


def test_a_terminal_gets_a_progress_bar_on_stderr(run, tmp_path, monkeypatch):
    import io

    from registry_client import cli as cli_module
    from rich.console import Console

    terminal = io.StringIO()
    monkeypatch.setattr(cli_module, "err", Console(file=terminal, force_terminal=True, width=100))
    run("register", write(tmp_path / "m.json", model_document()))
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(3 * 1024 * 1024))
    assert run("upload", "client-test-model", "1.0.0", str(weights)).exit_code == 0
    assert "upload weights.bin" in terminal.getvalue() and "3.1 MB" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    assert run("--json", "upload", "client-test-model", "1.0.0", str(weights)).exit_code == 0
    assert terminal.getvalue() == ""  # never in --json mode
