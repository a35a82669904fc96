"""The business's side of an intent: one negotiation from the initiator's seat, then the deal.

:func:`negotiate_intent` dials the intent's ephemeral node, opens a session
(``negotiate_open``), runs the alternating-offers :class:`~agents.NegotiationSession`
as the **initiator** with the given strategy and, if the customer's agent awards
the deal, signs it (``on_award``) and returns the countersigned agreement and the
grant. Every frame from the agent is parsed and checked; the award must repeat
the negotiated terms exactly. The SDK around it is :mod:`vault.requester.offers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from protocol import NEGOTIATE, AccessRequest, Grant, KluisError, SignatureError, new_id, verify

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
    parse_grant,
)
from ..domain import Bid
from ..intents import Intent
from ..session import NegotiationSession, SessionState, dump_move
from ..strategy import NegotiationContext, Side, Strategy
from ..utility import Deadline, Preferences
from ._clock import DEAL_TIMEOUT_S, wall_ms

__all__ = ["BusinessOutcome", "OnAward", "negotiate_intent"]


@dataclass
class BusinessOutcome:
    intent_id: str
    session: str
    state: str  # won, declined, no_deal, failed (agreed: await_award=False only)
    bid: Bid | None = None
    agreement: Agreement | None = None
    grant: Grant | None = None
    reason: str = ""
    rounds: int = 0


OnAward = Callable[[Agreement], Awaitable[tuple[Agreement, AccessRequest]]]


async def negotiate_intent(
    node: Any,
    intent: Intent,
    strategy: Strategy,
    preferences: Preferences,
    on_award: OnAward,
    *,
    rng: random.Random | None = None,
    margin_ms: int = 150,
    deal_timeout: float = DEAL_TIMEOUT_S,
    await_award: bool = True,
) -> BusinessOutcome:
    """Negotiate ``intent`` from the initiator's seat on ``node``; close the deal if awarded.

    ``await_award=False`` returns as soon as the session ends (state ``agreed``
    or ``no_deal``), without waiting for the agent's decision (benchmarks).
    """
    domain = intent.to_domain()
    sid = new_id()
    out = BusinessOutcome(intent.intent_id, sid, "failed")
    stream = None
    for addr in intent.negotiate_addrs:
        try:
            await node.connect(addr)
            stream = await node.open_stream(intent.negotiate_peer, NEGOTIATE, timeout=5.0)
            break
        except KluisError:
            continue
    if stream is None:
        out.reason = "unreachable"
        return out
    try:
        remaining = intent.deadline - wall_ms() - margin_ms
        if remaining <= 0:
            out.state, out.reason = "no_deal", "too late"
            return out
        deadline = Deadline(rounds=intent.rounds, ms=remaining)
        session = NegotiationSession(domain, Side.INITIATOR, deadline, session_id=sid)
        strategy.start(NegotiationContext(domain, preferences, deadline, Side.INITIATOR,
                                          rng or random.Random(), role="business"))  # fmt: skip
        await stream.send(dump_deal(NegotiateOpen(session=sid, intent_id=intent.intent_id)))
        await stream.send(dump_move(session.play(strategy)))
        end_at = asyncio.get_running_loop().time() + remaining / 1000 + 1.0
        while not session.is_final:
            frame = await _receive(stream, end_at)
            if frame is None:
                session.check_deadline()
                session.peer_lost("no answer")
                break
            if frame_type(frame) == "deal_declined":
                out.state, out.reason = "declined", "the agent declined"
                return out
            session.receive(frame)
            if session.is_final:
                break
            await stream.send(dump_move(session.play(strategy)))
        out.rounds = session.turn
        if session.state is not SessionState.AGREED or session.agreement is None:
            out.state, out.reason = "no_deal", session.state.value
            return out
        out.bid = session.agreement
        if not await_award:
            out.state = "agreed"
            return out
        loop = asyncio.get_running_loop()
        end_at = loop.time() + max(0.0, (intent.deadline - wall_ms()) / 1000) + deal_timeout
        frame = await _receive(stream, end_at)
        if frame is None:
            out.reason = "no award"
            return out
        deal = parse_deal(frame)
        if isinstance(deal, DealDeclined):
            out.state, out.reason = "declined", deal.reason
            return out
        if not isinstance(deal, DealAward):
            out.reason = "unexpected frame"
            return out
        draft = deal.agreement
        if (
            draft.session != sid
            or draft.intent_id != intent.intent_id
            or draft.business != node.peer_id
            or draft.bid != domain.bid_to_wire(session.agreement)
            or draft.purpose is not intent.purpose
            or draft.duration_days != intent.duration_days
        ):
            out.reason = "the award does not match the negotiated deal"
            await stream.send(dump_deal(DealDeclined(session=sid, reason="award mismatch")))
            return out
        signed, request = await on_award(draft)
        await stream.send(dump_deal(DealSign(session=sid, agreement=signed,
                                             request=request.model_dump(mode="json"))))  # fmt: skip
        frame = await _receive(stream, loop.time() + deal_timeout)
        if frame is None:
            out.reason = "no countersignature"
            return out
        done = parse_deal(frame)
        if not isinstance(done, DealDone):
            out.reason = "the agent refused the signature"
            return out
        agreement = done.agreement
        if not agreement.same_terms(signed):
            raise SignatureError("the countersigned agreement has other terms")
        agreement.verify()
        grant = parse_grant(done.grant)
        verify(grant, agreement.vault)
        out.state, out.agreement, out.grant = "won", agreement, grant
        return out
    except KluisError as exc:
        out.state, out.reason = "failed", f"{type(exc).__name__}: {exc.message}"
        return out
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()


async def _receive(stream: Any, end_at: float) -> bytes | None:
    left = end_at - asyncio.get_running_loop().time()
    if left <= 0:
        return None
    try:
        return bytes(await asyncio.wait_for(stream.receive(), left))
    except (TimeoutError, KluisError):
        return None
