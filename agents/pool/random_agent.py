"""The random agent: random bids, random acceptance — and it may walk away at any move.

After the random baselines of GENIUS (``RandomCounterOfferParty``) and NegMAS
(``RandomNegotiator``, with its ``p_acceptance``/``p_ending`` probabilities), the
"zero-intelligence" opponents of Gode & Sunder (1993) that every negotiation
testbed keeps as a floor.
"""

from __future__ import annotations

from ..domain import Bid
from ..strategy import Accept, Counter, End, Response, SessionView
from ._base import PoolAgent

__all__ = ["RandomAgent"]


class RandomAgent(PoolAgent):
    """Bids uniformly at random among its outcomes at or above its reservation value.

    At each answer it walks away with probability ``p_end`` (so it often ends
    the session early), else accepts an offer at or above its reservation value
    with probability ``p_accept``, else counters with a random bid. All draws
    come from the context's seeded RNG.
    """

    name = "random"

    def __init__(self, p_accept: float = 0.15, p_end: float = 0.03) -> None:
        super().__init__()
        if not (0.0 <= p_accept <= 1.0 and 0.0 <= p_end <= 1.0):
            raise ValueError("probabilities are in [0, 1]")
        self.p_accept, self.p_end = p_accept, p_end

    def propose(self, state: SessionView) -> Bid:
        n = self.space.at_least(self.reservation)
        return self.space.bids[self.ctx.rng.randrange(max(1, n))]

    def respond(self, state: SessionView, offer: Bid) -> Response:
        rng = self.ctx.rng
        if rng.random() < self.p_end:
            return End("random agent walked away")
        if self.u(offer) >= self.reservation and rng.random() < self.p_accept:
            return Accept()
        return Counter(self.propose(state))
