"""Workers sharing one PostgreSQL store: leases divide the vaults; a dead worker's share moves."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protocol import DeletionReason
from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, eventually
from tests.integration.conftest import vault_home, vn  # noqa: F401 - fixtures
from tests.integration.test_requester_flow import granted, receipt_recorded
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.leases import SHARDS, Leases, shard_of

from .test_pg_store import worker_home

REPO = Path(__file__).resolve().parents[2]


def settle(workers: list[Leases], rounds: int = 4) -> None:
    for _ in range(rounds):
        for w in workers:
            w.tick()


def test_workers_divide_the_shards_fairly_and_without_overlap(pg_url: str):
    workers = [Leases(pg_url, f"w{i}", ttl=30) for i in range(3)]
    try:
        settle(workers)
        held = [w.owned for w in workers]
        assert frozenset().union(*held) == frozenset(range(SHARDS))
        assert sum(len(h) for h in held) == SHARDS  # no shard twice
        assert all(len(h) <= math.ceil(SHARDS / 3) for h in held)
        peer = "12D3KooWExampleVaultPeerId"
        assert [w.owns(peer) for w in workers].count(True) == 1
        assert shard_of(peer) == shard_of(peer) and 0 <= shard_of(peer) < SHARDS
        # a clean stop hands its shards over on the others' next ticks
        workers[2].release()
        settle(workers[:2])
        assert workers[0].owned | workers[1].owned == frozenset(range(SHARDS))
        assert not workers[0].owned & workers[1].owned
    finally:
        for w in workers:
            w.close()


def test_a_silent_worker_loses_its_shards_after_the_ttl(pg_url: str):
    quiet, busy = Leases(pg_url, "quiet", ttl=0.5), Leases(pg_url, "busy", ttl=0.5)
    try:
        settle([quiet, busy], rounds=2)
        assert quiet.owned and busy.owned
        for _ in range(200):  # bounded: the lease lapses 0.5 s after quiet's last tick
            time.sleep(busy.interval)
            busy.tick()
            if len(busy.owned) == SHARDS:
                break
        assert busy.owned == frozenset(range(SHARDS))
        assert quiet.owned == frozenset()  # fencing: it stops trusting its lapsed leases
        assert quiet.tick().owned == frozenset()  # and on coming back it must ask again
    finally:
        quiet.close()
        busy.close()


async def test_kill_9_worker_has_its_share_taken_over_and_its_receipts_sent(
    vn: VaultNode,  # noqa: F811 - the fixture
    tmp_path: Path,
    pg_url: str,
):
    first = tmp_path / "w1"
    async with await Requester.create(
        first, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None, store=pg_url
    ) as biz:
        grant = await granted(biz, vn)
        assert await biz.read(grant)
    await vn.revoke(grant.grant_id, wait_delivery=True)  # no worker online to be told
    # A worker obeyed the revocation (data and key destroyed, receipt signed) and the
    # receipt is still owed: it could not reach the vault before it died.
    async with await Requester.open(
        first, BIZ_PASSPHRASE, network=False, retention_interval=None, store=pg_url
    ) as biz:
        biz.revocation.revoke_locally(grant.grant_id, at=biz.now(), reason=DeletionReason.REVOKED)
        assert not biz.grant_info(grant.grant_id).receipt_acked
    assert not receipt_recorded(vn, grant.grant_id)

    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.pg.worker_actor", str(worker_home(first, tmp_path / "wa")),
         pg_url, "doomed", "3.0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == f"ready {SHARDS}"
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
        if doomed.stdout is not None:
            doomed.stdout.close()

    async with await Requester.open(
        worker_home(first, tmp_path / "wb"), BIZ_PASSPHRASE, listen=LOOPBACK,
        retention_interval=None, store=pg_url,
    ) as survivor:  # fmt: skip
        share = await survivor.join_workers("survivor", ttl=0.6)
        await eventually(lambda: len(share.leases.owned) == SHARDS, timeout=60)
        await survivor.drain()
        await eventually(lambda: receipt_recorded(vn, grant.grant_id), timeout=30)
        assert survivor.grant_info(grant.grant_id).receipt_acked
        assert survivor.local_copy(grant.grant_id) == {}


async def test_join_workers_needs_a_postgresql_store(tmp_path: Path):
    async with await Requester.create(
        tmp_path / "biz", BIZ_PASSPHRASE, network=False, retention_interval=None
    ) as biz:
        with pytest.raises(ValueError, match="PostgreSQL"):
            await biz.join_workers("lonely")
        assert biz.share is None and biz.local.owns("any vault")  # alone, it owns every vault
