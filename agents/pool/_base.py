"""What every pool agent shares: its own sorted outcome space and a utility lookup.

The pool's agents are reimplemented from their published descriptions; they use
the strategy API and :class:`~agents.utility.OutcomeSpace` (plumbing), never
kluis's own strategies, so that changing kluis's strategies never changes the
opponents they are measured against.
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import NegotiationContext, SessionView
from ..utility import OutcomeSpace

__all__ = ["PoolAgent"]


class PoolAgent:
    """Base of the pool: context, own outcome space (best first), cached own utility."""

    name = "pool"

    def __init__(self) -> None:
        self._ctx: NegotiationContext | None = None
        self._space: OutcomeSpace | None = None
        self._seen = 0

    def start(self, ctx: NegotiationContext) -> None:
        self._ctx = ctx
        self._space = OutcomeSpace.of(ctx.domain, ctx.preferences.utility)
        self._seen = 0

    @property
    def ctx(self) -> NegotiationContext:
        if self._ctx is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        return self._ctx

    @property
    def space(self) -> OutcomeSpace:
        if self._space is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        return self._space

    def u(self, bid: Bid) -> float:
        return self.space.utility_of(bid)

    @property
    def reservation(self) -> float:
        return self.ctx.reservation

    def new_offers(self, state: SessionView) -> tuple[Bid, ...]:
        """The opponent's bids not seen yet (each pool agent updates its model incrementally)."""
        fresh = state.their_bids[self._seen :]
        self._seen = len(state.their_bids)
        return fresh

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
