"""HardHeaded: the tough one. Concedes almost nothing, late, and never below a high floor.

After Thijs van Krimpen, Daphne Looije & Siamak Hajizadeh, "HardHeaded", the
winner of ANAC 2011 (in *Complex Automated Negotiations: Theories, Models, and
Software Competitions*, Springer 2013, pp. 223–227).
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, NegotiationContext, Response, SessionView
from ._base import PoolAgent
from ._model import OpponentFrequencies

__all__ = ["HardHeaded"]


class HardHeaded(PoolAgent):
    """A Boulware curve with ``e = 0.05`` down to a floor of ``floor × Pmax``.

    The original's minimum bid utility is 0.585; the floor also never goes below
    the reservation value. Among the bids in a band just above the target it
    offers the one its frequency model says the opponent likes best. It accepts
    an offer at least as good as its next bid, or — in the last 2 % of the time —
    at least as good as the best offer the opponent has made (it ends the
    game rather than lose the deal, like the original's panic phase).
    """

    name = "hardheaded"

    def __init__(self, e: float = 0.05, floor: float = 0.585, band: float = 0.03) -> None:
        super().__init__()
        self.e, self.floor, self.band = e, floor, band
        self.model: OpponentFrequencies | None = None
        self._best = 0.0

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self.model = OpponentFrequencies(ctx.domain.issue_names)
        self._best = 0.0

    def _observe(self, state: SessionView) -> OpponentFrequencies:
        assert self.model is not None
        for bid in self.new_offers(state):
            self.model.update(bid)
            self._best = max(self._best, self.u(bid))
        return self.model

    def target(self, t: float) -> float:
        top = self.space.max_utility
        low = max(self.reservation, self.floor * top)
        return top - (top - low) * min(1.0, max(0.0, t)) ** (1.0 / self.e)

    def propose(self, state: SessionView) -> Bid:
        model = self._observe(state)
        target = self.target(state.progress)
        window = self.space.window(target, target + self.band)
        if not window or model.seen < 2:
            return self.space.closest(target)
        return max(window[:200], key=model.estimate)

    def respond(self, state: SessionView, offer: Bid) -> Response:
        self._observe(state)
        value = self.u(offer)
        mine = self.propose(state)
        if value < self.reservation:
            return Counter(mine)
        if value >= self.u(mine):
            return Accept()
        if state.progress >= 0.98 and value >= self._best:
            return Accept()
        return Counter(mine)
