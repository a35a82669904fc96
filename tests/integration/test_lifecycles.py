"""VaultNode and Requester open in steps and close in reverse (protocol.lifecycle).

A start that fails part-way undoes what it did (the lock, the store, the node),
so the next start works; ``async with X.start(...)`` and ``await X.start(...)``
both work, and closing twice is harmless.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import KluisError
from vault.node.boss import VaultNode
from vault.requester import DecisionPending, Requester
from vault.store.vault import Vault

PASSPHRASE = "correct horse battery"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]

pytestmark = pytest.mark.timeout(60)


async def test_a_vault_node_that_fails_to_start_undoes_its_steps(tmp_path: Path) -> None:
    home = tmp_path / "vault"
    Vault.create(home, PASSPHRASE).close()
    with pytest.raises(ValueError, match="listen"):
        await VaultNode.start(home, PASSPHRASE, listen=["not a multiaddr"], control_port=None)
    # the lock was released and the store closed: a second start works
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn:
        assert vn.addrs
        kinds = [e.kind for e in vn.vault.audit.entries()]
    assert kinds[-1] == "node.start"
    await vn.close()  # already closed: harmless
    with Vault.open(home, PASSPHRASE) as v:
        assert [e.kind for e in v.audit.entries()][-2:] == ["node.stop", "vault.unlock"]


async def test_a_requester_that_fails_to_start_undoes_its_steps(tmp_path: Path) -> None:
    home = tmp_path / "shop"
    with pytest.raises(ValueError, match="listen"):
        await Requester.open(home, "shop passphrase", listen=["nope"])
    async with Requester.open(home, "shop passphrase", listen=LOOPBACK) as shop:
        assert shop.addrs and not shop.closed
    assert shop.closed
    with pytest.raises(KluisError):  # a wrong passphrase: nothing is left locked either
        await Requester.open(home, "wrong passphrase", network=False)
    shop = await Requester.open(home, "shop passphrase", network=False)
    await shop.close()


def test_decision_pending_is_a_timeout() -> None:
    exc = DecisionPending("r1")
    assert isinstance(exc, TimeoutError) and isinstance(exc, KluisError)
    assert exc.request_id == "r1" and "still pending" in exc.message
