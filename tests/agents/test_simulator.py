from __future__ import annotations

import pytest

from agents import (
    Deadline,
    DefaultStrategy,
    Domain,
    Linear,
    ManualClock,
    Preferences,
    SessionState,
    TitForTat,
    simulate,
)
from agents.strategy import BaseStrategy, SessionView


def test_simulation_reports_everything(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    r = simulate(
        domain, DefaultStrategy(), customer, Linear(), business, deadline=Deadline(rounds=40)
    )
    assert r.agreed and r.state is SessionState.AGREED and r.agreement is not None
    assert r.utility_a == pytest.approx(customer(r.agreement))
    assert r.utility_b == pytest.approx(business(r.agreement))
    assert r.welfare == pytest.approx(r.utility_a + r.utility_b)
    assert r.pareto_distance is not None and r.pareto_distance >= 0
    assert r.nash_distance is not None and r.nash_distance >= 0
    assert 0 < r.turns <= 80 and r.rounds == (r.turns + 1) // 2
    assert len(r.trace) == r.turns


@pytest.mark.parametrize("seed", [0, 7])
def test_simulation_is_deterministic(
    domain: Domain, customer: Preferences, business: Preferences, seed: int
) -> None:
    runs = [
        simulate(
            domain,
            DefaultStrategy(),
            customer,
            TitForTat(),
            business,
            deadline=Deadline(rounds=30),
            seed=seed,
            wire=wire,
        )
        for wire in (True, True, False)
    ]
    first = runs[0]
    for other in runs[1:]:
        assert other.agreement == first.agreement
        assert other.turns == first.turns
        assert [s.bid for s in other.trace] == [s.bid for s in first.trace]


class Stubborn(BaseStrategy):
    def propose(self, state: SessionView):  # type: ignore[no-untyped-def]
        return self.space.best

    def respond(self, state: SessionView, offer):  # type: ignore[no-untyped-def]
        from agents import Counter

        return Counter(self.space.best)


def test_no_agreement_gives_reservations(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    a = Preferences(customer.utility, 0.3)
    b = Preferences(business.utility, 0.2)
    r = simulate(domain, Stubborn(), a, Stubborn(), b, deadline=Deadline(rounds=5))
    assert not r.agreed and r.state is SessionState.TIMED_OUT and r.turns == 10
    assert (r.utility_a, r.utility_b) == (0.3, 0.2)


def test_time_deadline_with_manual_clock(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    clock = ManualClock()
    r = simulate(
        domain,
        Stubborn(),
        customer,
        Stubborn(),
        business,
        deadline=Deadline(ms=100),
        clock=clock,
        metrics=False,
    )
    assert r.state is SessionState.TIMED_OUT and r.turns == 10  # 10 ms per move
    assert clock.now == 100


def test_a_frozen_clock_cannot_hang_the_simulator(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    with pytest.raises(RuntimeError):
        simulate(
            domain,
            Stubborn(),
            customer,
            Stubborn(),
            business,
            deadline=Deadline(ms=100),
            clock=lambda: 0,
            metrics=False,
            max_turns=50,
        )
