"""MiCRO: concede one bid for every new bid the opponent makes.

After Dave de Jonge, "An Analysis of the Linear Bilateral ANAC Domains Using the
MiCRO Benchmark Strategy" (IJCAI 2022), the benchmark strategy that matched the
ANAC finalists on the linear domains. MiCRO has no time dependence at all: it
walks down its own bids in order of utility, and takes a new step only once the
opponent has made at least as many *different* proposals as it has.
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, NegotiationContext, Response, SessionView
from ._base import PoolAgent

__all__ = ["MiCRO"]


class MiCRO(PoolAgent):
    """Minimal concession in reply to the opponent's concessions (de Jonge, IJCAI 2022).

    Bids are sorted by own utility, best first. With ``m`` distinct bids
    proposed and ``n`` distinct bids received: if ``m <= n`` it proposes the next
    new bid (if still above its reservation value); otherwise it repeats one of
    its earlier bids at random. It accepts an offer at least as good as the bid
    it would propose next, or as the worst bid it has already proposed.
    """

    name = "micro"

    def __init__(self) -> None:
        super().__init__()
        self._proposed: list[Bid] = []
        self._received: set[Bid] = set()

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self._proposed = []
        self._received = set()

    def _observe(self, state: SessionView) -> None:
        self._received.update(self.new_offers(state))

    def _next_new(self) -> Bid | None:
        m = len(self._proposed)
        space = self.space
        if m < len(space) and space.utils[m] >= self.reservation:
            return space.bids[m]
        return None

    def _threshold(self) -> float:
        candidate = self._next_new() if len(self._proposed) <= len(self._received) else None
        if candidate is not None:
            return self.u(candidate)
        if self._proposed:
            return self.u(self._proposed[-1])
        return self.space.max_utility

    def propose(self, state: SessionView) -> Bid:
        self._observe(state)
        if len(self._proposed) <= len(self._received):
            new = self._next_new()
            if new is not None:
                self._proposed.append(new)
                return new
        if not self._proposed:
            self._proposed.append(self.space.best)
            return self.space.best
        return self.ctx.rng.choice(self._proposed)

    def respond(self, state: SessionView, offer: Bid) -> Response:
        self._observe(state)
        value = self.u(offer)
        if value >= self.reservation and value >= self._threshold():
            return Accept()
        return Counter(self.propose(state))
