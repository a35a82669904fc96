"""Strategy speed: milliseconds of *strategy* time per 100-round negotiation.

Run: ``python benchmarks/bench_strategy_speed.py [--negotiations 200] [--rounds 100]``.
It prints figures; it is not a test. The goal (issue 15) is at most 5 ms of
strategy time per 100-round negotiation on a domain of about 50 outcomes, shown
next to the naive time-based strategy measured in the same run (a ratio, since
machines differ and are noisy).

Only time inside ``start``/``propose``/``respond`` counts (a timing proxy wraps
each strategy); the session state machine and the opponent are not measured.
The opponent repeats a bid below the strategy's reservation value and never
accepts, so every negotiation runs its full length. "warm" reuses one
preferences object (the sorted outcome space is cached, as in a tournament or a
vault that negotiates often); "cold" builds fresh preferences per negotiation,
so the precomputation is paid every time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from agents import (
    Bid,
    BooleanIssue,
    Boulware,
    Counter,
    Deadline,
    DefaultStrategy,
    DiscreteEvaluator,
    Domain,
    LinearAdditiveUtility,
    NegotiationContext,
    NumericEvaluator,
    NumericIssue,
    OrdinalIssue,
    Preferences,
    Response,
    SessionView,
    Strategy,
    simulate,
)
from agents.pool import TimeBasedAgent


def domain() -> Domain:
    """48 outcomes: 4 prices × 3 contract lengths × insurance × 2 data plans."""
    return Domain("bench", (
        NumericIssue("price", Decimal("14.99"), Decimal("29.99"), step=Decimal("5.00")),
        NumericIssue.of_points("months", (1, 12, 24)),
        BooleanIssue("insurance"),
        OrdinalIssue("data", ("10GB", "unlimited")),
    ))  # fmt: skip


def buyer() -> Preferences:
    return Preferences(LinearAdditiveUtility(
        {"price": 0.5, "months": 0.2, "insurance": 0.1, "data": 0.2},
        {"price": NumericEvaluator(Decimal("14.99"), Decimal("29.99"), increasing=False),
         "months": DiscreteEvaluator({1: 3, 12: 2, 24: 1}),
         "insurance": DiscreteEvaluator({True: 1, False: 0.5}),
         "data": DiscreteEvaluator({"10GB": 1, "unlimited": 2})},
    ), reservation=0.3)  # fmt: skip


class Wall:
    """Repeats the bid worst for the buyer and never accepts: the session runs its length."""

    def __init__(self, bid: Bid) -> None:
        self.bid = bid

    def start(self, ctx: NegotiationContext) -> None:
        pass

    def propose(self, state: SessionView) -> Bid:
        return self.bid

    def respond(self, state: SessionView, offer: Bid) -> Response:
        return Counter(self.bid)


class Timed:
    """Adds up the time spent inside the wrapped strategy."""

    def __init__(self, inner: Strategy) -> None:
        self.inner, self.ns = inner, 0

    def start(self, ctx: NegotiationContext) -> None:
        t = time.perf_counter_ns()
        self.inner.start(ctx)
        self.ns += time.perf_counter_ns() - t

    def propose(self, state: SessionView) -> Bid:
        t = time.perf_counter_ns()
        bid = self.inner.propose(state)
        self.ns += time.perf_counter_ns() - t
        assert isinstance(bid, Bid)
        return bid

    def respond(self, state: SessionView, offer: Bid) -> Response:
        t = time.perf_counter_ns()
        out = self.inner.respond(state, offer)
        self.ns += time.perf_counter_ns() - t
        return out


def measure(
    make: Callable[[], Strategy], n: int, rounds: int, cold: bool
) -> tuple[float, float, int]:
    """(median ms per negotiation, ms per 100 rounds, rounds played in the last one)."""
    d = domain()
    shared = buyer()
    worst = min(d.outcomes(), key=shared)
    per: list[float] = []
    played = 0
    for i in range(n):
        prefs = buyer() if cold else shared
        timed = Timed(make())
        r = simulate(d, timed, prefs, Wall(worst), Preferences(lambda b: 1.0), seed=i,
                     deadline=Deadline(rounds=rounds), metrics=False, wire=False)  # fmt: skip
        assert not r.agreed or isinstance(r.agreement, Bid)
        played = r.rounds
        per.append(timed.ns / 1e6)
    med = statistics.median(per)
    return med, med * 100 / max(played, 1), played


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--negotiations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    contenders: dict[str, Callable[[], Strategy]] = {
        "naive time-based (e=0.5)": lambda: TimeBasedAgent(0.5),
        "kluis boulware": Boulware,
        "kluis default": DefaultStrategy,
    }
    print(f"domain: {domain().size} outcomes; {args.negotiations} negotiations of "
          f"{args.rounds} rounds each; strategy time only (median)")  # fmt: skip
    for mode in ("warm", "cold"):
        base = None
        print(f"\n{mode}:")
        for name, make in contenders.items():
            med, per100, played = measure(make, args.negotiations, args.rounds, mode == "cold")
            base = base or med
            print(f"  {name:26s} {med:6.2f} ms/negotiation  {per100:6.2f} ms/100 rounds  "
                  f"({played} rounds)  ×{med / base:.2f} of naive")  # fmt: skip
    goal = measure(DefaultStrategy, args.negotiations, 100, cold=True)[1]
    print(f"\ngoal: default ≤ 5 ms per 100-round negotiation (cold): {goal:.2f} ms "
          f"→ {'met' if goal <= 5 else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
