"""Strategy benchmark: kluis's strategies against the opponent pool on the shared ANAC domains.

Run: ``python benchmarks/bench_tournament.py [--rounds 200] [--scenarios DIR] [--self-play]``
(a few minutes on a 2-core machine). It prints figures; it is not a test.

1. The summary: every kluis strategy against every agent of :mod:`agents.pool`
   (both roles, both profile orders of each scenario), and — as the reference —
   every pool agent against the rest of the pool: agreement rate, mean own
   utility, mean distance to the Nash point and to the Pareto frontier, welfare.
2. The issue-15 goals for the default, checked against the figures of this run:
   agreement ≥ the best pool agent's − 1 point; own utility ≥ 0.80.
3. Per opponent and per domain: agreement rate and own utility of each kluis
   strategy.
4. With ``--self-play``, the old table: kluis's strategies only against each other.

Utilities are undiscounted (ANAC discount factors are loaded but not applied);
a session without agreement scores each side its reservation value and is
measured from the disagreement point. Randomised agents draw from per-match
seeds derived from ``--seed``: a rerun gives the same figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from agents import load_scenarios
from agents.pool import POOL
from agents.tournament import (
    STRATEGIES,
    default_domains_dir,
    render_breakdown,
    render_table,
    run_tournament,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--scenarios", type=Path, default=default_domains_dir())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--self-play", action="store_true", help="also the self-play table")
    args = parser.parse_args()

    console = Console(width=120)
    scenarios = load_scenarios(args.scenarios)
    if not scenarios:
        console.print(f"no scenarios under {args.scenarios}")
        return 1
    sizes = ", ".join(f"{s.name} ({s.domain.size})" for s in scenarios)
    console.print(f"{len(scenarios)} scenarios: {sizes}")

    started = time.perf_counter()
    field = {**STRATEGIES, **POOL}
    families = {**dict.fromkeys(STRATEGIES, "kluis"), **dict.fromkeys(POOL, "pool")}
    result = run_tournament(scenarios, field, opponents=POOL, rounds=args.rounds,
                            seed=args.seed, families=families)  # fmt: skip
    elapsed = time.perf_counter() - started
    console.print(render_table(result))

    default = result.stats["default"]
    outsiders = [s for s in result.stats.values() if s.family == "pool"]
    best = max(outsiders, key=lambda s: s.agreement_rate)
    agree_ok = default.agreement_rate >= best.agreement_rate - 0.01
    own = default.mean(default.own_utility)
    console.print(
        f"goal: agreement ≥ best pool agent − 1 point: default {default.agreement_rate:.1%} vs "
        f"{best.name} {best.agreement_rate:.1%} → {'met' if agree_ok else 'NOT met'}\n"
        f"goal: own utility ≥ 0.80: default {own:.3f} → {'met' if own >= 0.80 else 'NOT met'}; "
        f"Nash distance {default.mean(default.nash_distance):.3f}"
    )
    for table in render_breakdown(result):
        console.print(table)
    moves = sum(m.result.turns for m in result.matches)
    console.print(
        f"{len(result.matches)} sessions, {moves} moves in {elapsed:.1f} s "
        f"({1e6 * elapsed / max(moves, 1):.0f} µs per move, both strategies and the "
        "session state machines included)"
    )
    if args.self_play:
        own_only = run_tournament(scenarios, STRATEGIES, rounds=args.rounds, seed=args.seed)
        console.print(render_table(own_only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
