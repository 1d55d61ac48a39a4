"""The ``registry`` command: the client for people (tables, progress bars) and scripts (``--json``, exit codes).

Exit codes (``EXIT_CODES``), so that CI can branch on the outcome:

    0  ok
    1  any other error (an unexpected answer, a 5xx other than 503)
    2  usage: a wrong option or argument, a missing setting
    3  invalid: the document or a parameter was refused (400), or `validate` found errors
    4  not found (404)
    5  conflict: the version exists with another spec, immutable, archived, in use, sealed (409);
       an alias moved by someone else (412); an Idempotency-Key reused with another request
    6  unauthorised or forbidden (401, 403): no key, a bad or revoked key, a read-only key writing
    7  unavailable: still rate limited (429) or unavailable (503) after the retries, or no connection
    8  integrity: a digest differs from the registry's, or an attestation does not verify
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from . import attestations as _attestations
from ._http import RetryPolicy
from .artifacts import file_digests
from .client import RegistryClient
from .config import ConfigError, resolve
from .errors import (
    Conflict,
    DigestMismatch,
    Forbidden,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    RateLimited,
    RegistryError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    VerificationFailed,
)
from .version import SUPPORTED_API_VERSIONS, __version__

OK, ERROR, USAGE, INVALID, NOT_FOUND, CONFLICT, UNAUTHORISED, UNAVAILABLE, INTEGRITY = range(9)
EXIT_CODES = {
    OK: "ok",
    ERROR: "any other error",
    USAGE: "usage: a wrong option or argument, a missing setting",
    INVALID: "invalid document or parameter (400), or `validate` found errors",
    NOT_FOUND: "not found (404)",
    CONFLICT: "conflict (409), precondition failed (412), Idempotency-Key reused",
    UNAUTHORISED: "unauthorised or forbidden (401, 403)",
    UNAVAILABLE: "rate limited (429) or unavailable (503) after retries, or no connection",
    INTEGRITY: "a digest differs, or an attestation does not verify",
}
KINDS = ("models", "pipelines", "policies")
FORMATS = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    ".pt": "pt",
    ".pth": "pt",
    ".bin": "bin",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
    ".ggml": "ggml",
}

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def exit_code_for(exc: Exception) -> int:
    if isinstance(exc, DigestMismatch | VerificationFailed):
        return INTEGRITY
    if isinstance(exc, InvalidRequest):
        return INVALID
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, Conflict | IdempotencyKeyReused):
        return CONFLICT
    if isinstance(exc, Unauthorized | Forbidden):
        return UNAUTHORISED
    if isinstance(exc, RateLimited | ServiceUnavailable | TransportError):
        return UNAVAILABLE
    return ERROR


class State:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        profile: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
    ):
        self.url, self.api_key, self.profile = url, api_key, profile
        self.timeout, self.retries = timeout, retries
        self.as_json = False
        self._client: RegistryClient | None = None

    @property
    def client(self) -> RegistryClient:
        if self._client is None:
            try:
                settings = resolve(self.url, self.api_key, self.profile)
            except ConfigError as exc:
                fail(str(exc), USAGE)
            self._client = RegistryClient(
                settings.url, settings.api_key, timeout=self.timeout, retry=RetryPolicy(attempts=self.retries)
            )
        return self._client


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


def report_error(exc: RegistryError, as_json: bool) -> NoReturn:
    code = exit_code_for(exc)
    if as_json:
        body: dict[str, Any] = {"error": exc.__class__.__name__, "status": exc.status, "message": exc.message}
        body["errors"] = [
            {"code": e.code, "message": e.message, "path": e.path, "parameter": e.parameter, "details": e.details}
            for e in exc.errors
        ]
        if isinstance(exc, DigestMismatch):
            body.update(expected=exc.expected, actual=exc.actual)
        click.echo(json.dumps(body, indent=2), err=True)
        sys.exit(code)
    status = f" ({exc.status})" if exc.status else ""
    err.print(f"[bold red]error{status}:[/] {exc.__class__.__name__}", highlight=False)
    if exc.errors:
        for e in exc.errors:
            where = f" at [cyan]{e.where}[/]" if e.where else ""
            err.print(f"  [yellow]{e.code}[/]{where}: {e.message}", highlight=False)
    else:
        err.print(f"  {exc.message}", highlight=False)
    sys.exit(code)


@contextmanager
def api_errors(state: State) -> Iterator[None]:
    try:
        yield
    except RegistryError as exc:
        report_error(exc, state.as_json)


def emit(state: State, data: Any, human: Callable[[], None] | None = None) -> None:
    if state.as_json or human is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def table(columns: Iterable[str], rows: Iterable[Iterable[Any]], title: str | None = None) -> None:
    t = Table(*columns, title=title, header_style="bold", title_justify="left")
    for row in rows:
        t.add_row(*(cell(v) for v in row))
    out.print(t)


def load_document(path: str) -> dict[str, Any]:
    """A JSON document (``-`` for stdin); YAML when the file ends in .yaml/.yml and PyYAML is installed."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            fail("Reading YAML needs PyYAML: pip install 'registry-client[yaml]'.", USAGE)
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            fail(f"{path} is not JSON: {exc}", INVALID)
    if not isinstance(data, dict):
        fail(f"{path} does not hold a JSON object.", INVALID)
    return data


@contextmanager
def progress_bar(state: State, description: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on stderr when it is a terminal (never in --json mode or in a pipe)."""
    if state.as_json or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def kind_option(f: Callable) -> Callable:
    return click.option(
        "--kind",
        "-k",
        type=click.Choice(KINDS),
        default="models",
        show_default=True,
        help="Which kind of definition.",
    )(f)


def json_option(f: Callable) -> Callable:
    def set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.ensure_object(State).as_json = True

    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=set_json,
        help="Print JSON (for scripts) instead of tables.",
    )(f)


class Group(click.Group):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        with formatter.section("Exit codes"):
            formatter.write_dl([(str(code), text) for code, text in EXIT_CODES.items()])
        with formatter.section("Configuration"):
            formatter.write_text(
                "REGISTRY_URL and REGISTRY_API_KEY, or a profile in $REGISTRY_CONFIG "
                "(default ~/.config/registry/config.toml) chosen with --profile / REGISTRY_PROFILE. "
                'Shell completion: eval "$(registry completion bash)" (or zsh, fish).'
            )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="REGISTRY_URL", help="The registry's base URL [env REGISTRY_URL].", metavar="URL")
@click.option("--api-key", envvar="REGISTRY_API_KEY", help="An API key [env REGISTRY_API_KEY].", metavar="KEY")
@click.option("--profile", envvar="REGISTRY_PROFILE", help="A profile of the profile file [env REGISTRY_PROFILE].")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per request.")
@click.option(
    "--retries",
    type=click.IntRange(1, 20),
    default=5,
    show_default=True,
    help="Attempts per request (429, 503, dropped connections).",
)
@json_option
@click.version_option(
    __version__, "--version", "-V", message=f"registry-client %(version)s (API {SUPPORTED_API_VERSIONS[0]})"
)
@click.pass_context
def cli(
    ctx: click.Context, url: str | None, api_key: str | None, profile: str | None, timeout: float, retries: int
) -> None:
    """Register, find, move and verify models, pipelines and policies in an ML registry."""
    state = ctx.ensure_object(State)
    state.url, state.api_key, state.profile, state.timeout, state.retries = url, api_key, profile, timeout, retries
    state._client = None
    ctx.call_on_close(lambda: state._client and state._client.close())


pass_state = click.make_pass_decorator(State, ensure=True)


def main() -> None:
    cli(obj=State())


# Definitions


def model_document_from_flags(
    name: str, version: str, artifact: Path | None, fmt: str | None, runtime: str, bucket: str
) -> dict[str, Any]:
    """The earlier lifecycle service's ``register --name --version --artifact``: a model document declaring the
    file (size and SHA-256), so that the registry checks the upload against it and seals the file."""
    doc: dict[str, Any] = {"name": name, "version": version, "runtime": {"type": runtime}}
    if artifact is None:
        doc["artifact"] = {"bucket": bucket, "path": f"{name}/{version}", "format": fmt or "bin"}
        return doc
    digests = file_digests(artifact)
    doc["artifact"] = {
        "bucket": bucket,
        "path": f"{name}/{version}/{artifact.name}",
        "format": fmt or FORMATS.get(artifact.suffix.lower(), "bin"),
        "size_bytes": digests["size"],
        "checksum": f"sha256:{digests['sha256']}",
    }
    return doc


def declare_artifact(doc: dict[str, Any], artifact: Path) -> None:
    """A document registered with --artifact declares the file by size and SHA-256 (unless it already does), so
    that the registry checks the upload against the declaration and seals the file."""
    block = doc.get("artifact")
    if not isinstance(block, dict):
        return
    files = block.get("files") if isinstance(block.get("files"), dict) else None
    if files is not None and artifact.name in files:
        return
    names_path = str(block.get("path", "")).rsplit("/", 1)[-1] == artifact.name
    if names_path and (block.get("checksum") or block.get("size_bytes") is not None):
        return
    digests = file_digests(artifact)
    declared = {"size_bytes": digests["size"], "checksum": f"sha256:{digests['sha256']}"}
    if names_path:
        block.update(declared)
    else:
        block.setdefault("files", {})[artifact.name] = declared


def print_issues(title: str, issues: list[dict[str, Any]], style: str) -> None:
    """One line per issue (code, JSON Pointer, message): readable in a terminal and greppable in a CI log."""
    if issues:
        out.print(f"[{style}]{title}:[/]", highlight=False)
    for issue in issues:
        where = issue.get("path") or issue.get("parameter")
        at = f" at [cyan]{where}[/]" if where else ""
        out.print(f"  [{style}]{issue.get('code')}[/]{at}: {issue.get('message')}", highlight=False)


@cli.command()
@click.argument("document", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@kind_option
@click.option("--name", help="The model's name (with --version: no document needed).")
@click.option("--version", "version_", metavar="X.Y.Z", help="The version to register.")
@click.option(
    "--artifact",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file to upload to the version after registering it (declared in the document by size and SHA-256).",
)
@click.option("--format", "fmt", help="artifact.format (default: from the file's extension).")
@click.option("--runtime", default="custom", show_default=True, help="runtime.type (without a document).")
@click.option("--bucket", default="registry", show_default=True, help="artifact.bucket (without a document).")
@click.option("--activate", is_flag=True, help="Make the registered version current.")
@json_option
@pass_state
def register(
    state: State,
    document: str | None,
    kind: str,
    name: str | None,
    version_: str | None,
    artifact: Path | None,
    fmt: str | None,
    runtime: str,
    bucket: str,
    activate: bool,
) -> None:
    """Register a version from DOCUMENT (JSON, or - for stdin), or from --name/--version [--artifact PATH].

    Registering the same spec again answers the stored version (a retry is safe); another spec under the same
    number is a conflict (exit 5)."""
    if document:
        doc = load_document(document)
        if name:
            doc["name"] = name
        if version_:
            doc["version"] = version_
        if artifact is not None and kind == "models":
            declare_artifact(doc, artifact)
    else:
        if not (name and version_):
            raise click.UsageError("Give a DOCUMENT, or --name and --version (and usually --artifact).")
        if kind != "models":
            raise click.UsageError("--name/--version build a model document; give a DOCUMENT for other kinds.")
        doc = model_document_from_flags(name, version_, artifact, fmt, runtime, bucket)
    if artifact is not None and kind != "models":
        raise click.UsageError("--artifact uploads a model version's file; only models hold files.")
    resource = state.client.kind(kind)
    with api_errors(state):
        registered = resource.register(doc)
        result: dict[str, Any] = {"document": registered}
        if artifact is not None:
            with progress_bar(state, f"upload {artifact.name}") as bar:
                uploaded = state.client.models.upload(registered["name"], registered["version"], artifact, progress=bar)
            result["artifact"] = uploaded.file
        if activate:
            result["document"] = resource.activate(registered["name"], registered["version"])

    def human() -> None:
        d = result["document"]
        retry = any(w.get("code") == "already_registered" for w in registered.get("warnings") or [])
        verb = "already registered" if retry else "registered"
        out.print(
            f"{verb} [bold]{d['name']}@{d['version']}[/] ({d.get('status')}{', current' if d.get('is_current') else ''})"
        )
        print_issues(
            "warnings", [w for w in registered.get("warnings") or [] if w.get("code") != "already_registered"], "yellow"
        )
        if "artifact" in result:
            a = result["artifact"]
            out.print(f"uploaded {a['filename']}: {a['size']} bytes, sha256 {a['sha256']} (verified)")

    emit(state, result, human)


@cli.command()
@click.argument("document", type=click.Path(dir_okay=False, allow_dash=True))
@kind_option
@json_option
@pass_state
def validate(state: State, document: str, kind: str) -> None:
    """Validate DOCUMENT without saving it: every error with its JSON Pointer (exit 3 when invalid)."""
    doc = load_document(document)
    with api_errors(state):
        report = state.client.kind(kind).validate(doc)

    def human() -> None:
        out.print("[green]valid[/]" if report.get("valid") else "[red]invalid[/]")
        print_issues("errors", report.get("errors") or [], "red")
        print_issues("warnings", report.get("warnings") or [], "yellow")

    emit(state, report, human)
    if not report.get("valid"):
        sys.exit(INVALID)


def list_rows(kind: str, docs: list[dict[str, Any]]) -> None:
    extra = {"models": "family", "pipelines": "steps", "policies": "type"}[kind]
    table(
        ["name", "version", "status", "current", extra, "updated"],
        (
            [
                d.get("name"),
                d.get("version"),
                d.get("status"),
                d.get("is_current"),
                len(d.get("steps") or []) if extra == "steps" else d.get(extra),
                d.get("updated_at"),
            ]
            for d in docs
        ),
    )


def filters_from(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--filter")
        found[key] = value
    return found


def list_definitions(state: State, kind: str, limit: int, every: bool, filters: dict[str, Any]) -> None:
    resource = state.client.kind(kind)
    filters = {k: v for k, v in filters.items() if v not in (None, ())}
    with api_errors(state):
        if every:
            docs = list(resource.iter(**filters))
            count: int | None = len(docs)
        else:
            page = resource.list(limit=limit, **filters)
            docs, count = page.results, page.count
    emit(state, docs, lambda: (list_rows(kind, docs), out.print(f"{len(docs)} of {count} shown", style="dim")))


@cli.command("list")
@kind_option
@click.option("--search", "-s", help="Full-text search.")
@click.option("--tag", help="A version's or definition's tag.")
@click.option("--family", help="Models: the family.")
@click.option("--status", type=click.Choice(["active", "deprecated", "archived"]))
@click.option("--filter", "-f", "extra", multiple=True, metavar="KEY=VALUE", help="Any filter the endpoint takes.")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--all", "every", is_flag=True, help="Every page, not only the first.")
@json_option
@pass_state
def list_(state: State, kind: str, search, tag, family, status, extra, limit, every) -> None:
    """The latest version of each definition."""
    filters = {"search": search, "tag": tag, "family": family, "status": status, **filters_from(extra)}
    list_definitions(state, kind, limit, every, filters)


@cli.command()
@click.argument("text")
@kind_option
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--all", "every", is_flag=True, help="Every page, not only the first.")
@json_option
@pass_state
def search(state: State, text: str, kind: str, limit: int, every: bool) -> None:
    """Definitions matching TEXT (name, description, tags)."""
    list_definitions(state, kind, limit, every, {"search": text})


@cli.command()
@click.argument("name")
@click.argument("version", required=False)
@kind_option
@json_option
@pass_state
def get(state: State, name: str, version: str | None, kind: str) -> None:
    """One version's document: the latest, or VERSION (a number, latest, current or @alias)."""
    with api_errors(state):
        doc = state.client.kind(kind).get(name, version)
    emit(state, doc, lambda: table(["field", "value"], sorted(doc.items()), title=f"{name}@{doc.get('version')}"))


@cli.command()
@click.argument("name")
@kind_option
@json_option
@pass_state
def versions(state: State, name: str, kind: str) -> None:
    """Every version of NAME, newest first."""
    with api_errors(state):
        docs = list(state.client.kind(kind).versions(name))
    emit(
        state,
        docs,
        lambda: table(
            ["version", "status", "current", "aliases", "created"],
            (
                [d.get("version"), d.get("status"), d.get("is_current"), d.get("aliases"), d.get("created_at")]
                for d in docs
            ),
            title=name,
        ),
    )


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("words", metavar="[KIND] NAME [FROM] [TO]", nargs=-1, required=True)
@click.option("--from", "from_option", metavar="VERSION", help="The version compared from (FROM).")
@click.option("--to", "to_option", metavar="VERSION", help="The version compared to (TO).")
@kind_option
@json_option
@pass_state
def diff(state: State, words: tuple[str, ...], from_option: str | None, to_option: str | None, kind: str) -> None:
    """What changed between two versions, field by field (JSON Pointers), and for models the metric deltas and
    where the two sit in lineage: `registry diff models NAME --from 1.0.0 --to 1.1.0` (or `registry diff NAME 1.0.0
    1.1.0`). With TO alone, a model version is compared with the version it derives from."""
    words = list(words)
    if len(words) > 1 and words[0] in KINDS:
        kind = words.pop(0)
    if not words or len(words) > 3:
        fail("diff takes [KIND] NAME [FROM] [TO] (or --from and --to).", USAGE)
    name, versions = words[0], words[1:]
    if len(versions) == 1:
        versions = [None, *versions]  # TO alone: against the version it derives from
    from_version = from_option or (versions[0] if versions else None)
    to_version = to_option or (versions[1] if len(versions) > 1 else None)
    if to_version is None:
        fail("diff needs the version to compare to: TO or --to.", USAGE)
    with api_errors(state):
        found = state.client.kind(kind).diff(name, from_version, to_version)
    emit(state, found, lambda: show_diff(found))


def show_diff(found: dict[str, Any]) -> None:
    before, after = found["from"], found["to"]
    label = lambda side: f"{side.get('name')}@{side.get('version')}"  # noqa: E731
    rows = (
        [["changed", c["path"], c["from"], c["to"]] for c in found["changed"]]
        + [["added", c["path"], None, c["value"]] for c in found["added"]]
        + [["removed", c["path"], c["value"], None] for c in found["removed"]]
    )
    table(["", "path", label(before), label(after)], rows, title=f"{label(before)} -> {label(after)}")
    if found.get("truncated"):
        out.print("(more fields differ than are listed)")
    metrics = found.get("metrics") or {}
    if metrics:
        table(
            ["metric", label(before), label(after), "change", "better", "verdict"],
            (
                [name, m["from"], m["to"], f"{m['absolute']:+g}", f"{m['better']} is better", m["verdict"]]
                for name, m in metrics.items()
            ),
            title="metrics",
        )
    lineage = found.get("lineage")
    if lineage:
        out.print(f"lineage: {describe_lineage(lineage, label(before), label(after))}", highlight=False)


def describe_lineage(lineage: dict[str, Any], before: str, after: str) -> str:
    relation = lineage["relation"]
    if relation == "descendant":
        return f"{after} derives from {before} ({lineage['hops']} step(s))"
    if relation == "ancestor":
        return f"{before} derives from {after} ({lineage['hops']} step(s))"
    if relation == "common_ancestor":
        common = lineage["common_ancestor"]
        return f"both derive from {common['model']}@{common['version']}"
    return {"same": "the same version", "unrelated": "not related by derivation"}.get(relation, relation)


def lifecycle(move: str) -> click.Command:
    @click.argument("name")
    @click.argument("version")
    @kind_option
    @json_option
    @pass_state
    def command(state: State, name: str, version: str, kind: str) -> None:
        with api_errors(state):
            doc = state.client.kind(kind).move(name, version, move)
        emit(
            state,
            doc,
            lambda: out.print(
                f"{name}@{doc.get('version')}: {doc.get('status')}{', current' if doc.get('is_current') else ''}"
            ),
        )

    command.__doc__ = {
        "activate": "Make VERSION the current (production) version.",
        "deprecate": "Deprecate VERSION (it stops being current).",
        "archive": "Archive VERSION (final).",
    }[move]
    return click.command(move)(command)


for _move in ("activate", "deprecate", "archive"):
    cli.add_command(lifecycle(_move))


@cli.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@kind_option
@click.option("--if-match", metavar="VERSION", help="Move only if the alias still points at VERSION (else exit 5).")
@click.option("--delete", is_flag=True, help="Delete the alias.")
@click.option("--history", is_flag=True, help="Every move of the alias.")
@click.option("--rollback", is_flag=True, help="Move the alias back to its previous target.")
@click.option("--at", metavar="TIME", help="Where the alias pointed at TIME (ISO 8601).")
@json_option
@pass_state
def alias(state: State, name, alias, version, kind, if_match, delete, history, rollback, at) -> None:
    """Show ALIAS of NAME, or point it at VERSION (atomically; conditionally with --if-match)."""
    resource = state.client.kind(kind)
    if sum(map(bool, (version, delete, history, rollback))) > 1:
        raise click.UsageError("Give one of VERSION, --delete, --history, --rollback.")
    with api_errors(state):
        if history:
            entries = list(resource.alias_history(name, alias))
            emit(
                state,
                entries,
                lambda: table(
                    ["at", "actor", "action", "changes"],
                    ([e.get("at"), e.get("actor"), e.get("action"), e.get("changes")] for e in entries),
                ),
            )
            return
        if delete:
            resource.delete_alias(name, alias, if_match=if_match)
            emit(state, {"deleted": alias}, lambda: out.print(f"deleted {name}@{alias}"))
            return
        if rollback:
            doc = resource.rollback_alias(name, alias)
        elif version:
            doc = resource.set_alias(name, alias, version, if_match=if_match)
        else:
            doc = resource.get_alias(name, alias, at=at)
    emit(state, doc, lambda: out.print(f"{name}@{doc.get('alias', alias)} -> {doc.get('version')}"))


@cli.command()
@click.option("--refresh", is_flag=True, help="Recompute now (staff, read-write key).")
@json_option
@pass_state
def stats(state: State, refresh: bool) -> None:
    """The registry's statistics."""
    with api_errors(state):
        found = state.client.stats(refresh=refresh)

    def human() -> None:
        rows = []
        for section, values in found.items():
            if isinstance(values, dict):
                rows.extend([section, key, value] for key, value in values.items())
            else:
                rows.append(["", section, values])
        table(["section", "figure", "value"], rows)

    emit(state, found, human)


# Artifacts and attestations


@cli.command()
@click.argument("name")
@click.argument("version")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--filename", help="The stored file's name (default: PATH's name).")
@click.option("--seal", is_flag=True, help="Seal the version's file set afterwards.")
@json_option
@pass_state
def upload(state: State, name: str, version: str, path: Path, filename: str | None, seal: bool) -> None:
    """Upload PATH to a model version, streamed; the digests are checked against the registry's (exit 8)."""
    with api_errors(state):
        with progress_bar(state, f"upload {path.name}") as bar:
            result = state.client.models.upload(name, version, path, filename=filename, progress=bar)
        if seal:
            state.client.models.seal(name, version)
    answer = {**result.file, "attempts": result.attempts, "sealed_set": seal}
    emit(
        state,
        answer,
        lambda: out.print(
            f"uploaded {answer['filename']}: {answer['size']} bytes, sha256 {answer['sha256']} (verified)"
        ),
    )


@cli.command()
@click.argument("name")
@click.argument("version")
@click.argument("filename")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Where to write (default: FILENAME)."
)
@json_option
@pass_state
def download(state: State, name: str, version: str, filename: str, output: Path | None) -> None:
    """Download a stored file, streamed and resumed after a dropped connection; digests checked (exit 8)."""
    dest = output or Path(filename)
    with api_errors(state):
        with progress_bar(state, f"download {filename}") as bar:
            result = state.client.models.download(name, version, filename, dest, progress=bar)
    answer = {"path": str(result.path), **result.local, "resumed": result.resumed}
    emit(
        state,
        answer,
        lambda: out.print(f"downloaded {dest}: {answer['size']} bytes, sha256 {answer['sha256']} (verified)"),
    )


@cli.command()
@click.argument("name")
@click.argument("version")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write it to a file.")
@pass_state
def attestation(state: State, name: str, version: str, output: Path | None) -> None:
    """Fetch a version's signed attestation (JSON), to keep beside its artifact and `verify` offline."""
    with api_errors(state):
        found = state.client.models.attestation(name, version)
    write_or_print(found, output)


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write them to a file.")
@pass_state
def keys(state: State, output: Path | None) -> None:
    """Fetch the registry's attestation public keys (JSON), for `verify --keys` offline."""
    with api_errors(state):
        found = state.client.attestations.keys()
    write_or_print(found, output)


def write_or_print(data: Any, output: Path | None) -> None:
    text = json.dumps(data, indent=2)
    if output:
        output.write_text(text + "\n")
        err.print(f"wrote {output}", highlight=False)
    else:
        click.echo(text)


@cli.command()
@click.argument(
    "attestation_file", metavar="ATTESTATION", type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False),
    help="The keys (from `registry keys`) or a PEM public key: verify offline. Without it the keys are fetched.",
)
@click.option(
    "--artifact",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also check that the attestation's subject is this file (its SHA-256).",
)
@json_option
@pass_state
def verify(state: State, attestation_file: str, keys_file: str | None, artifact: Path | None) -> None:
    """Verify an attestation (or its DSSE envelope) locally: Ed25519 over DSSE's PAE (exit 8 if it fails)."""
    text = sys.stdin.read() if attestation_file == "-" else Path(attestation_file).read_text()
    try:
        document = json.loads(text)
    except ValueError as exc:
        fail(f"{attestation_file} is not JSON: {exc}", INVALID)
    try:
        if keys_file:
            loaded = _attestations.load_keys(Path(keys_file).read_text())
        else:
            with api_errors(state):
                loaded = _attestations.load_keys(state.client.attestations.keys())
        sha256 = file_digests(artifact)["sha256"] if artifact else None
        result = _attestations.verify_envelope(document, loaded, artifact_sha256=sha256)
    except VerificationFailed as exc:
        report_error(exc, state.as_json)

    def human() -> None:
        colour = "green" if result.valid else "red"
        out.print(f"[{colour}]{'valid' if result.valid else 'NOT valid'}[/]: {result.reason}")
        if result.keyid:
            out.print(f"key {result.keyid}")
        for subject in result.subjects:
            out.print(f"subject {subject.get('name')} {subject.get('digest')}")

    emit(state, result.as_dict(), human)
    if not result.valid:
        sys.exit(INTEGRITY)


@cli.command()
@click.option("--kind", "-k", "kinds", type=click.Choice(KINDS), multiple=True, help="Kinds to export (default: all).")
@click.option("--name", "names", multiple=True, help="Only these definitions.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="A file (default: stdout).")
@pass_state
def export(state: State, kinds: tuple[str, ...], names: tuple[str, ...], output: Path | None) -> None:
    """Every version document as JSON Lines ({"kind", "document"}), for backups, reviews or another registry."""
    handle = output.open("w") if output else sys.stdout
    written = 0
    try:
        with api_errors(state):
            for kind in kinds or KINDS:
                resource = state.client.kind(kind)
                chosen = names or [d["name"] for d in resource.iter()]
                for name in chosen:
                    for doc in resource.versions(name):
                        handle.write(json.dumps({"kind": kind, "document": doc}, sort_keys=True) + "\n")
                        written += 1
    finally:
        if output:
            handle.close()
    err.print(f"exported {written} version{'s' if written != 1 else ''}", highlight=False)


@cli.command()
@pass_state
def config(state: State) -> None:
    """Where the registry's URL and key come from (the key itself is never printed)."""
    try:
        settings = resolve(state.url, state.api_key, state.profile)
    except ConfigError as exc:
        fail(str(exc), USAGE)
    click.echo(
        json.dumps(
            {
                "url": settings.url,
                "source": settings.source,
                "profile": settings.profile,
                "api_key": bool(settings.api_key),
            },
            indent=2,
        )
    )


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(registry completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(cli, {}, "registry", "_REGISTRY_COMPLETE").source())


__all__ = ["EXIT_CODES", "cli", "exit_code_for", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
