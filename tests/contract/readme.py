"""Read the README's runnable examples: ```bash blocks' ``curl`` commands and the ``manage.py`` commands of any
shell block. Used by test_readme.py; kept apart so the extraction rules are tested on their own."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
EXPECTED = re.compile(r"->\s*(\d{3})\b")
VARIABLE = re.compile(r"\$(\{(\w+)\}|(\w+))")


@dataclass
class Command:
    line: int  # 1-based line of the README where the command starts
    text: str  # the command as written, continuation lines joined
    expected_status: int | None  # from "-> NNN" in the comment line right above; None: any 2xx

    def argv(self, variables: dict[str, str]) -> list[str]:
        """The command's arguments with $VAR / ${VAR} replaced; an unknown variable is an error naming it. A pipe
        ends the command (``curl ... | jq`` runs the curl)."""
        words = shlex.split(self.text, comments=True)
        if "|" in words:
            words = words[: words.index("|")]

        def substitute(match: re.Match) -> str:
            name = match.group(2) or match.group(3)
            if name not in variables:
                raise KeyError(f"README line {self.line}: ${name} is not one of {', '.join(sorted(variables))}")
            return variables[name]

        return [VARIABLE.sub(substitute, word) for word in words]


def blocks(markdown: str, languages: tuple[str, ...]) -> list[tuple[int, str]]:
    """(first line number of the block's body, body) of each fenced block in one of ``languages``."""
    found = []
    for match in FENCE.finditer(markdown):
        if match.group(1) in languages:
            found.append((markdown.count("\n", 0, match.start(2)) + 1, match.group(2)))
    return found


def commands(markdown: str, languages: tuple[str, ...], starts_with: str) -> list[Command]:
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
                out.append(Command(first_line + start, text, int(expected.group(1)) if expected else None))
            index += 1
    return out


def curl_examples(markdown: str) -> list[Command]:
    """Every ``curl`` command in a ```bash block (```sh and others are illustrations, not run)."""
    return commands(markdown, ("bash",), "curl ")


def manage_py_commands(markdown: str) -> list[Command]:
    return commands(markdown, ("sh", "bash"), ".venv/bin/python manage.py ")
