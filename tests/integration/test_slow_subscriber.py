"""A subscriber that never reads costs a bounded backlog, then is dropped and audited.

Issue 13 §7: sixteen subscriptions that never read grew RSS linearly while the
owner wrote (one unbounded queue each), and a revoke notice to a stuck
subscriber was never recorded, because the send it waited on never returned.
Real nodes on 127.0.0.1; the subscriber opens the stream, subscribes, and then
stops reading, so the muxer's flow-control window fills and sends block.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol import ACCESS_GRAMMAR, Ack, Identity, Message, dump_message
from protocol.listen import LOOPBACK
from protocol.runtime import Node
from tests.conftest import PASSPHRASE
from tests.vault.access_helpers import access_request, subscribe
from tests.vault.serving import ServerStream
from vault.node.boss import VaultNode
from vault.services.access import AccessService
from vault.services.grantbook import GrantBook
from vault.services.rules import RuleBook
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(180)

FIELD = "custom.note"
#: Big updates fill the muxer's window (256 KiB) in about 250 pushes.
BIG = "n" * 990
BACKLOG = 8
BIZ = Identity(b"\x41" * 32)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[VaultNode, Node, Identity]]:
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set(FIELD, "first")
    biz = Identity.generate()
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn:
        requester = await Node.start(biz, listen=LOOPBACK)
        try:
            await requester.connect(vn.node.addrs[0])
            yield vn, requester, biz
        finally:
            await requester.close()


async def _stuck_subscription(vn: VaultNode, requester: Node, biz: Identity) -> str:
    """A granted subscription whose reader never reads after the Ack."""
    req = access_request(biz, vn.peer_id, (FIELD,), actions=("read", "subscribe"))
    vn.grants.submit(req)
    grant_id = vn.grants.approve(req.request_id).grant_id
    stream = await requester.open_stream(vn.peer_id, ACCESS_GRAMMAR)
    await stream.send(subscribe(biz, grant_id, [FIELD]))
    assert isinstance(await stream.receive(), Ack)
    return grant_id  # the stream stays open and unread until the requester closes


async def _write(vn: VaultNode, count: int) -> None:
    for i in range(count):
        vn.vault.profile.set(FIELD, f"{BIG}{i}")
        await asyncio.sleep(0)  # let the pump run, as the owner's writes would


async def test_a_subscriber_that_never_reads_is_dropped_and_audited(world) -> None:
    vn, requester, biz = world
    vn.access.max_backlog = BACKLOG
    vn.access.push_send_timeout = 30.0  # the backlog bound acts first here
    grant_id = await _stuck_subscription(vn, requester, biz)
    assert vn.access.subscriptions(grant_id) == 1

    written = 0
    while vn.access.subscriptions(grant_id) and written < 2000:  # bounded
        await _write(vn, 20)
        written += 20
        queued = [s.queue.qsize() for subs in vn.access._subs.values() for s in subs]
        assert all(q <= BACKLOG for q in queued), queued  # never more than the bound
    assert vn.access.subscriptions(grant_id) == 0, "the stuck subscriber was never dropped"
    drops = [e for e in vn.vault.audit.entries() if e.kind == "access.subscription_dropped"]
    assert len(drops) == 1
    assert drops[0].details["grant_id"] == grant_id
    assert drops[0].details["requester"] == biz.peer_id
    # later writes queue nothing for it, and the grant itself still holds
    await _write(vn, 20)
    assert vn.access.subscriptions() == 0
    assert vn.grants.grant(grant_id).status(vn.vault.clock()) == "active"


class StuckStream(ServerStream):
    """A subscriber whose transport stopped taking bytes: every push after the Ack
    blocks for good (py-libp2p's yamux keeps granting window while the application
    does not read, so a real node cannot be made to block on cue)."""

    async def send(self, message: Message) -> None:
        if self.sent:  # the Ack went out; now the window is shut
            await asyncio.Event().wait()
        await super().send(message)


async def test_the_revoke_notice_to_a_stuck_subscriber_is_recorded(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", PASSPHRASE) as vault:
        vault.profile.set(FIELD, "first")
        grants = GrantBook(vault)
        svc = AccessService(vault, grants, RuleBook(vault))
        svc.push_send_timeout = 0.5
        await svc.start()
        try:
            req = access_request(BIZ, vault.peer_id, (FIELD,), actions=("read", "subscribe"))
            grants.submit(req)
            grant_id = grants.approve(req.request_id).grant_id
            link = StuckStream(BIZ.peer_id)
            started = link.feed(svc, dump_message(subscribe(BIZ, grant_id, [FIELD])))
            assert inspect.isawaitable(started)
            await started
            vault.profile.set(FIELD, "second")  # this push blocks for good
            await asyncio.sleep(0)
            grants.revoke(grant_id, reason="stop")
            task = svc.delivery(grant_id)
            assert task is not None
            assert await asyncio.wait_for(task, 30) is False  # a bound, not a speed check
            assert grants.grant(grant_id).notice_delivered is False  # recorded, not lost
            notices = [e.details for e in vault.audit.entries() if e.kind == "grant.notice"]
            assert notices == [
                {"grant_id": grant_id, "requester": BIZ.peer_id, "delivered": False, "via": "none"}
            ]
            drops = [e for e in vault.audit.entries() if e.kind == "access.subscription_dropped"]
            assert [d.details["grant_id"] for d in drops] == [grant_id]
            assert link.closed and svc.subscriptions() == 0
        finally:
            await svc.aclose()
