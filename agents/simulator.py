"""The local simulator: two strategies, one domain, in memory, no network.

It drives two :class:`~agents.session.NegotiationSession` objects — one per
side, exactly the state machine that runs over libp2p — and carries each move
from one to the other (by default through :func:`~agents.session.dump_move` /
:func:`~agents.session.parse_move`, the same bytes a stream would carry). A
strategy that works here works on the network.

Time is a :class:`ManualClock` that advances ``move_ms`` per move (pass your
own ``ManualClock`` to inspect it, or any clock to run in real time), so a run
is a pure function of its inputs and ``seed``: same inputs, same result.
``max_turns`` guards against a clock that never moves under an ms-only deadline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ._errors import DomainError
from .domain import Bid, Domain
from .metrics import OutcomeAnalysis, social_welfare
from .session import (
    AnyMove,
    NegotiationSession,
    SessionState,
    Step,
    dump_move,
    parse_move,
)
from .strategy import NegotiationContext, Side, Strategy
from .utility import Clock, Deadline, Preferences

__all__ = ["ManualClock", "SimulationResult", "simulate"]


class ManualClock:
    """A clock (integer ms) that moves only when told to."""

    def __init__(self, start: int = 0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass(frozen=True)
class SimulationResult:
    """What happened, and how good it was.

    ``utility_a``/``utility_b`` are each side's (undiscounted) utility of the
    agreement, or its reservation value when there was none. The distances and
    the welfare are ``None`` when the domain was too large to analyse.
    """

    agreed: bool
    agreement: Bid | None
    state: SessionState
    turns: int
    utility_a: float
    utility_b: float
    pareto_distance: float | None
    nash_distance: float | None
    welfare: float
    ended_by: Side | None = None
    reason: str = ""
    trace: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def rounds(self) -> int:
        """Rounds started (a round is one move per side)."""
        return (self.turns + 1) // 2


def simulate(
    domain: Domain,
    strategy_a: Strategy,
    preferences_a: Preferences,
    strategy_b: Strategy,
    preferences_b: Preferences,
    *,
    deadline: Deadline | None = None,
    seed: int = 0,
    clock: Clock | None = None,
    move_ms: int = 10,
    analysis: OutcomeAnalysis | None = None,
    metrics: bool = True,
    wire: bool = True,
    strict: bool = True,
    session_id: str = "simulated",
    max_turns: int = 100_000,
) -> SimulationResult:
    """Run ``strategy_a`` (the initiator) against ``strategy_b`` (the responder).

    ``analysis`` may be passed in to share one :class:`OutcomeAnalysis` across
    many runs; otherwise it is computed when ``metrics`` is on and the domain is
    small enough. With ``strict=False`` a strategy that raises ends the
    negotiation for its side (tournaments); with ``strict=True`` it propagates
    (developing a strategy).
    """
    deadline = deadline or Deadline(rounds=100)
    if clock is None:
        clock = ManualClock()
    manual = clock if isinstance(clock, ManualClock) else None
    sessions = {
        Side.INITIATOR: NegotiationSession(
            domain, Side.INITIATOR, deadline, session_id=session_id, clock=clock
        ),
        Side.RESPONDER: NegotiationSession(
            domain, Side.RESPONDER, deadline, session_id=session_id, clock=clock
        ),
    }
    strategies = {Side.INITIATOR: strategy_a, Side.RESPONDER: strategy_b}
    prefs = {Side.INITIATOR: preferences_a, Side.RESPONDER: preferences_b}
    for side, strategy in strategies.items():
        ctx = NegotiationContext(
            domain, prefs[side], deadline, side, random.Random(f"{seed}:{side.value}")
        )
        strategy.start(ctx)

    lead = sessions[Side.INITIATOR]
    while not lead.is_final:
        if any(s.check_deadline() for s in sessions.values()):
            break
        if lead.turn >= max_turns:
            raise RuntimeError(f"no end after {max_turns} moves: does the injected clock move?")
        mover = lead.side_to_move
        assert mover is not None
        mine, theirs = sessions[mover], sessions[mover.other]
        strategy = strategies[mover]
        move: AnyMove
        try:
            move = mine.play(strategy)
        except Exception as exc:
            if strict:
                raise
            move = mine.end(f"strategy failed: {type(exc).__name__}")
        theirs.receive(parse_move(dump_move(move)) if wire else move)
        if manual is not None:
            manual.advance(move_ms)

    agreement = lead.agreement
    if agreement is not None:
        point = (preferences_a(agreement), preferences_b(agreement))
    else:
        point = (preferences_a.reservation, preferences_b.reservation)
    if analysis is None and metrics:
        try:
            analysis = OutcomeAnalysis.of(
                domain,
                preferences_a,
                preferences_b,
                (preferences_a.reservation, preferences_b.reservation),
            )
        except DomainError:
            analysis = None
    return SimulationResult(
        agreed=agreement is not None,
        agreement=agreement,
        state=lead.state,
        turns=lead.turn,
        utility_a=point[0],
        utility_b=point[1],
        pareto_distance=None if analysis is None else analysis.pareto_distance(point),
        nash_distance=None if analysis is None else analysis.nash_distance(point),
        welfare=social_welfare(point),
        ended_by=lead.ended_by,
        reason=lead.reason,
        trace=lead.history,
    )
