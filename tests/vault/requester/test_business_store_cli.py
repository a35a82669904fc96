"""``kluis business … --store``: a bad or unreachable PostgreSQL URL is one line, no password.

And ``kluis business petname VAULT NAME`` without a running node (the running
node's path is in tests/integration/test_business_node.py).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BIZ_PASSPHRASE
from vault.business.views import PETNAME_KIND
from vault.cli.main import app
from vault.requester import Requester

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install '.[test]')")

SECRET = "s3cret-Pw-0451"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens


def _kluis(home: Path, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["business", *args],
        env={"KLUIS_BUSINESS_HOME": str(home), "KLUIS_BUSINESS_PASSPHRASE": BIZ_PASSPHRASE,
             **env},
    )  # fmt: skip
    return result.exit_code, result.output


def _one_line_without_secret(code: int, output: str) -> str:
    assert code not in (0, 70), output
    assert SECRET not in output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_a_store_that_is_not_a_postgresql_url_is_refused_without_echoing_it(tmp_path: Path):
    line = _one_line_without_secret(
        *_kluis(tmp_path / "biz", "init", "--store", f"mysql://shop:{SECRET}@db/shop")
    )
    assert "postgresql://" in line
    assert not (tmp_path / "biz").exists()


def test_an_unreachable_postgresql_server_is_one_line_without_the_password(tmp_path: Path):
    url = f"postgresql://shop:{SECRET}@127.0.0.1:{_closed_port()}/shop?sslmode=disable"
    line = _one_line_without_secret(*_kluis(tmp_path / "biz", "init", "--store", url))
    assert "cannot connect to postgresql://127.0.0.1:" in line and "/shop" in line
    # the same through the environment, for a command on an existing home
    home = tmp_path / "biz2"
    asyncio.run(_make(home))
    line = _one_line_without_secret(*_kluis(home, "grants", KLUIS_BUSINESS_STORE=url))
    assert "cannot connect to postgresql://127.0.0.1:" in line
    line = _one_line_without_secret(*_kluis(home, "start", "--store", url, "--worker", "w1"))
    assert "cannot connect" in line


def test_a_bad_store_in_config_is_named_without_its_value(tmp_path: Path):
    home = tmp_path / "biz"
    asyncio.run(_make(home))
    (home / "config.toml").write_text(f'[business]\nstore = "mysql://shop:{SECRET}@db/shop"\n')
    line = _one_line_without_secret(*_kluis(home, "grants"))
    assert "config.toml: business.store" in line


def test_a_worker_name_needs_a_postgresql_store(tmp_path: Path):
    home = tmp_path / "biz"
    asyncio.run(_make(home))
    line = _one_line_without_secret(*_kluis(home, "start", "--worker", "w1"))
    assert "--worker needs a PostgreSQL store" in line
    url = f"postgresql://shop:{SECRET}@127.0.0.1:{_closed_port()}/shop"
    line = _one_line_without_secret(*_kluis(home, "start", "--store", url, "--worker", "w 1\n"))
    assert "--worker is 1 to 64" in line


async def _make(home: Path) -> str:
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None) as b:
        return b.peer_id


def test_petname_without_a_running_node(tmp_path: Path):
    home = tmp_path / "biz"
    vault_peer = asyncio.run(_make(tmp_path / "a-vault"))  # any valid peer id will do

    async def relate() -> None:  # a request recorded (not sent): a relationship
        async with Requester.open(
            home, BIZ_PASSPHRASE, network=False, retention_interval=None
        ) as biz:
            biz.asking.record(
                f"/ip4/127.0.0.1/tcp/1/p2p/{vault_peer}", ["contact.email"], "ServiceProvision"
            )

    asyncio.run(_make(home))
    asyncio.run(relate())
    code, out = _kluis(home, "petname", vault_peer, "Alice (Zwolle)")
    assert code == 0 and "is now called Alice (Zwolle)" in out, out

    async def stored() -> bytes | None:
        async with Requester.open(
            home, BIZ_PASSPHRASE, network=False, retention_interval=None
        ) as biz:
            return biz.vault.store.get(PETNAME_KIND, vault_peer)

    assert asyncio.run(stored()) == b"Alice (Zwolle)"
    code, out = _kluis(home, "petname", vault_peer, "a\u202ename")
    assert code != 0 and "bidi" in out and len(out.strip().splitlines()) == 1
    other = asyncio.run(_make(tmp_path / "other"))
    code, out = _kluis(home, "petname", other, "stranger")
    assert code != 0 and "no relationship with vault" in out
    code, out = _kluis(home, "petname", vault_peer, "")
    assert code == 0 and "has no petname now" in out
    assert asyncio.run(stored()) is None
