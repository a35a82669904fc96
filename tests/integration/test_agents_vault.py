"""The whole agents story on real nodes: a VaultNode's agent casts an intent, three
business Requesters with offer agents negotiate in parallel over libp2p, the best deal
becomes an agreement and a grant, and the winner reads the shared field under it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents import (
    Boulware,
    Conceder,
    DefaultStrategy,
    DiscreteEvaluator,
    FieldsEvaluator,
    LinearAdditiveUtility,
    NumericEvaluator,
    Preferences,
)
from protocol import AccessDenied
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault._exceptions import VaultError
from vault.node.boss import VaultNode
from vault.requester import OfferAgent, Requester
from vault.services.agent_service import AgentService
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(60)
FIELDS = ("contact.email", "contact.phone", "address.home.city", "name.given")


def business_preferences() -> Preferences:
    u = LinearAdditiveUtility(
        {"price": 0.5, "months": 0.3, "data": 0.1, "shared": 0.1},
        {
            "price": NumericEvaluator(1000, 3000),
            "months": NumericEvaluator(12, 24),
            "data": DiscreteEvaluator({"1GB": 5, "5GB": 3, "20GB": 1}),
            "shared": FieldsEvaluator(dict.fromkeys(FIELDS, 1.0), sharing_is_cost=False),
        },
    )
    return Preferences(u, 0.1, name="business")


INTENT = {
    "category": "phone",
    "wanted": "a SIM-only phone contract",
    "purpose": "dpv:ServiceProvision",
    "duration_days": 365,
    "window_seconds": 3,
    "rounds": 20,
    "reservation": 0.2,
    "issues": [
        {
            "name": "price",
            "kind": "numeric",
            "low": 1000,
            "high": 3000,
            "step": 250,
            "unit": "cents",
            "weight": 0.5,
            "prefer": "low",
        },
        {
            "name": "months",
            "kind": "numeric",
            "low": 12,
            "high": 24,
            "step": 12,
            "weight": 0.1,
            "prefer": "low",
        },
        {"name": "data", "kind": "ordinal", "levels": ["1GB", "5GB", "20GB"], "weight": 0.2},
        {
            "name": "shared",
            "kind": "fields",
            "fields": list(FIELDS),
            "required": ["contact.email"],
            "weight": 0.2,
        },
    ],
    "mandate": {
        "max_price_cents": 2500,
        "may_share": ["contact.email", "address.home.city"],
        "terms": {"months": {"high": 24}},
    },
}


@pytest.fixture
async def vn(tmp_path: Path) -> AsyncIterator[VaultNode]:
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("contact.phone", "+31 6 1234 5678")
        v.profile.set("address.home.city", "Zwolle")
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as node:
        yield node


@pytest.fixture
async def businesses(tmp_path: Path) -> AsyncIterator[list[tuple[Requester, OfferAgent]]]:
    out: list[tuple[Requester, OfferAgent]] = []
    prefs = business_preferences()
    try:
        for i, strategy in enumerate((Boulware, Conceder, DefaultStrategy)):
            biz = await Requester.ephemeral(
                tmp_path / f"biz{i}", listen=LOOPBACK, retention_interval=None
            )
            boot = [out[0][0].addrs[0]] if out else []
            agent = await OfferAgent.start(
                biz, ["phone"], strategy=strategy, preferences=prefs, bootstrap=boot
            )
            out.append((biz, agent))
        for _, agent in out[1:]:  # gossipsub heartbeats graft the mesh
            await agent.pubsub.wait_for_mesh("/kluis/intents/1/phone", 1, timeout=10)
        yield out
    finally:
        for biz, agent in out:
            await agent.close()
            await biz.close()


async def test_intent_to_agreement_to_grant_to_read(
    vn: VaultNode, businesses: list[tuple[Requester, OfferAgent]]
) -> None:
    svc = AgentService(
        vn.vault, vn.grants, vault_addrs=lambda: vn.addrs, bootstrap=[businesses[0][0].addrs[0]]
    )
    spec, mandate = svc.parse_intent(INTENT)
    outcome = await svc.send_intent(spec, mandate, expect_sessions=3)

    # gossipsub discovery: every business got the intent and negotiated in parallel
    assert all(len(agent.intents) == 1 for _, agent in businesses)
    # ...and the intent they got does not name the vault
    for _, agent in businesses:
        assert agent.intents[0].signer != vn.peer_id
        assert vn.peer_id.encode() not in agent.intents[0].to_bytes()
    assert len(outcome.candidates) == 3
    assert outcome.status == "agreed", [c.state for c in outcome.candidates]
    agreement, grant = outcome.agreement, outcome.grant
    assert agreement is not None and grant is not None
    agreement.verify()
    assert mandate.permits(outcome.winner.bid)
    assert agreement.value_cents == outcome.winner.bid["price"] <= 2500

    # the grant is in the vault's grant book, matching the agreement
    state = vn.grants.grant(grant.grant_id)
    assert state.grant.requester == agreement.business
    assert sorted(state.grant.scope.fields) == sorted(agreement.fields)
    assert state.grant.offer.value_cents == agreement.value_cents
    assert [a.agreement_id for a in svc.agreements()] == [agreement.agreement_id]

    # the winner got it, the others were told no, and the winner reads the shared fields
    winner = next((b, a) for b, a in businesses if b.peer_id == agreement.business)
    biz, agent = winner
    won = await agent.next_win(timeout=5)
    assert won.agreement == agreement
    assert [a.agreement_id for a in agent.agreements()] == [agreement.agreement_id]
    values = await biz.read(grant.grant_id)
    assert values["contact.email"] == "alice@example.org"
    assert set(values) <= set(agreement.fields)
    for other, other_agent in businesses:
        if other is biz:
            continue
        assert all(o.state != "won" for o in other_agent.outcomes)
        assert not vn.grants.grants(other.peer_id)
    # a field outside the agreement is refused
    if "contact.phone" not in agreement.fields:
        with pytest.raises(AccessDenied):
            await biz.read(grant.grant_id, ["contact.phone"])


@pytest.mark.parametrize("confirm", [True, False])
async def test_deal_above_the_threshold_waits_for_the_owner(
    vn: VaultNode, businesses: list[tuple[Requester, OfferAgent]], confirm: bool
) -> None:
    svc = AgentService(
        vn.vault,
        vn.grants,
        vault_addrs=lambda: vn.addrs,
        bootstrap=[businesses[0][0].addrs[0]],
        confirm_timeout=10,
    )
    raw = {
        **INTENT,
        "window_seconds": 6,
        "mandate": {**INTENT["mandate"], "confirm_above_cents": 999},
    }
    spec, mandate = svc.parse_intent(raw)
    task = asyncio.create_task(svc.send_intent(spec, mandate, expect_sessions=3))
    for _ in range(200):
        if svc.deals():
            break
        await asyncio.sleep(0.05)
    (deal,) = svc.deals()
    assert deal.status == "awaiting confirmation" and deal.value_cents > 999
    assert not vn.grants.grants()  # nothing is granted while the owner has not confirmed
    if confirm:
        svc.confirm(deal.deal_id)
    else:  # reject this one and every runner-up the agent asks about next
        svc.reject(deal.deal_id)
        while not task.done():
            for other in svc.deals():
                svc.reject(other.deal_id)
            await asyncio.sleep(0.05)
    outcome = await asyncio.wait_for(task, 20)
    if confirm:
        assert outcome.status == "agreed" and outcome.grant is not None
        assert outcome.agreement.value_cents == deal.value_cents
        assert len(vn.grants.grants()) == 1
    else:
        assert outcome.status == "not_confirmed" and outcome.agreement is None
        assert not vn.grants.grants() and not svc.agreements()
    with pytest.raises(VaultError):
        svc.confirm(deal.deal_id)  # decided already


async def test_control_api_casts_an_intent_and_lists_the_agreement(
    tmp_path: Path, businesses: list[tuple[Requester, OfferAgent]]
) -> None:
    import aiohttp

    home = tmp_path / "vault-api"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
    boot = [businesses[0][0].addrs[0]]
    async with VaultNode.start(
        home, PASSPHRASE, listen=LOOPBACK, bootstrap=boot, control_port=0
    ) as node:
        assert node.agents is not None
        auth = {"Authorization": f"Bearer {node.control_token}"}
        base = f"{node.control_url}/api/v1/agents"
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.post(f"{base}/intents", json={**INTENT, "window_seconds": 5}) as r:
                assert r.status == 202, await r.text()
                ref = (await r.json())["ref"]
            entry: dict = {}
            for _ in range(400):  # the window, plus room for a loaded machine (bounded)
                async with http.get(f"{base}/intents") as r:
                    entry = next(e for e in (await r.json())["intents"] if e["ref"] == ref)
                if entry["status"] != "negotiating":
                    break
                await asyncio.sleep(0.05)
            assert entry["status"] == "agreed", entry
            async with http.get(f"{base}/agreements") as r:
                agreements = (await r.json())["agreements"]
            assert [a["agreement_id"] for a in agreements] == [entry["agreement_id"]]
            async with http.get(f"{base}/deals?all=1") as r:
                assert (await r.json()) == {"deals": []}
            async with http.post(f"{base}/deals/nope/confirm") as r:
                assert r.status == 404
            async with http.post(f"{base}/intents", json={"category": "phone"}) as r:
                assert r.status == 400
            async with http.post(f"{base}/intents", data=b"{nope") as r:
                assert r.status == 400
