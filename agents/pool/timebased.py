"""Time-based agents: the textbook concession curves, with no opponent modelling.

After Faratin, Sierra & Jennings, "Negotiation decision functions for autonomous
agents" (Robotics and Autonomous Systems 24, 1998) and the GENIUS
``TimeDependentAgent`` family (Boulware, Conceder, Linear) that has been a fixed
baseline of every ANAC since 2010 (Baarslag et al., "Evaluating practical
negotiating agents: results and analysis of the 2011 ANAC", 2013).
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, NegotiationContext, Response, SessionView
from ._base import PoolAgent

__all__ = ["TimeBasedAgent"]


class TimeBasedAgent(PoolAgent):
    """Target ``u(t) = Pmax − (Pmax − Pmin) · t^(1/e)``; bids the bid nearest above it.

    ``Pmin`` is the reservation value (or the worst outcome, if higher). It
    accepts an offer worth at least its next bid (AC_next) and never one below
    its reservation value. ``e < 1`` is Boulware, ``e = 1`` Linear, ``e > 1``
    Conceder. This is the "naive time-based" reference of the issue (e = 0.5).
    """

    def __init__(self, e: float = 1.0, name: str | None = None) -> None:
        super().__init__()
        if e <= 0:
            raise ValueError("a time-based agent needs e > 0")
        self.e = e
        self.name = name or f"time-based(e={e:g})"
        self._low = 0.0

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self._low = max(ctx.reservation, self.space.min_utility)

    def target(self, t: float) -> float:
        top = self.space.max_utility
        t = min(1.0, max(0.0, t))
        return top - (top - self._low) * t ** (1.0 / self.e)

    def propose(self, state: SessionView) -> Bid:
        return self.space.closest(self.target(state.progress))

    def respond(self, state: SessionView, offer: Bid) -> Response:
        mine = self.propose(state)
        value = self.u(offer)
        if value >= self.reservation and value >= self.u(mine):
            return Accept()
        return Counter(mine)

    def __repr__(self) -> str:
        return f"TimeBasedAgent(e={self.e:g})"
