"""Tit-for-tat agents: mirror the opponent's concessions, naively or nicely.

* :class:`NaiveTitForTat` — Faratin, Sierra & Jennings' relative tit-for-tat
  ("Negotiation decision functions for autonomous agents", 1998), the
  behaviour-dependent tactic GENIUS ships as a baseline: it mirrors every move,
  concessions *and* backtracking, one for one, in its own utility.
* :class:`NiceTitForTat` — Baarslag, Hindriks & Jonker, "A tit for tat
  negotiation strategy for real-time bilateral negotiations" (ANAC 2011 entry;
  *Complex Automated Negotiations*, Springer 2013): it reciprocates the
  opponent's concession *towards the estimated Nash point* and is nice — it
  never retaliates (its target never goes back up).
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, NegotiationContext, Response, SessionView
from ._base import PoolAgent
from ._model import OpponentFrequencies

__all__ = ["NaiveTitForTat", "NiceTitForTat"]


class NaiveTitForTat(PoolAgent):
    """Concede exactly what the opponent conceded last move, in own utility; backtrack too.

    It opens with its best bid; no gift, so two of them can deadlock (that is
    the "naive"). Acceptance is AC_next.
    """

    name = "naive-tft"

    def __init__(self) -> None:
        super().__init__()
        self._target = 1.0
        self._prev: float | None = None

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self._target = self.space.max_utility
        self._prev = None

    def _update(self, state: SessionView) -> float:
        for bid in self.new_offers(state):
            now = self.u(bid)
            if self._prev is not None:
                self._target -= now - self._prev  # they gave Δ: we give Δ (or take it back)
            self._prev = now
        low = max(self.reservation, self.space.min_utility)
        self._target = min(self.space.max_utility, max(low, self._target))
        return self._target

    def propose(self, state: SessionView) -> Bid:
        return self.space.closest(self._update(state))

    def respond(self, state: SessionView, offer: Bid) -> Response:
        mine = self.propose(state)
        value = self.u(offer)
        if value >= self.reservation and value >= self.u(mine):
            return Accept()
        return Counter(mine)


class NiceTitForTat(PoolAgent):
    """Reciprocate towards the estimated Nash point; never retaliate (Baarslag et al., 2013).

    Its concession is the share of the way to the Nash point the opponent has
    come: ``c = (u(their best) − u(their first)) / (u(Nash) − u(their first))``,
    all in its own utility, with the Nash point estimated from a frequency model
    of the opponent. Its target is ``Pmax − (Pmax − u(Nash)) · c``, never
    raised again. Among bids at the target it offers the one the model says the
    opponent likes best. Late (t ≥ 0.98) it accepts an offer at least as good as
    the best the opponent made.
    """

    name = "nice-tft"

    def __init__(self, sample: int = 300) -> None:
        super().__init__()
        self.sample = sample
        self.model: OpponentFrequencies | None = None
        self._target = 1.0
        self._first: float | None = None
        self._best = 0.0
        self._nash = 0.0

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self.model = OpponentFrequencies(ctx.domain.issue_names)
        self._target = self.space.max_utility
        self._first = None
        self._best = 0.0
        self._nash = self.space.max_utility

    def _nash_estimate(self, model: OpponentFrequencies) -> float:
        bids = self.space.bids
        step = max(1, len(bids) // self.sample)
        best = max(bids[::step], key=lambda b: self.u(b) * model.estimate(b))
        return self.u(best)

    def _update(self, state: SessionView) -> float:
        assert self.model is not None
        fresh = self.new_offers(state)
        for bid in fresh:
            self.model.update(bid)
            value = self.u(bid)
            if self._first is None:
                self._first = value
            self._best = max(self._best, value)
        if fresh and self._first is not None and self.model.seen % 5 == 1:
            self._nash = max(self.reservation, self._nash_estimate(self.model))
        if self._first is not None:
            room = self._nash - self._first
            c = 1.0 if room <= 1e-9 else min(1.0, max(0.0, (self._best - self._first) / room))
            goal = self.space.max_utility - (self.space.max_utility - self._nash) * c
            self._target = min(self._target, max(goal, self.reservation))
        return self._target

    def propose(self, state: SessionView) -> Bid:
        target = self._update(state)
        assert self.model is not None
        window = self.space.window(target, target + 0.03)
        if not window or self.model.seen < 2:
            return self.space.closest(target)
        model = self.model
        return max(window[:200], key=model.estimate)

    def respond(self, state: SessionView, offer: Bid) -> Response:
        mine = self.propose(state)
        value = self.u(offer)
        if value < self.reservation:
            return Counter(mine)
        if value >= self.u(mine) or (state.progress >= 0.98 and value >= self._best):
            return Accept()
        return Counter(mine)
