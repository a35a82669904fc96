"""``kluis business start`` as a real process; other ``kluis business`` commands as its clients."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BIZ_PASSPHRASE, eventually
from vault.cli.main import app
from vault.home.lock import VaultLock
from vault.requester import Requester

pytestmark = pytest.mark.timeout(240)

KLUIS = [sys.executable, "-c", "from vault.cli.main import main; main()"]


@pytest.fixture
async def biz_home(tmp_path: Path) -> Path:
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    return home


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "KLUIS_BUSINESS_HOME": str(home),
            "KLUIS_BUSINESS_PASSPHRASE": BIZ_PASSPHRASE,
            "KLUIS_BUSINESS_LISTEN": "/ip4/127.0.0.1/tcp/0"}  # fmt: skip


async def _kluis(home: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *KLUIS, "business", *args, env=_env(home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_start_serves_the_other_commands_and_stops_on_sigterm(biz_home: Path):
    peer = (await _kluis(biz_home, "id"))[1].strip()  # one-shot, before the node runs
    node = await asyncio.create_subprocess_exec(
        *KLUIS, "business", "start", env=_env(biz_home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await eventually(lambda: (biz_home / "control.url").exists(), timeout=60)
        code, out, err = await _kluis(biz_home, "id")
        assert (code, out.strip()) == (0, peer), err
        code, out, err = await _kluis(biz_home, "grants", "--json")
        assert code == 0 and '"grants": []' in out, err
        code, out, err = await _kluis(biz_home, "dashboard")
        assert code == 0 and "/login?once=" in out, err
        code, _, err = await _kluis(biz_home, "start")
        assert code != 0 and "one node per store" in err
        assert "vault is already running" not in err
    finally:
        node.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, err.decode()
    assert f"business node {peer}" in out.decode()
    assert not (biz_home / "control.url").exists() and not (biz_home / "control.token").exists()


def test_a_store_held_by_a_one_shot_command_is_named_as_such(
    biz_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KLUIS_BUSINESS_HOME", str(biz_home))
    lock = VaultLock(biz_home)
    lock.acquire()
    try:
        result = CliRunner().invoke(app, ["business", "grants"])
    finally:
        lock.release()
    assert result.exit_code == 3  # a refusal, not a usage error (vault/cli/exits.py)
    assert "in use by another `kluis business` command" in result.output
    assert "vault is already running" not in result.output
