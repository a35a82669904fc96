"""A subscription outlives its connection (``vault/requester/_resubscribe.py``).

A relay ends a relayed connection at its duration limit; a vault restarts. The
SDK subscribes again by itself and yields what changed while no stream was open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from libp2p.peer.id import ID

from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE, eventually
from vault.node.boss import VaultNode
from vault.requester import Requester, Update
from vault.store.vault import Vault

from .test_requester_flow import granted


@pytest.fixture
async def vn(tmp_path: Path) -> AsyncIterator[VaultNode]:
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as vault:
        vault.profile.set("contact.email", "alice@example.org")
        vault.profile.set("address.home.city", "Zwolle")
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as node:
        yield node


async def _cut(vault: VaultNode, peer: str) -> None:
    """Close every connection between the vault and ``peer`` (as a relay's limit does)."""
    node = vault.node
    assert node is not None

    async def close() -> None:
        await node.libp2p_host.get_network().close_peer(ID.from_base58(peer))

    await node._call(close)


async def test_a_broken_subscription_resubscribes_and_catches_up(
    vn: VaultNode, tmp_path: Path
) -> None:
    async with await Requester.ephemeral(
        tmp_path / "biz", listen=LOOPBACK, retention_interval=None
    ) as biz:
        grant = await granted(biz, vn)
        await biz.read(grant)
        updates: list[Update] = []
        errors: list[BaseException] = []

        async def follow() -> None:
            try:
                async for update in biz.subscribe(grant):
                    updates.append(update)
            except Exception as exc:  # the test fails on it below
                errors.append(exc)

        follower = asyncio.create_task(follow())
        await eventually(lambda: vn.access.subscriptions(grant.grant_id) == 1)

        await _cut(vn, biz.peer_id)
        # Changed while no stream is open: the vault cannot push it to anyone.
        vn.vault.profile.set("address.home.city", "Deventer")
        await eventually(lambda: bool(errors) or len(updates) == 1, timeout=20)
        assert not errors, errors
        assert (updates[0].path, updates[0].value) == ("address.home.city", "Deventer")

        # And the new subscription carries the next change as a push.
        await eventually(lambda: vn.access.subscriptions(grant.grant_id) == 1)
        vn.vault.profile.set("address.home.street", "Brink 1")
        await eventually(lambda: bool(errors) or len(updates) == 2, timeout=20)
        assert not errors, errors
        assert (updates[1].path, updates[1].value) == ("address.home.street", "Brink 1")
        assert biz.local_copy(grant)["address.home.city"] == "Deventer"
        follower.cancel()
