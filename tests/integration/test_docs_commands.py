"""Every ``kluis …`` command line the README and the CLI docs quote parses (issue 14 §5).

Each quoted command runs through the real CLI with ``--help`` appended: click
parses the whole line first (an unknown command or option is a usage error,
exit 2) and then prints the help instead of running it. A placeholder such as
``REQ`` or ``FILE`` is just an argument to the parser. ``[a | b]`` in a quote
means either, so each alternative is tried; ``[--export FILE]`` is optional, so
it is tried in.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vault.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/cli.md", "docs/dashboard.md", "docs/agents.md")

_FENCE = re.compile(r"```(?:sh|bash)\n(.*?)```", re.S)
_SPAN = re.compile(r"`(kluis [^`]+)`")


def _expand(line: str) -> list[str]:
    """``[a | b]`` -> each alternative; ``[x]`` -> x (first bracket first, recursively)."""
    m = re.search(r"\[([^\[\]]*)\]", line)
    if m is None:
        return [line]
    options = [o.strip() for o in m.group(1).split("|")]
    return [v for o in options for v in _expand(line[: m.start()] + o + line[m.end() :])]


def quoted_commands() -> list[tuple[str, str]]:
    """(where, command line) for every ``kluis`` command in the docs."""
    found: list[tuple[str, str]] = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        lines: list[str] = []
        for block in _FENCE.findall(text):
            lines += [line.split("  #")[0].strip() for line in block.splitlines()]
        lines += [" ".join(span.split()) for span in _SPAN.findall(text)]
        for line in lines:
            for part in line.split(";"):
                part = part.strip()
                if (
                    part.startswith("kluis ")
                    and "…" not in part
                    and "..." not in part
                    and ": error:" not in part  # a quoted error message, not a command
                ):
                    found += [(doc, cmd) for cmd in _expand(part)]
    return sorted(set(found))


COMMANDS = quoted_commands()


def test_the_docs_quote_commands() -> None:
    """The extraction finds the README's commands (the check below can fail)."""
    quoted = {cmd for _, cmd in COMMANDS}
    assert {"kluis init", "kluis grants", "kluis receipts --export FILE"} <= quoted
    assert "kluis businesses seen BUSINESS" in quoted  # an alternative was expanded
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[c for _, c in COMMANDS])
def test_a_quoted_command_parses(doc: str, command: str) -> None:
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, [*args, "--help"], env={"KLUIS_HOME": "/nonexistent"})
    assert result.exit_code == 0, f"{doc}: `{command}` -> {result.output}"
    assert "Usage:" in result.output
