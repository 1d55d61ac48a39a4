"""Read the documentation's runnable examples: ```bash blocks' ``curl`` commands and the ``manage.py`` commands of
any shell block, from README.md and the pages of the documentation site (docs/, listed by mkdocs.yml's ``nav``).
Used by test_readme.py; kept apart so the extraction rules are tested on their own.

The examples depend on each other (a version is registered before it is read, activated before it is
deprecated), so their order is part of the documentation: README.md first, then the pages in nav order, each
top to bottom."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
EXPECTED = re.compile(r"->\s*(\d{3})\b")
VARIABLE = re.compile(r"\$(\{(\w+)\}|(\w+))")


@dataclass
class Command:
    line: int  # 1-based line of the file where the command starts
    text: str  # the command as written, continuation lines joined
    expected_status: int | None  # from "-> NNN" in the comment line right above; None: any 2xx
    source: str = "README.md"  # the file it comes from, relative to the repository root

    @property
    def where(self) -> str:
        """``file:line``, the form editors and terminals open."""
        return f"{self.source}:{self.line}"

    def argv(self, variables: dict[str, str]) -> list[str]:
        """The command's arguments with $VAR / ${VAR} replaced; an unknown variable is an error naming it. A pipe
        ends the command (``curl ... | jq`` runs the curl)."""
        words = shlex.split(self.text, comments=True)
        if "|" in words:
            words = words[: words.index("|")]

        def substitute(match: re.Match) -> str:
            name = match.group(2) or match.group(3)
            if name not in variables:
                raise KeyError(f"{self.where}: ${name} is not one of {', '.join(sorted(variables))}")
            return variables[name]

        return [VARIABLE.sub(substitute, word) for word in words]


def blocks(markdown: str, languages: tuple[str, ...]) -> list[tuple[int, str]]:
    """(first line number of the block's body, body) of each fenced block in one of ``languages``."""
    found = []
    for match in FENCE.finditer(markdown):
        if match.group(1) in languages:
            found.append((markdown.count("\n", 0, match.start(2)) + 1, match.group(2)))
    return found


def commands(markdown: str, languages: tuple[str, ...], starts_with: str, source: str = "README.md") -> list[Command]:
    out = []
    for first_line, body in blocks(markdown, languages):
        lines = body.splitlines()
        index = 0
        while index < len(lines):
            line = lines[index].strip()
            start = index
            if line.startswith(starts_with):
                text = line
                while text.endswith("\\") and index + 1 < len(lines):
                    index += 1
                    text = text[:-1].rstrip() + " " + lines[index].strip()
                above = lines[start - 1].strip() if start > 0 else ""
                expected = EXPECTED.search(above) if above.startswith("#") else None
                out.append(Command(first_line + start, text, int(expected.group(1)) if expected else None, source))
            index += 1
    return out


def curl_examples(markdown: str, source: str = "README.md") -> list[Command]:
    """Every ``curl`` command in a ```bash block (```sh and others are illustrations, not run)."""
    return commands(markdown, ("bash",), "curl ", source)


def manage_py_commands(markdown: str, source: str = "README.md") -> list[Command]:
    return commands(markdown, ("sh", "bash"), ".venv/bin/python manage.py ", source)


def nav_pages(nav: list | str | dict | None) -> list[str]:
    """The Markdown pages of an mkdocs ``nav`` in reading order (paths relative to docs/); external links and
    section titles are skipped."""
    if nav is None:
        return []
    if isinstance(nav, str):
        return [nav] if nav.endswith(".md") and "://" not in nav else []
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return [page for item in nav for page in nav_pages(item)]


def documented_files(root: Path) -> list[str]:
    """README.md, then every page of mkdocs.yml's nav in nav order: the files whose examples run, in the order
    they run (paths relative to ``root``)."""
    config = yaml.safe_load((root / "mkdocs.yml").read_text())
    docs_dir = config.get("docs_dir", "docs")
    return ["README.md", *(f"{docs_dir}/{page}" for page in nav_pages(config.get("nav")))]


def examples(root: Path, extract: Callable[[str, str], list[Command]], files: list[str] | None = None) -> list[Command]:
    """``extract`` (curl_examples or manage_py_commands) over ``files`` (default: documented_files), in order."""
    found = []
    for source in files if files is not None else documented_files(root):
        found += extract((root / source).read_text(), source)
    return found
