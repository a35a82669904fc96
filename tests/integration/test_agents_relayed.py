"""A negotiation through a relay: the relay's limits let an agents deal get through.

Issue 11 asks that a scoped read, a subscription *and a negotiation* all fit in
the relay's limits (docs/deployment.md, "Relay limits"). Here nobody listens on
an address of their own: the vault, the vault's intent node and the two
businesses each hold a slot at one relay (a ``kluis relay``-style node), so the
intent's gossip, every negotiation move, the agreement and the winner's first
read all cross the relay.
(Reads and subscriptions through a relay are covered by ``test_reach.py``,
``test_reach_netns.py`` and the demo's act 4.)

The customer agent's ephemeral node is started by ``agents.network`` with a
listen address only; the test gives it a relay slot by wrapping
``Node.start`` for calls without ``reach`` (every other node here passes one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agents import Boulware, Conceder
from protocol.runtime import Node
from protocol.runtime.reach import ReachConfig, RelayLimits
from protocol.signing import Identity
from tests.conftest import PASSPHRASE
from vault.node.boss import VaultNode
from vault.requester import OfferAgent, Requester
from vault.services.agent_service import AgentService
from vault.store.vault import Vault

from .test_agents_vault import INTENT, business_preferences

pytestmark = pytest.mark.timeout(90)
LOOP = ["/ip4/127.0.0.1/tcp/0"]


async def _until(check: Callable[[], object], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def _behind(relay: Node) -> ReachConfig:
    """A node with no address of its own: one slot at ``relay``, no hole punching."""
    return ReachConfig(bootstrap=(relay.addrs[0],), reserve="always", hole_punch=False)


async def _reserved(node: Node | None) -> list[str]:
    assert node is not None and node.reach is not None
    reach = node.reach
    await _until(lambda: reach.reservation is not None)
    assert node.addrs and all("/p2p-circuit" in a for a in node.addrs), node.addrs
    return node.addrs


@pytest.fixture
async def relay() -> AsyncIterator[Node]:
    async with Node.start(
        Identity.generate(), LOOP, reach=ReachConfig.for_relay(RelayLimits())
    ) as node:
        yield node


async def test_a_negotiation_and_its_agreement_go_through_a_relay(
    tmp_path: Path, relay: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_start = Node.start.__func__  # type: ignore[attr-defined]
    intent_nodes: list[Node] = []

    def start(cls: type[Node], identity: Any, listen: Any = (), **kw: Any) -> Any:
        if "reach" in kw:
            return real_start(cls, identity, listen, **kw)

        async def behind_relay() -> Node:  # the customer agent's intent node
            node = await real_start(cls, identity, [], reach=_behind(relay), **kw)
            intent_nodes.append(node)
            await _reserved(node)
            return node

        return behind_relay()

    monkeypatch.setattr(Node, "start", classmethod(start))

    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
    prefs = business_preferences()
    async with VaultNode.start(
        home, PASSPHRASE, listen=[], control_port=None, reach=_behind(relay)
    ) as vn:
        await _reserved(vn.node)
        businesses: list[tuple[Requester, OfferAgent]] = []
        try:
            for i, strategy in enumerate((Boulware, Conceder)):
                biz = await Requester.open(
                    tmp_path / f"biz{i}",
                    PASSPHRASE,
                    listen=[],
                    reach=_behind(relay),
                    retention_interval=None,
                )
                agent = await OfferAgent.start(biz, ["phone"], strategy=strategy, preferences=prefs)
                businesses.append((biz, agent))
                await _reserved(biz.node)
            boot = [biz.node.addrs[0] for biz, _ in businesses if biz.node is not None]
            svc = AgentService(vn.vault, vn.grants, vault_addrs=lambda: vn.addrs, bootstrap=boot)
            spec, mandate = svc.parse_intent({**INTENT, "window_seconds": 10})
            outcome = await svc.send_intent(spec, mandate, expect_sessions=2, min_subscribers=2)

            assert len(intent_nodes) == 1  # the intent node was the wrapped one
            assert len(outcome.candidates) == 2
            assert outcome.status == "agreed", [c.state for c in outcome.candidates]
            agreement, grant = outcome.agreement, outcome.grant
            assert agreement is not None and grant is not None
            agreement.verify()
            winner, won = next((b, a) for b, a in businesses if b.peer_id == agreement.business)
            assert (await won.next_win(timeout=15)).agreement == agreement  # award, relayed
            assert vn.grants.grant(grant.grant_id).grant.requester == winner.peer_id
            # A relayed read after the relayed negotiation: the intent node's circuits
            # have ended by now, and the winner's circuit to the vault must outlive them
            # (py-libp2p's relay used to cut it: protocol/runtime/relay.py, _Circuits).
            values = await winner.read(grant.grant_id)
            assert values["contact.email"] == "alice@example.org"
            assert winner.node is not None and winner.node.path_to(vn.peer_id) == "relayed"
            # Nobody had an address of its own: every move crossed the relay.
            assert all("/p2p-circuit" in a for a in outcome.intent.negotiate_addrs)
            assert relay.reach is not None and relay.reach.relay_service is not None
            assert relay.reach.relay_service.summary()["reservations"] >= 4
        finally:
            for biz, agent in businesses:
                await agent.close()
                await biz.close()
