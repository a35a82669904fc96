"""Strategy benchmark: the round-robin tournament on the shared ANAC domains.

Run: ``python benchmarks/bench_tournament.py [--rounds 200] [--domains PATH]``
(about 30 s on a 2-core machine). It prints figures; it is not a test.

Two tables:

1. every strategy against every other, both roles, both profile orders of each
   scenario: agreement rate, mean own utility, mean distance to the Nash point
   and to the Pareto frontier, mean social welfare;
2. ``DefaultStrategy`` head to head with each other strategy: how often they
   agree, what each side gets, how far from the Nash point the deal lands.

Utilities are undiscounted (ANAC discount factors are loaded but not applied);
a session without agreement scores each side its reservation value and is
measured from the disagreement point.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents import load_scenarios
from agents.tournament import STRATEGIES, default_domains_dir, render_table, run_tournament


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--domains", type=Path, default=default_domains_dir())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    console = Console(width=100)
    scenarios = load_scenarios(args.domains)
    if not scenarios:
        console.print(f"no scenarios under {args.domains}")
        return 1
    sizes = ", ".join(f"{s.name} ({s.domain.size})" for s in scenarios)
    console.print(f"{len(scenarios)} scenarios: {sizes}")

    started = time.perf_counter()
    result = run_tournament(scenarios, STRATEGIES, rounds=args.rounds, seed=args.seed)
    elapsed = time.perf_counter() - started
    console.print(render_table(result))

    head = Table(title="DefaultStrategy head to head (both roles, both profiles, all domains)")
    for col in ("opponent", "n", "agreed", "default u", "opponent u", "Nash d", "welfare"):
        head.add_column(col, justify="right" if col != "opponent" else "left", no_wrap=True)
    rows: dict[str, list[tuple[bool, float, float, float, float]]] = defaultdict(list)
    for m in result.matches:
        r = m.result
        if m.initiator == "default":
            rows[m.responder].append(
                (r.agreed, r.utility_a, r.utility_b, r.nash_distance or 0.0, r.welfare)
            )
        elif m.responder == "default":
            rows[m.initiator].append(
                (r.agreed, r.utility_b, r.utility_a, r.nash_distance or 0.0, r.welfare)
            )
    for opponent, data in rows.items():
        head.add_row(
            opponent,
            str(len(data)),
            f"{sum(d[0] for d in data) / len(data):.0%}",
            f"{statistics.fmean(d[1] for d in data):.3f}",
            f"{statistics.fmean(d[2] for d in data):.3f}",
            f"{statistics.fmean(d[3] for d in data):.3f}",
            f"{statistics.fmean(d[4] for d in data):.3f}",
        )
    console.print(head)
    moves = sum(m.result.turns for m in result.matches)
    console.print(
        f"{len(result.matches)} sessions, {moves} moves in {elapsed:.1f} s "
        f"({1e6 * elapsed / max(moves, 1):.0f} µs per move, strategy time included)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
