"""The aspiration agent: a polynomial aspiration level, any bid above it, chosen at random.

After the aspiration negotiator of NegMAS (Mohammad et al., the platform of the
ANAC SCML and ANL leagues; ``AspirationNegotiator``), itself after the
aspiration-level models of the negotiation literature (Pruitt, *Negotiation
Behavior*, 1981): aspiration ``a(t) = Pmax − (Pmax − Pmin) · t^k``.
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, NegotiationContext, Response, SessionView
from ._base import PoolAgent

__all__ = ["AspirationAgent"]


class AspirationAgent(PoolAgent):
    """Aspiration ``a(t) = Pmax − (Pmax − Pmin) · t^k`` (``k = 4``: NegMAS's "boulware").

    It bids a random bid whose utility is at or above its aspiration (not the
    closest one: that is what sets it apart from a time-based agent, and what
    makes its offers noisy), and accepts any offer at or above its aspiration.
    """

    name = "aspiration"

    def __init__(self, k: float = 4.0) -> None:
        super().__init__()
        self.k = k
        self._low = 0.0

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self._low = max(ctx.reservation, self.space.min_utility)

    def aspiration(self, t: float) -> float:
        top = self.space.max_utility
        return top - (top - self._low) * min(1.0, max(0.0, t)) ** self.k

    def propose(self, state: SessionView) -> Bid:
        n = self.space.at_least(self.aspiration(state.progress))
        return self.space.bids[self.ctx.rng.randrange(max(1, n))]

    def respond(self, state: SessionView, offer: Bid) -> Response:
        value = self.u(offer)
        if value >= self.reservation and value >= self.aspiration(state.progress):
            return Accept()
        return Counter(self.propose(state))
