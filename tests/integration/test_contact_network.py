"""Contact over libp2p: a business messages the owner within the terms; refusals are typed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protocol import AccessDenied, ContactPolicy, ErrorCode
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.node.boss import VaultNode
from vault.requester import Offer, Requester
from vault.store.vault import Vault

SCHWAB = ContactPolicy.of([("survey", 1, 365), ("service", 5, 30)])

pytestmark = pytest.mark.timeout(60)


async def test_contact_within_terms_and_refusals(vn: VaultNode, biz: Requester):
    pending = await biz.request(
        vn.addrs[0],
        fields=["contact.email"],
        purpose="CustomerCare",
        purpose_text="ask your opinion once a year",
        actions=["contact"],
        days=365,
        offer=Offer(description="a thank-you voucher", value_cents=500),
        contact=SCHWAB,
    )
    vn.approve(pending.request_id)
    grant = await pending.decision(timeout=10)
    mid = await biz.contact(grant, "survey", "How did we do?", "One question.", mailing_id="y1")
    assert [m.message_id for m in vn.inbox.messages()] == [mid]
    with pytest.raises(AccessDenied) as exc:
        await biz.contact(grant, "survey", "Another one?")
    assert exc.value.code is ErrorCode.CAP_EXCEEDED
    with pytest.raises(AccessDenied) as exc:
        await biz.contact(grant, "offer", "Buy now")
    assert exc.value.code is ErrorCode.CATEGORY_REFUSED
    # retry with the same id: acknowledged, stored once
    assert await biz.contact(grant, "survey", "How did we do?", message_id=mid) == mid
    vn.contact.contacts.set_pref(biz.peer_id, blocked=True)
    with pytest.raises(AccessDenied) as exc:
        await biz.contact(grant, "service", "Your order shipped")
    assert exc.value.code is ErrorCode.BLOCKED
    [row] = vn.inbox.report()
    assert row["sent"] == {"survey": 1}
    assert row["refused"] == {"cap_exceeded": 1, "category_refused": 1, "blocked": 1}
    vn.inbox.mark_read(mid)
    assert vn.inbox.report()[0]["mailings"][0]["yield_pct"] == 100


async def test_demo_story_passes(vn: VaultNode, biz: Requester):
    from rich.console import Console

    from vault.demo.contact_act import run_contact_erasure_story

    vn.vault.profile.set("contact.email", "alice@example.org")
    console = Console(record=True, width=120)
    assert await run_contact_erasure_story(console, vn, biz)
    text = console.export_text()
    assert "cap_exceeded" in text and "erasure receipt" in text


async def test_message_queued_while_vault_is_offline_arrives_once(tmp_path: Path, biz: Requester):
    home = tmp_path / "vault2"
    Vault.create(home, PASSPHRASE).close()
    vn = await VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None)
    try:
        port = vn.addrs[0].split("/tcp/")[1].split("/")[0]
        pending = await biz.request(
            vn.addrs[0], fields=["contact.email"], purpose="CustomerCare",
            actions=["contact"], contact=SCHWAB,
        )  # fmt: skip
        vn.approve(pending.request_id)
        grant = await pending.decision(timeout=10)
    finally:
        await vn.close()
    mid = await biz.contact(grant, "service", "Your order shipped", queue=True)
    assert [e["message_id"] for _n, e in biz.contacts_out.pending()] == [mid]
    listen = [f"/ip4/127.0.0.1/tcp/{port}"]
    async with VaultNode.start(home, PASSPHRASE, listen=listen, control_port=None) as vn2:
        sent = 0
        for _ in range(50):  # a connection left from before the restart may fail first
            sent = await biz.flush_contacts()
            if sent:
                break
            await asyncio.sleep(0.1)
        assert sent == 1
        assert await biz.flush_contacts() == 0
        assert [m.message_id for m in vn2.inbox.messages()] == [mid]
        assert biz.contacts_out.outcomes[mid] == "sent"


async def test_control_api_inbox_prefs_and_erasures(tmp_path: Path, biz: Requester):
    import aiohttp

    home = tmp_path / "vault3"
    Vault.create(home, PASSPHRASE).close()
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=0) as vn:
        pending = await biz.request(
            vn.addrs[0], fields=["contact.email"], purpose="CustomerCare",
            actions=["contact"], contact=SCHWAB,
        )  # fmt: skip
        vn.approve(pending.request_id)
        grant = await pending.decision(timeout=10)
        mid = await biz.contact(grant, "survey", "How did we do?")
        auth = {"Authorization": f"Bearer {vn.control_token}"}
        base = f"{vn.control_url}/api/v1"
        async with aiohttp.ClientSession(headers=auth) as s:
            async with s.get(f"{base}/inbox") as r:
                assert r.status == 200
                assert [m["message_id"] for m in (await r.json())["messages"]] == [mid]
            async with s.post(f"{base}/inbox/{mid}/read") as r:
                assert r.status == 200 and (await r.json())["read_at"] is not None
            async with s.post(f"{base}/inbox/nope/read") as r:
                assert r.status == 404
            async with s.post(f"{base}/contacts/{biz.peer_id}/prefs", json={"muted": True}) as r:
                assert (await r.json()) == {
                    "requester": biz.peer_id,
                    "muted": True,
                    "blocked": False,
                    "muted_categories": [],
                    "share_reads": False,  # D43: reads are told only by choice
                    "share_mutes": True,  # and mutes unless the owner says otherwise
                }
            async with s.get(f"{base}/inbox") as r:
                assert (await r.json())["messages"] == []
            async with s.get(f"{base}/contacts") as r:
                [row] = (await r.json())["businesses"]
                assert row["muted"] and row["sent"] == {"survey": 1}
            async with s.post(f"{base}/erasures", json={"business": biz.peer_id}) as r:
                assert r.status == 200
                [e] = (await r.json())["erasures"]
            for _ in range(200):
                async with s.get(f"{base}/erasures") as r:
                    [e] = (await r.json())["erasures"]
                if e["status"] == "confirmed":
                    break
                await asyncio.sleep(0.05)
            assert e["status"] == "confirmed" and e["receipt"]["keys_destroyed"]
            async with s.post(f"{base}/erasures", json={}) as r:
                assert r.status == 400
