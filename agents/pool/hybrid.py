"""The hybrid agent: a time-based target mixed with a behaviour-based one — so it backtracks.

After the Hybrid agent of Mehmet Onur Keskin, Berk Buzcu & Reyhan Aydoğan
(Özyeğin University), shipped with NegoLog (Doğru et al., "NegoLog: an integrated
Python-based automated negotiation framework", IJCAI 2024 demo track): the
target is ``(1 − t²) · behaviour + t² · time``, where the behaviour part moves
by the opponent's recent concessions (a weighted window of the last moves,
tit-for-tat style) and the time part follows a concession curve.
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, NegotiationContext, Response, SessionView
from ._base import PoolAgent

__all__ = ["HybridAgent"]

#: Weights of the opponent's last moves in the behaviour part (newest last).
WINDOW = (1.0, 2.0, 3.0, 4.0)


class HybridAgent(PoolAgent):
    """Time-based and behaviour-based targets mixed by ``t²``; random bid in a band.

    The behaviour part answers the opponent's recent concessions in kind: when
    the opponent holds firm or gets tougher, it *raises* its own target again,
    so an offer it made once may be withdrawn later — the backtracking a robust
    strategy has to survive. It bids a random bid in a small band above its
    target, and accepts an offer worth at least its next bid (AC_next).
    """

    name = "hybrid"

    def __init__(self, e: float = 0.6, band: float = 0.04) -> None:
        super().__init__()
        self.e, self.band = e, band
        self._history: list[float] = []
        self._behaviour = 1.0

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self._history = []
        self._behaviour = self.space.max_utility

    def target(self, state: SessionView) -> float:
        for bid in self.new_offers(state):
            self._history.append(self.u(bid))
        top, low = self.space.max_utility, max(self.reservation, self.space.min_utility)
        t = min(1.0, max(0.0, state.progress))
        time_part = top - (top - low) * t ** (1.0 / self.e)
        diffs = [b - a for a, b in zip(self._history, self._history[1:], strict=False)]
        recent = diffs[-len(WINDOW) :]
        if recent:
            weights = WINDOW[-len(recent) :]
            moved = sum(w * d for w, d in zip(weights, recent, strict=True)) / sum(weights)
            # They conceded `moved` (in our utility): we concede as much — or take it back.
            self._behaviour = min(top, max(low, self._behaviour - moved - 0.004))
        mix = t * t
        return max(low, (1 - mix) * self._behaviour + mix * time_part)

    def propose(self, state: SessionView) -> Bid:
        target = self.target(state)
        window = self.space.window(target, target + self.band)
        if not window:
            return self.space.closest(target)
        return self.ctx.rng.choice(window[:200])

    def respond(self, state: SessionView, offer: Bid) -> Response:
        mine = self.propose(state)
        value = self.u(offer)
        if value >= self.reservation and value >= self.u(mine):
            return Accept()
        return Counter(mine)
