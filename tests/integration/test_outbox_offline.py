"""Offline delivery: a business that was down gets updates, revocation, erasure: in order, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protocol import verify_erasure_receipt
from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, PASSPHRASE, eventually
from vault.node.boss import VaultNode
from vault.requester import GrantHandle, GrantStatus, Offer, Requester
from vault.services.erasure import verify_export
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def vault_home(tmp_path: Path) -> Path:
    """No street: a read of ``address.home.*`` here is the city alone."""
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
    return home


@pytest.fixture
def vn(vn: VaultNode) -> VaultNode:
    vn.delivery.outbox.base_backoff_s = 0.05  # retries within the test's patience
    return vn


async def granted(biz: Requester, vn: VaultNode, fields: list[str]) -> GrantHandle:
    pending = await biz.request(
        vn.addrs[0],
        fields=fields,
        purpose="ServiceProvision",
        days=30,
        offer=Offer(description="10% off", value_cents=500),
    )
    vn.approve(pending.request_id)
    return await pending.decision(timeout=10)


async def test_offline_business_gets_everything_once_in_order(vn: VaultNode, tmp_path: Path):
    home = tmp_path / "biz"
    biz = await Requester.open(home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None)
    try:
        g1 = await granted(biz, vn, ["address.home.*"])
        g2 = await granted(biz, vn, ["contact.email"])
        await biz.read(g1)
        await biz.read(g2)
        assert vn.delivery.public_key(biz.peer_id) == biz.delivery.public_hex
    finally:
        await biz.close()

    # The business is down: change a field, revoke the other grant, ask for erasure.
    vn.vault.profile.set("address.home.city", "Deventer")
    await vn.revoke(g2.grant_id)
    rec = vn.delivery.erase(biz.peer_id, reason="forget me")
    kinds = [i.kind for i in vn.outbox.pending(biz.peer_id)]
    assert kinds == ["update", "revoke_notice", "revoke_notice", "erase_request"]
    for item in vn.outbox.pending():
        assert b"Deventer" not in item.sealed  # sealed with HPKE, never plaintext
    assert vn.erasures.get(rec.erasure_id).status(vn.grants.now()) == "pending"

    biz = await Requester.open(home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None)
    try:
        await eventually(lambda: len(vn.outbox) == 0)
        applied = biz.delivery.applied
        assert [kind for _v, _s, kind in applied] == kinds
        seqs = [seq for _v, seq, _k in applied]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # everything applied exactly once; the erasure is confirmed with a signed receipt
        done = vn.erasures.get(rec.erasure_id)
        assert done.status(vn.grants.now()) == "confirmed"
        assert done.receipt is not None
        verify_erasure_receipt(done.receipt, done.request)
        assert set(done.receipt.grant_ids) == {g1.grant_id, g2.grant_id}
        assert done.receipt.keys_destroyed
        assert all(verify_export(e) for e in vn.erasures.export())
        assert biz.local_copy(g1.grant_id) == {}
        info = {i.grant_id: i for i in biz.grants()}
        assert (
            info[g1.grant_id].status == GrantStatus.DELETED.value or info[g1.grant_id].data_deleted
        )
        assert not biz.copies.has_key(g1.grant_id)
        # a re-sent delivery is not applied twice
        await biz.delivery.poll()
        await asyncio.sleep(0.2)
        assert len(biz.delivery.applied) == len(kinds)
        # the vault's audit log keeps the fact, never the values
        kinds_logged = [e.kind for e in vn.vault.audit.entries()]
        assert "erasure.request" in kinds_logged and "erasure.confirmed" in kinds_logged
        for entry in vn.vault.audit.entries():
            assert "Deventer" not in str(entry.details)
    finally:
        await biz.close()


async def test_queue_survives_a_vault_restart(vault_home: Path, tmp_path: Path):
    home = tmp_path / "biz"
    vn = await VaultNode.start(vault_home, PASSPHRASE, listen=LOOPBACK, control_port=None)
    try:
        biz = await Requester.open(home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None)
        try:
            g = await granted(biz, vn, ["address.home.*"])
            await biz.read(g)
        finally:
            await biz.close()
        for city in ("Deventer", "Kampen", "Hattem"):
            vn.vault.profile.set("address.home.city", city)
        assert len(vn.outbox) == 3
    finally:
        await vn.close()
    async with VaultNode.start(vault_home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn2:
        assert [i.kind for i in vn2.outbox.pending()] == ["update"] * 3
        biz = await Requester.open(home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None)
        try:
            # the business knows the vault's old address; it polls the new one
            biz.book.put_grant(biz.book.grant(g.grant_id).evolve(vault_addr=vn2.addrs[0]))
            assert await biz.delivery.poll() == 1
            assert len(vn2.outbox) == 0
            assert [k for _v, _s, k in biz.delivery.applied] == ["update"] * 3
            assert biz.local_copy(g) == {"address.home.city": "Hattem"}
        finally:
            await biz.close()


async def test_online_business_gets_updates_pushed_without_subscribing(
    vn: VaultNode, tmp_path: Path
):
    async with Requester.ephemeral(tmp_path / "b", listen=LOOPBACK, retention_interval=None) as biz:
        g = await granted(biz, vn, ["address.home.*"])
        await biz.read(g)
        vn.vault.profile.set("address.home.city", "Deventer")
        await eventually(lambda: biz.local_copy(g) == {"address.home.city": "Deventer"})
        await eventually(lambda: len(vn.outbox) == 0)
        assert [k for _v, _s, k in biz.delivery.applied] == ["update"]
        # a revocation reaches it directly; the queued copy is cancelled or applied once
        await vn.revoke(g.grant_id, wait_delivery=True)
        await vn.delivery.settle()
        await eventually(lambda: len(vn.outbox) == 0)
        assert biz.local_copy(g) == {}
