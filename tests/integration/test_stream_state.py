"""A running vault serves every stream through the access grammar's state machine.

A frame that breaks the protocol ends *that* stream, with one typed error that
is audited; the vault goes on serving the business's SDK, an open
subscription, and new streams of the offending peer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protocol import ACCESS, ACCESS_GRAMMAR, Error, ErrorCode, Identity, parse_message
from protocol.runtime import EndOfStream, Node
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.vault import Vault

from ..vault.access_helpers import read

PASSPHRASE = "correct horse battery"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xff{not json", ErrorCode.MALFORMED),
        (
            b'{"type": "decision", "request_id": "r", "status": "pending"}',
            ErrorCode.UNEXPECTED_MESSAGE,
        ),
    ],
)
async def test_a_bad_frame_ends_its_stream_and_nothing_else(
    tmp_path: Path, frame: bytes, code: ErrorCode
) -> None:
    home = tmp_path / "vault"
    Vault.create(home, PASSPHRASE).close()
    async with (
        VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn,
        Requester.ephemeral(tmp_path / "shop", listen=LOOPBACK, retention_interval=None) as shop,
        Node.start(Identity.generate(), listen=LOOPBACK) as mallory,
    ):
        vn.vault.profile.set("contact.email", "anna@example.org")
        pending = await shop.request(vn.addrs[0], ["contact.email"], "ServiceProvision")
        vn.approve(pending.request_id)
        grant = await pending.decision(timeout=10)
        updates = shop.subscribe(grant)
        first = asyncio.ensure_future(updates.__anext__())
        await asyncio.sleep(0.2)  # the subscription is open

        await mallory.connect(vn.addrs[0])
        stream = await mallory.open_stream(vn.peer_id, ACCESS)  # raw frames: a hostile peer
        await stream.send(frame)
        reply = parse_message(await asyncio.wait_for(stream.receive(), 5))
        assert isinstance(reply, Error) and reply.code is code
        with pytest.raises(EndOfStream):
            await asyncio.wait_for(stream.receive(), 5)
        await stream.aclose()
        vn.access.strangers.flush_all(vn.grants.now())  # a stranger's refusals: one count
        refusal = [e for e in vn.vault.audit.entries() if e.kind == "access.refused"][-1]
        assert refusal.details["peer"] == mallory.peer_id
        assert refusal.details["code"] == code.value

        # the business is still served: a read, and its open subscription
        assert await shop.read(grant) == {"contact.email": "anna@example.org"}
        vn.vault.profile.set("contact.email", "anna@example.net")
        update = await asyncio.wait_for(first, 10)
        assert update.value == "anna@example.net"
        await updates.aclose()
        # and the offending peer, on a new stream, gets typed answers again
        again = await mallory.request(
            vn.peer_id, ACCESS_GRAMMAR, read(mallory.identity, grant.grant_id, ["contact.email"])
        )
        assert isinstance(again, Error) and again.code is ErrorCode.WRONG_PEER
