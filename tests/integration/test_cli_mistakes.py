"""Ordinary mistakes get one line and the table's exit code, through the real CLI (issue 14 §3).

Offline mistakes run on a vault folder; the ones that need the running node run
against a real :class:`VaultNode` (control API on 127.0.0.1, libp2p on loopback).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.cli.exits import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_NO_NODE,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
    KluisGroup,
)
from vault.cli.main import app
from vault.node.boss import VaultNode
from vault.store.vault import Vault

ROOT = Path(__file__).resolve().parents[2]

INTENT = (ROOT / "examples" / "intent_phone.toml").read_text(encoding="utf-8")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    Vault.create(folder, PASSPHRASE).close()
    return folder


def run(home: Path, *args: str) -> Result:
    env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE, "KLUIS_DEBUG": None}
    return CliRunner().invoke(app, list(args), env=env)


def one_line(result: Result, code: int, message: str) -> None:
    """Exit ``code``, and stderr is exactly one ``error:`` line holding ``message``."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    for leak in ("Traceback", "internal error", "validation error", "pydantic", "[type="):
        assert leak not in result.output, result.output


# -- the exit-code table ------------------------------------------------------------------


def test_the_exit_code_table_is_shown_documented_and_each_code_happens(
    home: Path, tmp_path: Path
) -> None:
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 6
    help_text = run(home, "--help").stdout
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for code, meaning in EXIT_CODES.items():
        assert meaning.split(" (")[0] in help_text, (code, help_text)
        assert f"| {code} |" in docs and meaning.split(" (")[0] in docs, code
    # each code, produced by the real CLI
    assert run(home, "--version").exit_code == EXIT_OK
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    assert run(home, "receipts", "verify", str(junk)).exit_code == EXIT_VERIFY_FAILED
    assert run(home, "grants", "--no-such-flag").exit_code == EXIT_USAGE
    one_line(run(home, "erase", "garbage"), EXIT_ERROR, "'garbage' is not a peer id")
    one_line(run(home, "dashboard"), EXIT_NO_NODE, "no running node")

    broken = typer.Typer(cls=KluisGroup)

    @broken.command()
    def boom() -> None:
        raise RuntimeError("a bug")

    @broken.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(broken, ["boom"], env={"KLUIS_DEBUG": None})
    assert result.exit_code == EXIT_INTERNAL
    assert "internal error (RuntimeError)" in result.stderr and "a bug" not in result.output


# -- mistakes without a running node ------------------------------------------------------


def test_start_with_an_impossible_listen_address(home: Path) -> None:
    one_line(
        run(home, "start", "--listen", "/ip4/127.0.0.1/tcp/99999"),
        EXIT_ERROR,
        "'/ip4/127.0.0.1/tcp/99999' is not a valid multiaddr: integer not in range",
    )
    assert not (home / "control.url").exists()


def test_start_on_a_busy_control_port(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(home, "start", "--listen", LOOPBACK[0], "--control-port", str(port))
    one_line(result, EXIT_ERROR, f"control port {port} on 127.0.0.1 is in use")
    assert not (home / "control.url").exists()


def test_start_with_a_wrong_passphrase_leaves_the_vault_unlocked_by_nobody(home: Path) -> None:
    """``kluis start`` unlocks while it imports the node (the two overlap); a wrong
    passphrase is still one line, and the lock it took is released."""
    env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": "not the passphrase", "KLUIS_DEBUG": None}
    result = CliRunner().invoke(app, ["start", "--listen", LOOPBACK[0]], env=env)
    one_line(result, EXIT_ERROR, "wrong passphrase")
    assert not (home / "control.url").exists()
    assert run(home, "show").exit_code == EXIT_OK  # not "in use by a running node"


def test_erase_garbage_and_an_export_into_a_missing_folder(home: Path, tmp_path: Path) -> None:
    one_line(run(home, "erase", "garbage"), EXIT_ERROR, "'garbage' is not a peer id")
    target = tmp_path / "nonexistent" / "x.json"
    one_line(
        run(home, "erasures", "--export", str(target)),
        EXIT_ERROR,
        f"the folder {target.parent} does not exist",
    )


def test_intent_with_a_price_that_is_not_a_number(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(INTENT.replace("max_price_cents = 2500", 'max_price_cents = "lots"'))
    one_line(
        run(home, "intent", "send", str(bad)),
        EXIT_ERROR,
        "invalid intent file: max_price_cents: must be a whole number",
    )


# -- mistakes with a running node ---------------------------------------------------------


@pytest.fixture
async def node(home: Path) -> AsyncIterator[VaultNode]:
    async with VaultNode.start(home, PASSPHRASE, listen=list(LOOPBACK)) as vn:
        yield vn


async def test_mistakes_against_the_running_node(
    node: VaultNode, home: Path, tmp_path: Path
) -> None:
    async def cli(*args: str) -> Result:
        return await asyncio.to_thread(run, home, *args)

    target = tmp_path / "nonexistent" / "x.json"
    one_line(
        await cli("receipts", "--export", str(target)),
        EXIT_ERROR,
        f"cannot write {target}: the folder {target.parent} does not exist",
    )
    one_line(
        await cli("rules", "add", "approve"),
        EXIT_ERROR,
        "an approve rule must name the fields it approves",
    )
    one_line(
        await cli("rules", "add", "approve", "--fields", "totally.bogus"),
        EXIT_ERROR,
        "unknown field: totally.bogus",
    )
    one_line(await cli("erase", "garbage"), EXIT_ERROR, "'garbage' is not a peer id")
    bad = tmp_path / "bad.toml"
    bad.write_text(INTENT.replace("max_price_cents = 2500", 'max_price_cents = "lots"'))
    one_line(
        await cli("intent", "send", str(bad)),
        EXIT_ERROR,
        "invalid intent file: max_price_cents: must be a whole number",
    )


async def test_a_failed_intent_says_why_and_exits_non_zero(
    node: VaultNode, home: Path, tmp_path: Path
) -> None:
    intent = tmp_path / "intent.toml"
    intent.write_text(INTENT.replace("window_seconds = 5 ", "window_seconds = 1 "))
    result = await asyncio.to_thread(run, home, "intent", "send", str(intent))
    one_line(result, EXIT_ERROR, "failed: no business listens for 'phone' intents")
    assert "intent None" not in result.output


async def test_a_wrong_passphrase_is_refused_even_while_the_node_runs(
    node: VaultNode, home: Path
) -> None:
    def grants(passphrase: str | None) -> Result:
        env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": passphrase, "KLUIS_DEBUG": None}
        return CliRunner().invoke(app, ["grants", "--json"], env=env)

    one_line(await asyncio.to_thread(grants, "not the passphrase"), EXIT_ERROR, "wrong passphrase")
    for given in (PASSPHRASE, None):  # the right one is checked and passes; none: no check
        result = await asyncio.to_thread(grants, given)
        assert result.exit_code == EXIT_OK and '"grants": []' in result.stdout, result.output
