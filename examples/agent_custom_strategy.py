"""Write a strategy from scratch and test it locally before it goes on the network.

``MeetHalfway`` implements the three-method Strategy API with nothing but the
standard library: it lists the outcomes it likes (best first), lowers its
aspiration quadratically over time, and among acceptable bids proposes the one
that differs least from the opponent's latest offer. It accepts an offer that
meets its current aspiration.

The script then does what a developer should do before deploying: play it in
the local simulator against the opponent pool (classic negotiators from outside
the kluis family, :mod:`agents.pool`) next to kluis's default, on a domain built
in code and on the ANAC scenarios when they are present, check a few
invariants, and print the tables.

Run:  python examples/agent_custom_strategy.py

The same strategy joins the command-line tournament without this script::

    kluis agents tournament --strategy examples/agent_custom_strategy.py:MeetHalfway
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from agents import (
    Accept,
    Bid,
    CategoricalIssue,
    Counter,
    DiscreteEvaluator,
    Domain,
    LinearAdditiveUtility,
    NegotiationContext,
    Preferences,
    Response,
    Scenario,
    SessionView,
    Strategy,
    load_scenarios,
)
from agents.pool import POOL
from agents.tournament import (
    STRATEGIES,
    default_domains_dir,
    render_breakdown,
    render_table,
    run_tournament,
)


class MeetHalfway:
    """Quadratic aspiration; proposes the acceptable bid nearest the opponent's last offer."""

    name = "meet-halfway"

    def start(self, ctx: NegotiationContext) -> None:
        self.ctx = ctx
        bids = (
            list(ctx.domain.outcomes(cap=50_000))
            if ctx.domain.size <= 50_000
            else [ctx.domain.random_bid(ctx.rng) for _ in range(5_000)]
        )
        scored = sorted(((ctx.utility(b), b) for b in bids), key=lambda ub: -ub[0])
        self.ranked = [b for _, b in scored]
        self.utils = [u for u, _ in scored]
        self.best = self.utils[0]

    def aspiration(self, t: float) -> float:
        floor = max(self.ctx.reservation, 0.5 * self.best)
        return self.best - (self.best - floor) * t * t

    def propose(self, state: SessionView) -> Bid:
        target = self.aspiration(state.progress)
        n = 0
        while n < len(self.utils) and n < 300 and self.utils[n] >= target:
            n += 1
        acceptable = self.ranked[:n]
        last = state.last_offer
        if not acceptable:
            return self.ranked[0]
        if last is None:
            return acceptable[0]
        return max(acceptable, key=lambda b: sum(b[k] == last[k] for k in b))

    def respond(self, state: SessionView, offer: Bid) -> Response:
        if self.ctx.utility(offer) >= self.aspiration(state.progress):
            return Accept()
        return Counter(self.propose(state))


def toy_scenario() -> Scenario:
    d = Domain(
        "holiday",
        (
            CategoricalIssue("where", ("beach", "mountains", "city")),
            CategoricalIssue("when", ("june", "july", "august")),
            CategoricalIssue("stay", ("hotel", "camping", "apartment")),
        ),
    )
    a = LinearAdditiveUtility(
        {"where": 0.5, "when": 0.2, "stay": 0.3},
        {
            "where": DiscreteEvaluator({"beach": 5, "mountains": 1, "city": 3}),
            "when": DiscreteEvaluator({"june": 2, "july": 5, "august": 3}),
            "stay": DiscreteEvaluator({"hotel": 5, "camping": 1, "apartment": 3}),
        },
    )
    b = LinearAdditiveUtility(
        {"where": 0.3, "when": 0.3, "stay": 0.4},
        {
            "where": DiscreteEvaluator({"beach": 1, "mountains": 5, "city": 3}),
            "when": DiscreteEvaluator({"june": 5, "july": 2, "august": 1}),
            "stay": DiscreteEvaluator({"hotel": 2, "camping": 5, "apartment": 4}),
        },
    )
    where = Path("holiday")
    return Scenario("holiday", d, (Preferences(a, 0.2), Preferences(b, 0.2)), (where,) * 3)


def main() -> int:
    assert isinstance(MeetHalfway(), Strategy)  # it speaks the API
    scenarios = [toy_scenario()]
    anac = default_domains_dir()
    if anac.is_dir():
        wanted = {"Laptop", "Grocery", "IS_BT_Acquisition"}
        scenarios += [s for s in load_scenarios(anac) if s.name in wanted]
    strategies = {"meet-halfway": MeetHalfway, "default": STRATEGIES["default"]}
    result = run_tournament(scenarios, strategies, opponents=POOL, rounds=100,
                            families={"meet-halfway": "yours"})  # fmt: skip

    # invariants worth checking before anything goes on the network
    for match in result.matches:
        mine_first = match.initiator == "meet-halfway"
        if "meet-halfway" not in (match.initiator, match.responder):
            continue
        r = match.result
        assert r.reason.startswith("strategy failed") is False, r.reason
        sc = next(s for s in scenarios if s.name == match.scenario)
        prefs = sc.profiles[::-1] if match.swapped_profiles else sc.profiles
        me = prefs[0] if mine_first else prefs[1]
        own = r.utility_a if mine_first else r.utility_b
        assert own >= me.reservation - 1e-9, "agreed below the reservation value"

    console = Console(width=120)
    console.print(render_table(result, title="meet-halfway and the default vs the pool"))
    console.print(render_breakdown(result)[0])  # per opponent: where it wins and loses
    ours = result.stats["meet-halfway"]
    print(
        f"meet-halfway: {ours.agreement_rate:.0%} agreements over {ours.sessions} sessions, "
        "no errors, never below its reservation value"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
