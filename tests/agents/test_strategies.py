from __future__ import annotations

import itertools
import random

import pytest

from agents import (
    Accept,
    Bid,
    Boulware,
    Conceder,
    Counter,
    Deadline,
    DefaultStrategy,
    Domain,
    FrequencyModel,
    Linear,
    NegotiationContext,
    Preferences,
    SessionView,
    Side,
    Strategy,
    TimeDependent,
    TitForTat,
    simulate,
)
from agents.strategy import BaseStrategy


def ctx(domain: Domain, prefs: Preferences, rounds: int = 50) -> NegotiationContext:
    return NegotiationContext(
        domain, prefs, Deadline(rounds=rounds), Side.INITIATOR, random.Random(0)
    )


def view(t: float, theirs: tuple[Bid, ...] = (), moves_left: int | None = None) -> SessionView:
    return SessionView(
        Side.INITIATOR, turn=int(t * 100), progress=t, their_bids=theirs, moves_left=moves_left
    )


@pytest.mark.parametrize("make", [DefaultStrategy, Boulware, Linear, Conceder, TitForTat])
def test_shipped_strategies_satisfy_the_protocol(make: type) -> None:
    assert isinstance(make(), Strategy)


def test_time_dependent_family_shapes(domain: Domain, customer: Preferences) -> None:
    strategies = {e: TimeDependent(e) for e in (0.2, 1.0, 2.0)}
    for s in strategies.values():
        s.start(ctx(domain, customer))
    top = strategies[1.0].space.max_utility
    bottom = strategies[1.0].floor
    span = top - bottom
    for t in (0.25, 0.5, 0.75):
        b, lin, c = (strategies[e].target(view(t)) for e in (0.2, 1.0, 2.0))
        assert b > lin > c  # Boulware holds, Conceder gives
        assert lin == pytest.approx(top - span * t)
    # Boulware has conceded < 5% of the range by half time; Conceder > 70%.
    assert strategies[0.2].target(view(0.5)) > top - 0.05 * span
    assert strategies[2.0].target(view(0.5)) < top - 0.7 * span
    for s in strategies.values():
        assert s.target(view(0.0)) == pytest.approx(top)
        assert s.target(view(1.0)) == pytest.approx(bottom)
    hard = TimeDependent(0.0)
    hard.start(ctx(domain, customer))
    assert hard.target(view(0.99)) == pytest.approx(top)


def _own_curve(
    domain: Domain,
    strategy: BaseStrategy,
    me: Preferences,
    other: Preferences,
) -> list[float]:
    result = simulate(
        domain, strategy, me, TimeDependent(0.0), other, deadline=Deadline(rounds=40), metrics=False
    )
    return [me(s.bid) for s in result.trace if s.by is Side.INITIATOR and s.bid is not None]


def test_boulware_concedes_late_conceder_early(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    boul = _own_curve(domain, Boulware(), customer, business)
    conc = _own_curve(domain, Conceder(), customer, business)
    half = len(boul) // 2
    top = max(boul)
    assert top - boul[half] < 0.05  # still near its best at half time
    assert top - conc[half] > 0.3  # most ground given by half time
    assert boul[-1] < top - 0.2  # but Boulware does concede at the end
    assert all(x >= y - 1e-9 for x, y in itertools.pairwise(boul))  # monotone concession


def test_titfortat_mirrors_concessions(domain: Domain, customer: Preferences) -> None:
    space_sorted = sorted(domain.outcomes(), key=customer)  # worst for us first
    low, mid, high = space_sorted[0], space_sorted[len(space_sorted) // 2], space_sorted[-40]
    tft = TitForTat(gift=0.0)
    tft.start(ctx(domain, customer))
    start = tft.target(view(0.1, (low,)))
    assert start == pytest.approx(tft.space.max_utility)
    # the opponent concedes Δ in our utility → we concede Δ
    delta = customer(mid) - customer(low)
    after = tft.target(view(0.2, (low, mid)))
    assert start - after == pytest.approx(delta)
    # no concession from them → none from us
    assert tft.target(view(0.3, (low, mid, mid))) == pytest.approx(after)
    # they concede again → we follow by the same amount
    delta2 = customer(high) - customer(mid)
    assert after - tft.target(view(0.4, (low, mid, mid, high))) == pytest.approx(delta2)


def test_titfortat_gift_keeps_things_moving(domain: Domain, customer: Preferences) -> None:
    tft = TitForTat(gift=0.01)
    tft.start(ctx(domain, customer))
    bid = next(iter(domain.outcomes()))
    first = tft.target(view(0.1, (bid,)))
    assert tft.target(view(0.2, (bid, bid))) == pytest.approx(first - 0.01)


def test_ac_next_and_reservation(domain: Domain, customer: Preferences) -> None:
    prefs = Preferences(customer.utility, reservation=0.6)
    for s in (Linear(), DefaultStrategy(), TitForTat()):
        s.start(ctx(domain, prefs))
        worst = min(domain.outcomes(), key=prefs)
        best = max(domain.outcomes(), key=prefs)
        assert isinstance(s.respond(view(0.999, (worst,), moves_left=1), worst), Counter)
        assert isinstance(s.respond(view(0.1, (best,)), best), Accept)
        for t in (0.0, 0.5, 0.99, 1.0):
            assert prefs(s.propose(view(t, (worst,)))) >= 0.6 - 1e-9


def test_default_takes_the_last_chance(domain: Domain, customer: Preferences) -> None:
    s = DefaultStrategy()
    s.start(ctx(domain, customer))
    mediocre = sorted(domain.outcomes(), key=customer)[len(list(domain.outcomes())) // 3]
    assert isinstance(s.respond(view(0.5, (mediocre,), moves_left=9), mediocre), Counter)
    assert isinstance(s.respond(view(0.995, (mediocre,), moves_left=1), mediocre), Accept)


def test_default_offers_their_best_back(domain: Domain, customer: Preferences) -> None:
    s = DefaultStrategy()
    s.start(ctx(domain, customer))
    ranked = sorted(domain.outcomes(), key=customer)
    theirs = (ranked[10], ranked[len(ranked) // 2], ranked[20])
    assert s.propose(view(0.999, theirs, moves_left=2)) == ranked[len(ranked) // 2]


def test_default_uses_the_opponent_model(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    """Among bids equally good for us, it picks the one the opponent likes."""
    s = DefaultStrategy(width=0.2)
    s.start(ctx(domain, customer))
    theirs = tuple(sorted(domain.outcomes(), key=business, reverse=True)[:6])
    chosen = s.propose(view(0.5, theirs))
    window = s.space.window(s.target(view(0.5, theirs)), s.target(view(0.5, theirs)) + 0.2)
    assert chosen in window
    assert business(chosen) >= max(business(b) for b in window) - 0.25


def test_frequency_model_learns(domain: Domain) -> None:
    m = FrequencyModel(domain.issue_names)
    base = domain.bid(price=3000, months=24, data="1GB", shared={"contact.email"})
    for data in ("1GB", "5GB", "20GB", "1GB"):
        m.update(base.with_value("data", data))
    assert m.weights["price"] > m.weights["data"]  # price never moved: it matters to them
    assert m.estimate(base) > m.estimate(base.with_value("price", 1000))


def test_strategies_agree_in_self_play(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    for make in (DefaultStrategy, Linear, Conceder):
        r = simulate(domain, make(), customer, make(), business, deadline=Deadline(rounds=50))
        assert r.agreed, make
