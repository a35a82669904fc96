"""Every command's ``--help``, rendered as a user sees it, read for the usual blemishes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from vault.cli.main import app


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    # typer >= 0.29 ships its own copy of click, so ask for sub-commands by shape
    commands: dict[str, Any] = getattr(group, "commands", {})
    for name, sub in sorted(commands.items()):
        yield from _command_paths(sub, (*prefix, name))


PATHS = list(_command_paths(typer.main.get_command(app)))


def test_every_command_is_visited() -> None:
    assert ("start",) in PATHS and ("business", "request") in PATHS and len(PATHS) > 40


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "kluis")
def test_help_reads_cleanly(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Usage: kluis" in out
    assert "<bool>" not in out  # flags take no value (vault/cli/help.py)
    assert "``" not in out  # reST in a docstring shows literally in a terminal
    assert "~/.kluis" not in out  # not the default home: platformdirs decides it


def test_start_help_keeps_the_config_section_name() -> None:
    out = CliRunner().invoke(app, ["start", "--help"], env={"COLUMNS": "100"}).stdout
    assert "[network]" in out  # not eaten as rich markup
