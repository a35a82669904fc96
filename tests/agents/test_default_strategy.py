"""The default strategy against the ways strategies lose to strangers (issue 15)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import (
    Accept,
    Bid,
    Counter,
    Deadline,
    DefaultStrategy,
    Domain,
    End,
    NegotiationContext,
    Preferences,
    Refuse,
    Response,
    SessionState,
    SessionView,
    Side,
    simulate,
)
from agents.default_strategy import NO_DEAL
from agents.pool import POOL, RandomAgent

from .conftest import business_prefs, customer_prefs, phone_domain


def started(domain: Domain, prefs: Preferences, side: Side = Side.INITIATOR) -> DefaultStrategy:
    s = DefaultStrategy()
    s.start(NegotiationContext(domain, prefs, Deadline(rounds=100), side, random.Random(0)))
    return s


def view(t: float, theirs: tuple[Bid, ...] = (), moves_left: int | None = None) -> SessionView:
    return SessionView(Side.INITIATOR, turn=int(t * 200), progress=t, their_bids=theirs,
                       moves_left=moves_left)  # fmt: skip


def ranked(domain: Domain, prefs: Preferences) -> list[Bid]:
    return sorted(domain.outcomes(), key=prefs)  # worst first


def test_their_best_offer_is_proposed_back_as_soon_as_it_clears_the_target(
    domain: Domain, customer: Preferences
) -> None:
    """A backtracking opponent offered a good deal once: propose it while it may still hold."""
    s = started(domain, customer)
    bids = ranked(domain, customer)
    good, bad = bids[-len(bids) // 4], bids[5]
    theirs = (bad, good, bad, bad)
    early = s.propose(view(0.3, theirs))
    assert isinstance(early, Bid) and customer(early) > customer(good)  # still aiming higher
    # well before the deadline, once the target falls to it, the offer comes back
    t = next(t / 100 for t in range(30, 100) if s.target(view(t / 100, theirs)) <= customer(good))
    assert t < 1.0
    assert s.propose(view(t, theirs, moves_left=60)) == good


def test_the_last_bid_is_their_best_recent_offer_not_a_withdrawn_one(
    domain: Domain, customer: Preferences
) -> None:
    s = started(domain, customer)
    bids = ranked(domain, customer)
    withdrawn, recent_best, worse = bids[-20], bids[len(bids) // 2], bids[3]
    theirs = (withdrawn, *([worse] * 12), recent_best, worse)
    assert s.propose(view(0.99, theirs, moves_left=2)) == recent_best


def test_ac_combi_accepts_late_what_it_refuses_early(domain: Domain, customer: Preferences) -> None:
    bids = ranked(domain, customer)
    meh, offer = bids[len(bids) // 3], bids[len(bids) // 2]
    history = (meh, meh, meh, offer)
    early = started(domain, customer).respond(view(0.5, history, moves_left=100), offer)
    assert isinstance(early, Counter)  # AC_next alone: our next bid is worth more
    late = started(domain, customer).respond(view(0.96, history, moves_left=8), offer)
    assert isinstance(late, Accept)  # AC_time with MAX^W: as good as they have offered
    worse = started(domain, customer).respond(view(0.96, (offer, offer, meh), 8), meh)
    assert isinstance(worse, Counter)  # below their recent best: not yet
    last = started(domain, customer).respond(view(0.99, (offer, meh), moves_left=1), meh)
    assert isinstance(last, Accept)  # the last chance to close any deal


def test_never_accepts_below_the_reservation_value(domain: Domain, customer: Preferences) -> None:
    prefs = Preferences(customer.utility, reservation=0.6)
    s = started(domain, prefs)
    worst = ranked(domain, prefs)[0]
    for t, left in ((0.5, 100), (0.96, 8), (0.999, 1)):
        assert isinstance(s.respond(view(t, (worst,), left), worst), Counter)


def test_no_possible_deal_ends_at_once(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    """No outcome beats walking away: end on the first move, not at the deadline."""
    hopeless = Preferences(customer.utility, reservation=0.999)
    for side in (Side.INITIATOR, Side.RESPONDER):
        s = started(domain, hopeless, side)
        assert s.propose(view(0.0)) == End(NO_DEAL)
        a, pa, b, pb = (s, hopeless, POOL["tb-linear"](), business)
        if side is Side.RESPONDER:
            a, pa, b, pb = b, pb, s, hopeless
        r = simulate(domain, a, pa, b, pb, deadline=Deadline(rounds=100))
        assert r.state is SessionState.ENDED and r.reason == NO_DEAL
        assert r.turns <= (1 if side is Side.INITIATOR else 2) and r.ended_by is side


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), p_end=st.sampled_from([0.0, 0.05, 0.3]))
def test_it_never_walks_away_while_a_deal_is_possible(seed: int, p_end: float) -> None:
    """Against an opponent that may walk away, only that opponent ends the session."""
    domain = phone_domain()
    customer, business = customer_prefs(domain), business_prefs(domain)
    for a_is_default in (True, False):
        d, opp = DefaultStrategy(), RandomAgent(p_end=p_end)
        a, pa, b, pb = (
            (d, customer, opp, business) if a_is_default else (opp, business, d, customer)
        )
        r = simulate(domain, a, pa, b, pb, deadline=Deadline(rounds=60), seed=seed)
        me = Side.INITIATOR if a_is_default else Side.RESPONDER
        assert not (r.state is SessionState.ENDED and r.ended_by is me)
        if r.agreed:
            assert r.agreement is not None and customer(r.agreement) >= customer.reservation


class Refuser:
    """Refuses the first three offers without a counter, then accepts."""

    def __init__(self) -> None:
        self.refused = 0

    def start(self, ctx: NegotiationContext) -> None:
        self.domain = ctx.domain

    def propose(self, state: SessionView) -> Bid:
        return next(iter(self.domain.outcomes()))

    def respond(self, state: SessionView, offer: Bid) -> Response:
        if self.refused < 3:
            self.refused += 1
            return Refuse()
        return Accept()


def test_a_refusal_without_counter_makes_the_author_bid_again(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    r = simulate(domain, DefaultStrategy(), customer, Refuser(), business,
                 deadline=Deadline(rounds=20))  # fmt: skip
    assert r.agreed and r.turns == 8  # offer, refuse ×3 (each answered by a new offer), accept
    kinds = [type(step.move).__name__ for step in r.trace]
    assert kinds == ["OfferMove", "RefuseMove"] * 3 + ["OfferMove", "AcceptMove"]


@pytest.mark.parametrize("opponent", sorted(POOL))
def test_every_pool_agent_plays_a_full_session(
    opponent: str, domain: Domain, customer: Preferences, business: Preferences
) -> None:
    """Each stranger runs through the wire encoding in both seats without errors."""
    for first in (True, False):
        a, pa, b, pb = (DefaultStrategy(), customer, POOL[opponent](), business)
        if not first:
            a, pa, b, pb = b, pb, a, pa
        r = simulate(domain, a, pa, b, pb, deadline=Deadline(rounds=40), seed=3)
        assert r.state in (SessionState.AGREED, SessionState.ENDED, SessionState.TIMED_OUT)
        if r.agreement is not None:
            assert domain.contains(r.agreement)
