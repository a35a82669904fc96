"""Business nodes as workers on one PostgreSQL store: each holds its leased share of subscriptions.

And the CLI's way in: ``kluis business init/start --store postgresql://… --worker NAME``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, eventually
from tests.integration.conftest import vault_home, vn  # noqa: F401 - fixtures
from tests.integration.test_requester_flow import granted, receipt_recorded
from vault.business import BusinessNode
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.leases import SHARDS

from .test_pg_store import worker_home

pytestmark = pytest.mark.timeout(180)

KLUIS = [sys.executable, "-c", "from vault.cli.main import main; main()"]


async def test_two_nodes_hold_a_subscription_once_and_hand_it_over(
    vn: VaultNode,  # noqa: F811 - the fixture
    tmp_path: Path,
    pg_url: str,
):
    first = tmp_path / "w0"
    async with await Requester.create(
        first, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None, store=pg_url
    ) as biz:
        grant = await granted(biz, vn)
    nodes = [
        await BusinessNode.start(
            home,
            BIZ_PASSPHRASE,
            listen=LOOPBACK,
            control_port=None,
            store=pg_url,
            worker=f"n{i}",
            worker_ttl=1.5,
            retention_interval=None,
        )
        for i, home in enumerate([first, worker_home(first, tmp_path / "w1")])
    ]
    try:

        def holders() -> list[int]:
            return [i for i, n in enumerate(nodes) if grant.grant_id in n.holder.held()]

        def shared() -> bool:
            owned = [n.biz.share.leases.owned for n in nodes if n.biz.share is not None]
            return len(owned) == 2 and all(owned) and sum(map(len, owned)) == SHARDS

        await eventually(lambda: shared() and len(holders()) == 1, timeout=60)
        owner = holders()[0]
        assert nodes[owner].worker == f"n{owner}" and nodes[owner].store_label.endswith("/" + (
            pg_url.rsplit("/", 1)[1]))  # fmt: skip
        await nodes[owner].close()  # a clean stop hands its leases back at once
        survivor = nodes[1 - owner]
        await eventually(lambda: grant.grant_id in survivor.holder.held(), timeout=60)
        assert survivor.biz.share is not None and len(survivor.biz.share.leases.owned) == SHARDS
        # the survivor answers the revocation at once: copy gone, receipt sent
        await vn.revoke(grant.grant_id)
        await eventually(lambda: receipt_recorded(vn, grant.grant_id), timeout=30)
        assert survivor.biz.local_copy(grant.grant_id) == {}
    finally:
        for n in nodes:
            await n.close()


async def test_a_worker_needs_a_postgresql_store(tmp_path: Path):
    async with Requester.create(
        tmp_path / "biz", BIZ_PASSPHRASE, network=False, retention_interval=None
    ):
        pass
    with pytest.raises(ValueError, match="PostgreSQL"):
        await BusinessNode.start(
            tmp_path / "biz", BIZ_PASSPHRASE, listen=LOOPBACK, control_port=None, worker="w"
        )


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "KLUIS_BUSINESS_HOME": str(home),
            "KLUIS_BUSINESS_PASSPHRASE": BIZ_PASSPHRASE,
            "KLUIS_BUSINESS_LISTEN": "/ip4/127.0.0.1/tcp/0", **extra}  # fmt: skip


async def _kluis(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *KLUIS, "business", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_init_and_start_on_postgresql_with_a_worker_name(tmp_path: Path, pg_url: str):
    home = tmp_path / "biz"
    code, out, err = await _kluis(_env(home), "init", "--store", pg_url)
    assert code == 0, err
    label = pg_url.replace("kluis@", "")
    assert f"book: {label}" in out
    # the second worker's home: a copy of the keyfile, and the store from config.toml
    second = worker_home(home, tmp_path / "biz2")
    (second / "config.toml").write_text(f'[business]\nstore = "{pg_url}"\nworker = "web-2"\n')
    node = await asyncio.create_subprocess_exec(
        *KLUIS, "business", "start", env=_env(second),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await eventually(lambda: (second / "control.url").exists(), timeout=90)
        code, out, err = await _kluis(_env(second), "grants", "--json")
        assert code == 0 and json.loads(out) == {"grants": []}, err
        from vault.cli.client import ControlClient

        status = ControlClient.from_home(second).get("status")
        assert (status["store"], status["worker"], status["shards"]) == (label, "web-2", SHARDS)
    finally:
        node.send_signal(signal.SIGTERM)
        out_b, err_b = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, err_b.decode()
    assert f"book {label}, worker web-2" in out_b.decode()
    # a one-shot command reads the same book through the config
    code, out, err = await _kluis(_env(second), "id")
    code0, out0, _ = await _kluis(_env(home, KLUIS_BUSINESS_STORE=pg_url), "id")
    assert code == code0 == 0 and out == out0, err
