"""The light commands do not load the node: no aiohttp, libp2p, trio, agents or control API.

``kluis --help`` took ~1.9 s because importing the CLI imported everything (issue 14
§2). The speed is measured in ``benchmarks/bench_cli_start.py``; this test guards the
structure that makes it fast, without timing anything: each command runs in a fresh
interpreter (``python -X importtime -m vault ...``, a real subprocess), and the
import log on its stderr names every module it loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from vault.store.vault import Vault

#: Top-level packages and modules a light command must not import: the network
#: runtime, the control API's server, and the negotiation agents.
HEAVY = (
    "aiohttp",
    "libp2p",
    "trio",
    "agents",
    "protocol.runtime",
    "vault.api.control",
    "vault.node",
)


def imported(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Every module ``python -X importtime ARGS`` imported (it must exit 0)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "vault" in names or "-c" in args, "no import log: was -X importtime ignored?"
    return names


#: What help and ``--version`` must not import either: they build no model, parse
#: no e-mail address, run no event loop, open no store, call no API, and render
#: no Markdown (see :mod:`vault.cli.lean`).
HELP_HEAVY = (
    *HEAVY,
    "pydantic",
    "pydantic_core",
    "email_validator",
    "asyncio",
    "cryptography",
    "sqlite3",
    "urllib.request",
    "markdown_it",
    "rich.markdown",
    "rich.traceback",
    "vault.store",
    "protocol.messages",
    "protocol.business",
)


def heavy_in(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


def test_the_check_sees_a_heavy_import() -> None:
    """The log does name heavy modules when they are imported (the check can fail)."""
    found = heavy_in(imported(["-c", "import vault.api.control"]))
    assert "aiohttp" in found and "vault.api.control" in found


def test_the_help_check_sees_pydantic() -> None:
    found = heavy_in(imported(["-c", "import vault.store.vault"]), HELP_HEAVY)
    assert "pydantic" in found and "vault.store.vault" in found


def test_importing_the_cli_is_light() -> None:
    modules = imported(["-c", "import vault.cli.main"])
    assert "vault.cli.main" in modules
    assert heavy_in(modules, HELP_HEAVY) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["get", "--help"],
        ["start", "--help"],
        ["business", "--help"],
        ["business", "request", "--help"],
        ["intent", "send", "--help"],
        ["rules", "add", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_help_and_version_are_light(args: list[str]) -> None:
    modules = imported(["-m", "vault", *args])
    assert "typer.rich_utils" in modules or "--version" in args  # help was rendered
    assert heavy_in(modules, HELP_HEAVY) == []


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vault")
    with Vault.create(folder, PASSPHRASE) as vault:
        vault.profile.set("name.given", "Ada")
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["get", "name.given"],
        ["set", "name.family", "Lovelace"],
        ["show"],
        ["id"],
        ["audit"],
    ],
    ids=lambda a: " ".join(a),
)
def test_offline_commands_on_a_vault_are_light(home: Path, args: list[str]) -> None:
    """With no node running, the commands that read or change the vault open it here."""
    env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
    modules = imported(["-m", "vault", *args], env)
    assert "vault.store.vault" in modules  # it did open the vault
    assert heavy_in(modules) == []
    # nor what they never use: an event loop, an HTTP client, help rendering, an
    # e-mail parser (the fixture's profile has no address to check)
    never = ("asyncio", "urllib.request", "typer.rich_utils", "email_validator")
    assert heavy_in(modules, never) == []
