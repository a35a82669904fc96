"""The default kluis strategy: firm on its target, quick to take a deal the other side offered.

It was tuned against the opponent pool (:mod:`agents.pool`), not only against
kluis's own strategies: self-play flatters. See :class:`DefaultStrategy` for the
parts and the reasons, and ``benchmarks/bench_tournament.py`` for the figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from .domain import Bid
from .opponent_model import FrequencyModel
from .strategy import (
    Accept,
    BaseStrategy,
    Counter,
    End,
    NegotiationContext,
    Response,
    SessionView,
)

__all__ = ["NO_DEAL", "DefaultStrategy"]

#: The reason sent when no outcome is worth more to the owner than walking away.
NO_DEAL = "no outcome is worth more than the reservation value"


def _stride(items: Sequence[Bid], limit: int) -> Sequence[Bid]:
    """At most ``limit`` items spread evenly over ``items`` (a bounded candidate list)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


class DefaultStrategy(BaseStrategy):
    """The default kluis agent. Each part answers a way strategies lose to strangers.

    **Target — a Boulware curve** ``Pmax − (Pmax − Pmin) · t^(1/e)``, ``e = 0.1``,
    ``Pmin`` the reservation value: it gives away little until late; against
    time-pressured opponents holding out is what earns utility.

    **The opponent's best offer stays a live option.** There is never a reason to
    aim below a deal the other side already proposed, and against an opponent that
    backtracks (offers a good deal once, then goes back to worse ones) waiting for
    the end loses it. So the moment our target falls to their best offer so far,
    we propose that offer back — while they may still take it — and keep it on the
    table rather than bid lower. Near the deadline (our last bid that can still be
    accepted) we propose the best of their *recent* offers: a deal they showed
    they still want, rather than one they have withdrawn.

    **Bid choice — frequency-model opponent modelling, with fresh bids.** Among
    the bids in ``[target, target + width]`` (all equally good for us) it prefers
    one it has not proposed before, then the one the :class:`FrequencyModel`
    predicts the opponent likes best. Fresh bids matter against MiCRO-like
    opponents, which concede one step per *new* bid they receive; the model moves
    deals towards the Pareto frontier.

    **Acceptance — AC_combi** (Baarslag et al., "Acceptance conditions in automated
    negotiation", 2011/2014): accept an offer worth at least our next bid
    (AC_next); from ``accept_time`` on, also one at least as good as every offer
    in their recent window (AC_time with MAX^W); on the last move that can still
    close a deal, anything at or above the reservation value. Never below it.

    **No deal is possible → end at once.** When no outcome is worth the
    reservation value (a mandate can mask them all), it ends the negotiation on
    its first move instead of spending the whole deadline finding out. It never
    ends for any other reason, so an opponent that may walk away costs it nothing
    but that opponent's own exit.

    **Cheap.** The outcome space is sorted once (cached per domain and utility),
    utilities are table look-ups, the opponent model and the best offers are
    updated one bid at a time, and at most ``candidates`` bids are scored per move.
    """

    name = "default"

    def __init__(
        self,
        e: float = 0.1,
        width: float = 0.05,
        accept_time: float = 0.95,
        recent: int = 10,
        candidates: int = 48,
    ) -> None:
        super().__init__()
        self.e = e
        self.width = width
        self.accept_time = accept_time
        self.recent = recent
        self.candidates = candidates
        self.model: FrequencyModel | None = None
        self._fed = 0
        self._theirs: list[float] = []
        self._their_bids: list[Bid] = []
        self._best_u = -1.0
        self._best_bid: Bid | None = None
        self._proposed: set[Bid] = set()
        self._hopeless = False

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self.model = FrequencyModel(ctx.domain.issue_names)
        self._fed = 0
        self._theirs = []
        self._their_bids = []
        self._best_u, self._best_bid = -1.0, None
        self._proposed = set()
        self._hopeless = self.space.max_utility < ctx.reservation

    # ------------------------------------------------------------------ state
    def _observe(self, state: SessionView) -> FrequencyModel:
        model = self.model
        assert model is not None
        theirs = state.their_bids
        for bid in theirs[self._fed :]:
            value = self.u(bid)
            self._theirs.append(value)
            self._their_bids.append(bid)
            model.update(bid)
            if value > self._best_u:
                self._best_u, self._best_bid = value, bid
        self._fed = len(theirs)
        return model

    def target(self, state: SessionView) -> float:
        self._observe(state)
        top = self.space.max_utility
        t = min(1.0, max(0.0, state.progress))
        return top - (top - self.floor) * t ** (1.0 / self.e)

    def _live_best(self) -> tuple[float, Bid] | None:
        """The best of the opponent's recent offers: a deal they still stand behind."""
        if not self._theirs:
            return None
        n = max(3, self.recent)
        values, bids = self._theirs[-n:], self._their_bids[-n:]
        i = max(range(len(values)), key=values.__getitem__)
        return values[i], bids[i]

    @staticmethod
    def _last_call(state: SessionView) -> bool:
        """Our last bid that the other side can still accept."""
        if state.moves_left is not None:
            return state.moves_left <= 2
        return state.progress >= 0.98

    # ------------------------------------------------------------------ moves
    def _choose(self, state: SessionView) -> Bid:
        model = self._observe(state)
        target = self.target(state)
        reservation = self.context.reservation
        if self._last_call(state):
            live = self._live_best()
            if live is not None and live[0] >= reservation:
                return live[1]
        best = self._best_bid
        if best is not None and self._best_u >= max(target, reservation):
            return best  # the live option: they offered it, and it clears our target
        window = self.space.window(target, target + self.width)
        if not window:
            return self.space.closest(target)
        pool = _stride(window, self.candidates)
        proposed = self._proposed
        if model.seen < 2:
            return next((b for b in pool if b not in proposed), pool[0])
        return max(pool, key=lambda b: (b not in proposed, model.estimate(b)))

    def propose(self, state: SessionView) -> Bid | End:
        if self._hopeless:
            return End(NO_DEAL)
        bid = self._choose(state)
        self._proposed.add(bid)
        return bid

    def respond(self, state: SessionView, offer: Bid) -> Response:
        if self._hopeless:
            return End(NO_DEAL)
        self._observe(state)
        value = self.u(offer)
        reservation = self.context.reservation
        mine = self._choose(state)
        if value >= reservation:
            if value >= self.u(mine) or state.moves_left == 1:
                return Accept()  # AC_next; or the last chance to close a deal
            if state.progress >= self.accept_time:
                window = self._theirs[-self.recent - 1 : -1]
                if not window or value >= max(window):
                    return Accept()  # AC_time with MAX^W
        self._proposed.add(mine)
        return Counter(mine)
