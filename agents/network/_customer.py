"""The customer's side of an intent: cast it, negotiate with every business, award the best.

::

    agent = CustomerAgent(spec, mandate, closer, bootstrap=[...])
    outcome = await agent.run()        # cast, negotiate until the deadline, award the best

1. A fresh :class:`~protocol.Identity` is made for this intent only, and an
   **ephemeral** libp2p node runs with it: it publishes the intent on the
   category's gossipsub topic and serves ``/kluis/negotiate/1.0.0``. The vault's
   own node and peer id take no part, so businesses cannot link intents to a vault.
2. Each business that answers opens a stream (``negotiate_open``) and runs an
   alternating-offers session as the **initiator**; the agent answers each with
   its own :class:`~agents.NegotiationSession` and a fresh strategy under the
   :class:`~agents.MandatedAgent` guard. Sessions run in parallel.
3. A session that ends ``agreed`` is a *candidate*. At the intent's deadline the
   agent ranks candidates by its owner's utility, keeps those the mandate permits,
   asks ``closer.confirm`` for the best (the owner's confirmation above the
   threshold), sends ``deal_award`` to the winner and ``deal_declined`` to the rest.
4. The winner answers ``deal_sign`` (agreement signed by the business + an access
   request for exactly the agreed terms). ``closer.close`` creates the grant and
   countersigns with the vault identity; the agent answers ``deal_done``. Only
   this frame, to this business, over this Noise session, names the vault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from protocol import (
    NEGOTIATE,
    AccessRequest,
    Grant,
    Identity,
    KluisError,
    SignatureError,
    TransportError,
    new_id,
    verify,
)

from ..agreements import (
    Agreement,
    DealAward,
    DealDeclined,
    DealDone,
    DealSign,
    NegotiateOpen,
    dump_deal,
    frame_type,
    parse_deal,
    parse_request,
)
from ..domain import Bid, Domain, price_cents
from ..intents import Intent, intent_topic, make_intent
from ..mandate import Mandate, MandatedAgent, TermLimit
from ..session import MOVE_TYPES, NegotiationSession, SessionState, dump_move
from ..strategy import NegotiationContext, Side, Strategy
from ..utility import Deadline, Preferences
from ._clock import DEAL_TIMEOUT_S, wall_ms

__all__ = [
    "MAX_SESSIONS",
    "Candidate",
    "CustomerAgent",
    "CustomerOutcome",
    "DealCloser",
    "IntentSpec",
]

logger = logging.getLogger(__name__)

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)
#: Sessions one intent accepts (businesses that answer it); more are refused.
MAX_SESSIONS = 64


@dataclass
class IntentSpec:
    """Everything a customer agent needs to cast one intent (see ``kluis intent send``)."""

    category: str
    domain: Domain
    preferences: Preferences
    purpose: str
    duration_days: int
    window_ms: int = 3000
    rounds: int = 20
    wanted: str = ""
    constraints: dict[str, TermLimit] = field(default_factory=dict)
    fields_issue: str | None = None
    price_issue: str | None = None
    may_share: list[str] = field(default_factory=list)
    strategy: Callable[[], Strategy] | None = None


class DealCloser(Protocol):
    """The vault side of closing a deal (:class:`vault.services.agent_service.AgentService`)."""

    @property
    def vault_peer(self) -> str: ...

    @property
    def vault_addrs(self) -> list[str]: ...

    async def confirm(self, candidate: Candidate, intent: Intent) -> bool: ...

    async def close(
        self, agreement: Agreement, request: AccessRequest
    ) -> tuple[Agreement, Grant]: ...


@dataclass
class Candidate:
    session: str
    business: str
    bid: Bid | None = None
    utility: float = 0.0
    state: str = "negotiating"  # negotiating, agreed, no_deal, awarded, declined, done, failed
    rounds: int = 0
    opened_ms: int = 0
    first_offer_ms: int | None = None


@dataclass
class CustomerOutcome:
    intent: Intent
    candidates: list[Candidate]
    status: str  # agreed, no_deal, not_confirmed, failed
    winner: Candidate | None = None
    agreement: Agreement | None = None
    grant: Grant | None = None
    published_ms: int = 0

    @property
    def first_offer_ms(self) -> int | None:
        firsts = [c.first_offer_ms for c in self.candidates if c.first_offer_ms is not None]
        return min(firsts) - self.published_ms if firsts else None


class _Conv:
    """One business's stream at the agent."""

    def __init__(self, ctx: Any, candidate: Candidate) -> None:
        self.ctx = ctx
        self.candidate = candidate
        self.session: NegotiationSession | None = None
        self.strategy: Strategy | None = None
        self.draft: Agreement | None = None
        self.closed: asyncio.Future[tuple[Agreement, Grant] | None] = (
            asyncio.get_running_loop().create_future()
        )


class CustomerAgent:
    """Casts one intent and negotiates it to at most one agreement. See the module docstring."""

    def __init__(
        self,
        spec: IntentSpec,
        mandate: Mandate,
        closer: DealCloser,
        *,
        owner: str | None = None,
        bootstrap: Sequence[str] = (),
        listen: Sequence[str] = LOOPBACK,
        min_subscribers: int = 1,
        subscriber_timeout: float = 10.0,
        expect_sessions: int | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        mandate.verify(owner)
        mandate.check_domain(spec.domain)
        self.spec = spec
        self.mandate = mandate
        self.owner = owner
        self.closer = closer
        self.bootstrap = list(bootstrap)
        self.listen = list(listen)
        self.min_subscribers = min_subscribers
        self.subscriber_timeout = subscriber_timeout
        self.expect_sessions = expect_sessions
        self.on_event = on_event or (lambda kind, data: None)
        self.max_sessions = max_sessions
        self.intent: Intent | None = None
        self.key: Identity | None = None
        self._convs: dict[Any, _Conv] = {}
        self._finished = asyncio.Event()
        self._deciding = False

    # -- the run ---------------------------------------------------------------------

    async def run(self) -> CustomerOutcome:
        from protocol.runtime import Node
        from protocol.runtime.pubsub import PubSub

        spec = self.spec
        key = self.key = Identity.generate()  # this intent's key, and its node's identity
        node = await Node.start(key, self.listen)
        try:
            pubsub = await PubSub.attach(node)
            node.set_frame_handler(NEGOTIATE, self._handle)
            for addr in self.bootstrap:
                try:
                    await node.connect(addr)
                except KluisError as exc:
                    logger.debug("bootstrap %s unreachable: %s", addr, type(exc).__name__)
            topic = intent_topic(spec.category)
            try:
                await pubsub.wait_for_subscribers(
                    topic, self.min_subscribers, timeout=self.subscriber_timeout
                )
            except TransportError as exc:
                raise TransportError(
                    f"no business listens for {spec.category!r} intents on the peers reached"
                    " (check the bootstrap peers)",
                    code=exc.code,
                ) from exc
            deadline = wall_ms() + spec.window_ms
            intent = self.intent = make_intent(
                key,
                category=spec.category,
                domain=spec.domain,
                purpose=spec.purpose,
                duration_days=spec.duration_days,
                negotiate_addrs=[a for a in node.addrs][:8],
                deadline=deadline,
                rounds=spec.rounds,
                wanted=spec.wanted,
                constraints=spec.constraints,
                fields_issue=spec.fields_issue,
                price_issue=spec.price_issue,
                may_share=spec.may_share,
            )
            published = wall_ms()
            await pubsub.publish(topic, intent.to_bytes())
            self.on_event("published", {"intent": intent.intent_id, "signer": key.peer_id})
            remaining = max(0.0, (deadline - wall_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), remaining)
            self._deciding = True
            outcome = await self._decide(intent)
            outcome.published_ms = published
            return outcome
        finally:
            await node.close()

    def _check_finished(self) -> None:
        if self.expect_sessions is None:
            return
        cands = [c.candidate for c in self._convs.values()]
        if len(cands) >= self.expect_sessions and all(c.state != "negotiating" for c in cands):
            self._finished.set()

    async def _decide(self, intent: Intent) -> CustomerOutcome:
        convs = list(self._convs.values())
        for conv in convs:
            if conv.candidate.state == "negotiating":
                conv.candidate.state = "no_deal"
                if conv.session is not None:
                    conv.session.check_deadline()
        candidates = [c.candidate for c in convs]
        agreed = [
            c for c in convs
            if c.candidate.state == "agreed" and c.candidate.bid is not None
            and self.mandate.permits(c.candidate.bid)
        ]  # fmt: skip
        agreed.sort(key=lambda c: (-c.candidate.utility, c.candidate.opened_ms))
        status = "no_deal"
        winner: _Conv | None = None
        for conv in agreed:
            if await self.closer.confirm(conv.candidate, intent):
                winner = conv
                break
            status = "not_confirmed"
            conv.candidate.state = "declined"
        for conv in convs:
            if conv is not winner:
                if conv.candidate.state in ("agreed", "negotiating"):
                    conv.candidate.state = "declined"
                no = DealDeclined(session=conv.candidate.session, reason="another offer was chosen")
                await self._send(conv, dump_deal(no))
        if winner is None:
            return CustomerOutcome(intent, candidates, status)
        result = await self._award(intent, winner)
        if result is None:
            winner.candidate.state = "failed"
            return CustomerOutcome(intent, candidates, "failed", winner.candidate)
        agreement, grant = result
        winner.candidate.state = "done"
        self.on_event(
            "agreed", {"agreement": agreement.agreement_id, "business": agreement.business}
        )
        return CustomerOutcome(intent, candidates, "agreed", winner.candidate, agreement, grant)

    async def _award(self, intent: Intent, conv: _Conv) -> tuple[Agreement, Grant] | None:
        assert conv.session is not None and conv.candidate.bid is not None
        bid = conv.candidate.bid
        domain = conv.session.domain
        shared: list[str] = []
        if intent.fields_issue is not None:
            value = bid.get(intent.fields_issue)
            shared = sorted(value) if isinstance(value, frozenset) else []
        price = bid.get(intent.price_issue) if intent.price_issue else 0
        draft = Agreement(
            agreement_id=new_id(),
            intent_id=intent.intent_id,
            session=conv.candidate.session,
            category=intent.category,
            domain=domain.name,
            bid=domain.bid_to_wire(bid),
            fields=shared,
            purpose=intent.purpose,
            purpose_text=intent.wanted[:280],
            duration_days=intent.duration_days,
            value_cents=max(0, price_cents(price) or 0),
            business=conv.candidate.business,
            vault=self.closer.vault_peer,
            vault_addrs=list(self.closer.vault_addrs)[:8],
            created_at=wall_ms(),
        )
        conv.draft = draft
        conv.candidate.state = "awarded"
        if not await self._send(conv, dump_deal(DealAward(session=draft.session, agreement=draft))):
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(conv.closed), DEAL_TIMEOUT_S)
        except TimeoutError:
            return None

    async def _send(self, conv: _Conv, payload: bytes) -> bool:
        try:
            await conv.ctx.send(payload)
            return True
        except KluisError:
            return False

    # -- the negotiation stream handler ------------------------------------------------

    def _handle(self, ctx: Any, payload: bytes) -> bytes | Awaitable[bytes | None] | None:
        """Frame handler. Sync for opens and moves (the runtime's inline fast path: no
        bridge crossing per move); a coroutine only for deal_sign and refusals."""
        conv = self._convs.get(ctx)
        try:
            kind = frame_type(payload)
            if conv is None:
                return self._open(ctx, payload)
            if kind in MOVE_TYPES:
                return self._move(conv, payload)
            if kind == "deal_sign":
                return self._deal_sign_or_refuse(ctx, conv, payload)
            raise KluisError("unexpected frame")
        except KluisError as exc:
            return self._refuse(ctx, conv, exc)

    async def _deal_sign_or_refuse(self, ctx: Any, conv: _Conv, payload: bytes) -> bytes | None:
        try:
            return await self._deal_sign(conv, payload)
        except KluisError as exc:
            return await self._refuse(ctx, conv, exc)

    async def _refuse(self, ctx: Any, conv: _Conv | None, exc: KluisError) -> bytes | None:
        logger.debug("negotiation frame refused: %s", type(exc).__name__)
        if conv is not None:
            if conv.session is not None:
                conv.session.peer_lost("protocol error")
            if conv.candidate.state in ("negotiating", "awarded"):
                conv.candidate.state = "failed"
            if not conv.closed.done():
                conv.closed.set_result(None)
            self._check_finished()
        session = conv.candidate.session if conv is not None else "unknown"
        with contextlib.suppress(KluisError):
            await ctx.send(dump_deal(DealDeclined(session=session, reason="refused")))
        await ctx.close()
        return None

    def _open(self, ctx: Any, payload: bytes) -> bytes | None:
        frame = parse_deal(payload)
        intent = self.intent
        if not isinstance(frame, NegotiateOpen) or intent is None:
            raise KluisError("a negotiation starts with negotiate_open")
        if frame.intent_id != intent.intent_id or self._deciding:
            raise KluisError("not an open intent")
        if len(self._convs) >= self.max_sessions:
            raise KluisError("too many sessions")
        if any(c.candidate.session == frame.session for c in self._convs.values()):
            raise KluisError("session id in use")
        spec = self.spec
        cand = Candidate(frame.session, ctx.remote_peer_id, opened_ms=wall_ms())
        conv = _Conv(ctx, cand)
        remaining = max(1, intent.deadline - wall_ms())
        deadline = Deadline(rounds=intent.rounds, ms=remaining)
        conv.session = NegotiationSession(
            spec.domain, Side.RESPONDER, deadline, session_id=frame.session
        )
        inner = spec.strategy() if spec.strategy is not None else _default_strategy()
        # A session's "agreed" is only a candidate: the commitment is the award, which
        # the agent gates on the owner's confirmation (closer.confirm). So the guard
        # lets candidates above the threshold through here.
        conv.strategy = MandatedAgent(
            inner, self.mandate, owner=self.owner, confirm=lambda bid: True
        )
        conv.strategy.start(
            NegotiationContext(
                spec.domain, spec.preferences, deadline, Side.RESPONDER, random.Random(),
                role="customer",
            )
        )  # fmt: skip
        self._convs[ctx] = conv
        self.on_event("session", {"business": cand.business, "session": cand.session})
        return None

    def _move(self, conv: _Conv, payload: bytes) -> bytes | None:
        session, strategy, cand = conv.session, conv.strategy, conv.candidate
        assert session is not None and strategy is not None
        if cand.first_offer_ms is None:
            cand.first_offer_ms = wall_ms()
        session.receive(payload)
        reply: bytes | None = None
        if not session.is_final:
            reply = dump_move(session.play(strategy))
        cand.rounds = session.turn
        if session.is_final:
            if session.state is SessionState.AGREED and session.agreement is not None:
                cand.state = "agreed"
                cand.bid = session.agreement
                cand.utility = float(self.spec.preferences.utility(session.agreement))
            else:
                cand.state = "no_deal"
            self._check_finished()
        return reply

    async def _deal_sign(self, conv: _Conv, payload: bytes) -> bytes | None:
        frame = parse_deal(payload)
        draft = conv.draft
        if not isinstance(frame, DealSign) or draft is None or conv.closed.done():
            raise KluisError("no award to sign")
        signed = frame.agreement
        if not signed.same_terms(draft):
            raise SignatureError("the business signed other terms")
        signed.verify_business()
        request = parse_request(frame.request)
        verify(request, conv.ctx.remote_peer_id)
        if not signed.matches_request(request):
            raise KluisError("the access request does not match the agreement")
        agreement, grant = await self.closer.close(signed, request)
        # Send before resolving: the run closes the ephemeral node once it is resolved.
        done = DealDone(
            session=draft.session, agreement=agreement, grant=grant.model_dump(mode="json")
        )
        sent = await self._send(conv, dump_deal(done))
        if not sent:
            logger.warning("the deal_done frame could not be delivered; the grant stands")
        conv.closed.set_result((agreement, grant))
        return None


def _default_strategy() -> Strategy:
    from ..default_strategy import DefaultStrategy

    return DefaultStrategy()
