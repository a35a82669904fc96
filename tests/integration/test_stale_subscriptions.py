"""A subscription whose stream ended is forgotten at once, not at the next push (D50).

The failover of business workers (issue 12): a worker killed with ``kill -9``
leaves at each of its vaults a subscription whose connection is gone. The vault
used to notice that only when it next pushed a change, and counted the dead
subscription against ``MAX_SUBSCRIPTIONS_PER_PEER``: a requester that re-subscribed
that many times (lease hand-overs, kill -9, broken connections) while the owner
changed nothing was refused (``rate_limited``) for good, so survivors could not
take over. These tests run real nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import pytest

from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, eventually
from tests.integration.conftest import vault_home, vn  # noqa: F401 - fixtures
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.services.access import MAX_SUBSCRIPTIONS_PER_PEER

from .test_requester_flow import granted

pytestmark = pytest.mark.timeout(120)


async def _subscribed(biz: Requester, grant_id: str) -> asyncio.Task[None]:
    """A task holding a subscription, once the vault acknowledged it (or its error)."""
    acked = asyncio.Event()

    async def hold() -> None:
        async for _ in biz.subscribe(grant_id, on_subscribed=acked.set):
            pass

    task = asyncio.create_task(hold())
    waiting = asyncio.create_task(acked.wait())
    await asyncio.wait([task, waiting], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # raises what the vault answered (rate_limited before D50)
    assert acked.is_set(), "not acknowledged within 20 s"
    return task


async def _end(task: asyncio.Task[None]) -> None:
    task.cancel()  # the stream ends: a lease handed over, a worker stopped
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_ended_subscriptions_do_not_use_up_the_peers_allowance(
    vn: VaultNode,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    async with await Requester.create(
        tmp_path / "biz", BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as biz:
        grant = await granted(biz, vn)
        for _ in range(MAX_SUBSCRIPTIONS_PER_PEER + 2):  # the owner changes nothing meanwhile
            await _end(await _subscribed(biz, grant.grant_id))
            await eventually(lambda: vn.access.subscriptions(grant.grant_id) == 0, timeout=10)


async def _killed_holder(home: Path, grant_id: str) -> None:
    """Run a subscriber process until the vault acknowledged it, then ``kill -9`` it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.subscriber_actor",
        str(home),
        grant_id,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().strip() == "held", line  # "refused rate_limited" before D50
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def test_workers_killed_with_kill_9_leave_nothing_that_locks_out_the_next(
    vn: VaultNode,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """Business workers share one identity; each one in turn holds the grant's
    subscription and is killed with ``kill -9`` (its sockets close, nothing is said).
    The owner changes nothing meanwhile, so the vault learns of it from the connection."""
    home = tmp_path / "biz"
    async with await Requester.create(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as biz:
        grant = await granted(biz, vn)
    for _ in range(MAX_SUBSCRIPTIONS_PER_PEER + 2):
        await _killed_holder(home, grant.grant_id)  # refused (rate_limited) at 17 before D50
        await eventually(lambda: vn.access.subscriptions(grant.grant_id) == 0, timeout=20)
    # and the next one still gets every change the owner makes
    async with await Requester.open(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as survivor:
        task = await _subscribed(survivor, grant.grant_id)
        try:
            assert vn.access.subscriptions(grant.grant_id) == 1
            vn.vault.profile.set("contact.email", "alice@example.net")
            await eventually(
                lambda: (
                    survivor.local_copy(grant.grant_id).get("contact.email") == "alice@example.net"
                ),
                timeout=20,
            )
        finally:
            await _end(task)
