"""Agents over real libp2p nodes on 127.0.0.1: gossipsub intents, parallel sessions, a deal.

The vault side here is a minimal in-memory closer (sign + protocol.make_grant);
tests/integration/test_agents_vault.py runs the same story against a VaultNode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from agents import Boulware, Conceder, DefaultStrategy, Linear, Mandate, Preferences, TermLimit
from agents.agreements import Agreement
from agents.intents import Intent, intent_topic, intent_validator, parse_intent
from agents.network import Candidate, CustomerAgent, IntentSpec, negotiate_intent, wall_ms
from protocol import (
    AccessRequest,
    Grant,
    Identity,
    Offer,
    Purpose,
    Scope,
    canonical_dumps,
    canonical_loads,
    make_grant,
    new_id,
    new_nonce,
    sign,
)
from protocol.listen import LOOPBACK
from protocol.runtime import Node
from protocol.runtime.pubsub import PubSub
from tests.agents.conftest import business_prefs, customer_prefs, phone_domain

pytestmark = pytest.mark.timeout(60)


@dataclass
class MemoryCloser:
    """The vault side of a deal without a vault: sign, make the grant, remember."""

    vault: Identity = field(default_factory=Identity.generate)
    confirm_all: bool = True
    closed: list[tuple[Agreement, Grant]] = field(default_factory=list)

    @property
    def vault_peer(self) -> str:
        return self.vault.peer_id

    @property
    def vault_addrs(self) -> list[str]:
        return [f"/ip4/127.0.0.1/tcp/1/p2p/{self.vault.peer_id}"]

    async def confirm(self, candidate: Candidate, intent: Intent) -> bool:
        return self.confirm_all

    async def close(self, agreement: Agreement, request: AccessRequest) -> tuple[Agreement, Grant]:
        grant = make_grant(request, self.vault, now_ms=wall_ms())
        done = agreement.sign_vault(self.vault)
        self.closed.append((done, grant))
        return done, grant


@dataclass
class Biz:
    node: Node
    pubsub: PubSub
    identity: Identity
    strategy: type
    intents: list[Intent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    outcomes: list = field(default_factory=list)

    async def on_award(self, draft: Agreement) -> tuple[Agreement, AccessRequest]:
        request = sign(
            AccessRequest(
                request_id=new_id(),
                requester=self.identity.peer_id,
                vault=draft.vault,
                scope=Scope.of(list(draft.fields), ["read"]),
                purpose=Purpose(code=draft.purpose, text=draft.purpose_text),
                duration_days=draft.duration_days,
                retention_days=0,
                offer=Offer(value_cents=draft.value_cents),
                nonce=new_nonce(),
                ts=wall_ms(),
            ),
            self.identity,
        )
        return draft.sign_business(self.identity), request


def mandate_for(owner: Identity, **kw) -> Mandate:
    args = dict(
        owner=owner.peer_id,
        mandate_id="m1",
        domain="phone",
        price_issue="price",
        max_price_cents=3000,
        fields_issue="shared",
        may_share=["contact.email", "address.city"],
        terms={"months": TermLimit(high=24)},
    )
    args.update(kw)
    return Mandate(**args).sign(owner)


def spec(window_ms: int = 2500) -> IntentSpec:
    return IntentSpec(
        category="phone",
        domain=phone_domain(),
        preferences=customer_prefs(phone_domain()),
        purpose="dpv:ServiceProvision",
        duration_days=30,
        window_ms=window_ms,
        rounds=20,
        wanted="a phone contract",
        fields_issue="shared",
        price_issue="price",
        may_share=["contact.email", "address.city"],
    )


async def start_biz(n: int) -> list[Biz]:
    out = []
    strategies = [Boulware, Linear, Conceder, DefaultStrategy]
    for i in range(n):
        ident = Identity.generate()
        node = await Node.start(ident, LOOPBACK)
        ps = await PubSub.attach(node)
        out.append(Biz(node, ps, ident, strategies[i % len(strategies)]))
    for b in out[1:]:
        await b.node.connect(out[0].node.addrs[0])
    for b in out:
        sub = await b.pubsub.subscribe(intent_topic("phone"), validator=intent_validator(wall_ms))

        async def serve(b: Biz = b, sub=sub) -> None:
            async for msg in sub:
                intent = parse_intent(msg.data, now_ms=wall_ms(), publisher=msg.from_peer)
                b.intents.append(intent)
                b.outcomes.append(
                    await negotiate_intent(
                        b.node,
                        intent,
                        b.strategy(),
                        Preferences(business_prefs(phone_domain()).utility, 0.1),
                        b.on_award,
                    )
                )

        b.task = asyncio.create_task(serve())
    for b in out[1:]:  # gossipsub heartbeats graft the mesh: every business can be reached
        await b.pubsub.wait_for_mesh(intent_topic("phone"), 1, timeout=10)
    return out


@pytest.fixture
async def businesses() -> AsyncIterator[list[Biz]]:
    bs = await start_biz(3)
    try:
        yield bs
    finally:
        for b in bs:
            if b.task is not None:
                b.task.cancel()
        for b in bs:
            await b.node.close()


async def test_one_intent_three_businesses_one_agreement(businesses: list[Biz]) -> None:
    owner = Identity.generate()
    closer = MemoryCloser(vault=owner)
    agent = CustomerAgent(
        spec(),
        mandate_for(owner),
        closer,
        bootstrap=[businesses[0].node.addrs[0]],
        min_subscribers=1,
        expect_sessions=3,
    )
    outcome = await agent.run()
    assert [len(b.intents) for b in businesses] == [1, 1, 1]
    assert len(outcome.candidates) == 3
    assert outcome.status == "agreed", outcome
    assert outcome.agreement is not None and outcome.grant is not None
    outcome.agreement.verify()
    assert outcome.agreement.vault == owner.peer_id
    assert mandate_for(owner).permits(outcome.winner.bid)
    await asyncio.sleep(0.3)
    results = sorted(o.state for b in businesses for o in b.outcomes)
    assert results.count("won") == 1, [o.reason for b in businesses for o in b.outcomes]
    won = next(o for b in businesses for o in b.outcomes if o.state == "won")
    assert won.agreement == outcome.agreement and won.grant == outcome.grant
    assert set(outcome.grant.scope.fields) == set(outcome.agreement.fields)


class GiveAway:
    """Hostile customer strategy: accepts anything, counters with everything at top price."""

    name = "give-away"

    def start(self, ctx) -> None:
        self.domain = ctx.domain

    def propose(self, state):
        return self.domain.bid(
            price=3000,
            months=24,
            data="1GB",
            shared={"contact.email", "contact.phone", "address.city"},
        )

    def respond(self, state, offer):
        from agents import Accept

        return Accept()


async def test_hostile_customer_strategy_cannot_agree_outside_the_mandate(
    businesses: list[Biz],
) -> None:
    owner = Identity.generate()
    closer = MemoryCloser(vault=owner)
    s = spec()
    s.strategy = GiveAway
    mandate = mandate_for(owner, max_price_cents=2000)
    agent = CustomerAgent(
        s, mandate, closer, bootstrap=[businesses[0].node.addrs[0]], expect_sessions=3
    )
    outcome = await agent.run()
    assert len(outcome.candidates) == 3
    for cand in outcome.candidates:
        if cand.bid is not None:
            assert mandate.permits(cand.bid), cand
    if outcome.agreement is not None:
        assert outcome.agreement.value_cents <= 2000
        assert set(outcome.agreement.fields) <= {"contact.email", "address.city"}


async def test_a_business_that_vanishes_mid_session_does_not_stop_the_others(
    businesses: list[Biz],
) -> None:
    """Its node goes away after its first move: that session fails, the others go on to a deal."""
    gone = businesses[2]
    moves: list[int] = []

    class VanishAfterFirstMove:
        name = "vanish"

        def __init__(self) -> None:
            self.inner = Boulware()

        def start(self, ctx):  # type: ignore[no-untyped-def]
            self.inner.start(ctx)

        def propose(self, state):  # type: ignore[no-untyped-def]
            return self.inner.propose(state)

        def respond(self, state, offer):  # type: ignore[no-untyped-def]
            moves.append(1)
            if len(moves) == 1:  # answer once, then the whole node disappears
                asyncio.get_running_loop().create_task(gone.node.close())
            return self.inner.respond(state, offer)

    gone.strategy = VanishAfterFirstMove
    owner = Identity.generate()
    agent = CustomerAgent(
        spec(),
        mandate_for(owner),
        MemoryCloser(vault=owner),
        bootstrap=[businesses[0].node.addrs[0]],
        expect_sessions=3,
    )
    outcome = await asyncio.wait_for(agent.run(), 30)
    assert len(outcome.candidates) == 3 and moves, "the vanishing business never negotiated"
    by_business = {c.business: c for c in outcome.candidates}
    vanished = by_business[gone.identity.peer_id]
    assert vanished.state in ("failed", "no_deal"), vanished
    assert outcome.status == "agreed", outcome
    assert outcome.winner is not None and outcome.winner.business != gone.identity.peer_id


async def test_pubsub_drops_forged_expired_and_oversized_intents() -> None:
    nodes = [await Node.start(Identity.generate(), LOOPBACK) for _ in range(2)]
    try:
        pub, sub_ps = [await PubSub.attach(n) for n in nodes]
        topic = intent_topic("phone")
        sub = await sub_ps.subscribe(topic, validator=intent_validator(wall_ms))
        await nodes[0].connect(nodes[1].addrs[0])
        await pub.wait_for_subscribers(topic, 1, timeout=5)
        key = nodes[0].identity
        good = _make(key)
        forged = _make(Identity.generate())  # signed by a key that is not the publisher
        expired = _make(key, deadline=wall_ms() - 1)
        tampered = canonical_loads(_make(key).to_bytes())
        tampered["wanted"] = "changed"
        for data in (
            forged.to_bytes(),
            expired.to_bytes(),
            canonical_dumps(tampered),
            b"not json",
            b"{}",
            good.to_bytes(),
        ):
            await pub.publish(topic, data)
        with pytest.raises(ValueError):
            await pub.publish(topic, b"x" * (pub.max_message_size + 1))
        msg = await asyncio.wait_for(sub.get(), 5)
        assert parse_intent(msg.data).intent_id == good.intent_id
        assert msg.from_peer == key.peer_id
        await asyncio.sleep(0.2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sub.get(), 0.2)
        await sub.close()
    finally:
        for n in nodes:
            await n.close()


def _make(key: Identity, deadline: int | None = None) -> Intent:
    from agents.intents import make_intent

    return make_intent(
        key,
        category="phone",
        domain=phone_domain(),
        purpose="dpv:ServiceProvision",
        duration_days=30,
        negotiate_addrs=[f"/ip4/127.0.0.1/tcp/1/p2p/{key.peer_id}"],
        deadline=deadline if deadline is not None else wall_ms() + 5000,
    )


async def test_intents_on_the_wire_are_unlinkable_to_the_vault() -> None:
    """Two intents of one vault: different publishers and signers, no vault id in any byte."""
    sniffer = await Node.start(Identity.generate(), LOOPBACK)
    try:
        ps = await PubSub.attach(sniffer)
        sub = await ps.subscribe(intent_topic("phone"))
        owner = Identity.generate()
        seen = []
        for _ in range(2):
            agent = CustomerAgent(
                spec(window_ms=200),
                mandate_for(owner),
                MemoryCloser(vault=owner),
                bootstrap=[sniffer.addrs[0]],
            )
            outcome = await agent.run()
            assert outcome.status == "no_deal"
            msg = await asyncio.wait_for(sub.get(), 5)
            seen.append((msg, outcome.intent))
        (m1, i1), (m2, i2) = seen
        assert m1.from_peer != m2.from_peer
        assert {m1.from_peer, m2.from_peer} == {i1.signer, i2.signer}
        assert owner.peer_id not in (m1.from_peer, m2.from_peer)
        for msg in (m1, m2):
            assert owner.peer_id.encode() not in msg.data
            assert owner.public_bytes not in msg.data
            assert owner.public_bytes.hex().encode() not in msg.data
        await sub.close()
    finally:
        await sniffer.close()


async def test_hostile_frames_are_refused_and_the_agent_carries_on(businesses: list[Biz]) -> None:
    from agents.agreements import NegotiateOpen, dump_deal, parse_deal
    from protocol import NEGOTIATE

    owner = Identity.generate()
    agent = CustomerAgent(spec(window_ms=2500), mandate_for(owner), MemoryCloser(vault=owner),
                          bootstrap=[businesses[0].node.addrs[0]])  # fmt: skip
    run = asyncio.create_task(agent.run())
    for _ in range(200):
        if agent.intent is not None:
            break
        await asyncio.sleep(0.01)
    intent = agent.intent
    assert intent is not None
    rogue = await Node.start(Identity.generate(), LOOPBACK)
    try:
        await rogue.connect(intent.negotiate_addrs[0])
        bad_frames = [
            [b"garbage"],
            [dump_deal(NegotiateOpen(session="r1", intent_id="not-this-intent"))],
            [dump_deal(NegotiateOpen(session="r2", intent_id=intent.intent_id)),
             b'{"type":"negotiate_accept","session":"r2","turn":0,"bid":{"price":1000}}'],
        ]  # fmt: skip
        for frames in bad_frames:
            stream = await rogue.open_stream(intent.negotiate_peer, NEGOTIATE)
            for frame in frames:
                await stream.send(frame)
            reply = parse_deal(await asyncio.wait_for(stream.receive(), 5))
            assert reply.type == "deal_declined"
            await stream.aclose()
    finally:
        await rogue.close()
    outcome = await asyncio.wait_for(run, 20)
    assert outcome.status == "agreed"
    assert outcome.agreement is not None and outcome.agreement.business != rogue.peer_id
    assert sum(c.state == "failed" for c in outcome.candidates) == 1  # the r2 session
