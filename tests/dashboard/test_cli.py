"""``kluis start`` prints the dashboard and a login link; CLI commands go through the API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner, Result

from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.cli.exits import EXIT_ERROR
from vault.cli.main import app
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(60)

NEW_PASSPHRASE = "a much better passphrase, 2026"


def _read_until(proc: subprocess.Popen[str], marker: str) -> dict[str, str]:
    assert proc.stdout is not None
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"kluis start exited: {err}")
        if ":" in line:
            key, _, value = line.strip().partition(":")
            seen.setdefault(key.strip(), value.strip())
        if line.strip().startswith(marker):
            return seen
    raise AssertionError(f"kluis start did not print {marker!r}")


async def test_start_prints_dashboard_and_login_link(vault_home: Path):
    env = {**os.environ, "KLUIS_HOME": str(vault_home), "KLUIS_PASSPHRASE": PASSPHRASE}
    env.pop("KLUIS_DEBUG", None)
    pass_file = vault_home.parent / "pass.txt"
    pass_file.write_text(PASSPHRASE + "\n")
    bad = vault_home.parent / "bad.txt"
    bad.write_text("not the passphrase\n")
    new_file = vault_home.parent / "new.txt"
    new_file.write_text(NEW_PASSPHRASE + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault", "start", "--listen", LOOPBACK[0]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = await asyncio.to_thread(_read_until, proc, "log in:")
        dash = seen["dashboard"]
        link = seen["log in"]
        assert dash.startswith("http://127.0.0.1:") and link.startswith(dash + "login?once=")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            async with s.get(link) as resp:
                assert resp.status == 200 and str(resp.url).endswith("/requests")
            async with s.get(dash + "audit") as resp:
                assert "Verify now" in await resp.text()

        def cli(*args: str) -> Result:
            return CliRunner().invoke(
                app, list(args), env={"KLUIS_HOME": str(vault_home), "COLUMNS": "200"}
            )

        out = await asyncio.to_thread(cli, "dashboard")
        assert out.exit_code == 0, out.output
        assert "login?once=" in out.stdout
        out = await asyncio.to_thread(cli, "receipts", "--json")
        assert out.exit_code == 0 and json.loads(out.stdout) == {"receipts": []}
        # the audit log is read through the running node (no passphrase needed)
        out = await asyncio.to_thread(cli, "audit", "--verify", "--tail", "3")
        assert out.exit_code == 0, out.output
        assert "chain intact" in out.stdout
        # export and passphrase change go through the node too (it is the one writer)
        backup = vault_home.parent / "backup.kluis"
        out = await asyncio.to_thread(
            cli, "export", str(backup), "--passphrase-file", str(pass_file)
        )
        assert out.exit_code == 0 and "backup written" in out.stdout, out.output
        assert backup.stat().st_size > 0
        out = await asyncio.to_thread(cli, "export", str(backup), "--passphrase-file", str(bad))
        assert out.exit_code == EXIT_ERROR, out.output  # exists (no --force)
        out = await asyncio.to_thread(
            cli, "export", str(backup), "--force", "--passphrase-file", str(bad)
        )
        assert out.exit_code == EXIT_ERROR and "passphrase" in out.stderr, out.output
        out = await asyncio.to_thread(
            cli,
            "passphrase",
            "--passphrase-file",
            str(pass_file),
            "--new-passphrase-file",
            str(new_file),
        )
        assert out.exit_code == 0 and "passphrase changed" in out.stdout, out.output
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    Vault.open(vault_home, NEW_PASSPHRASE).close()  # the new passphrase unlocks it
