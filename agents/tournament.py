"""Round-robin tournaments on the ANAC domains, and the ``kluis agents tournament`` command.

Every strategy meets every other in both roles (initiator and responder) and
with both profiles of each scenario, so no strategy profits from the side of
the table it happens to sit on. Per strategy the table reports:

* **agreement** — the share of its sessions that ended in a deal;
* **own utility** — the mean of its own utility (reservation value when no deal);
* **Nash dist.** — mean distance of the outcome to the Nash point (lower is
  fairer and more efficient); **Pareto dist.** likewise to the frontier;
* **welfare** — the mean sum of both utilities.

Run it with ``python -m agents.tournament`` (or ``kluis agents tournament``)::

    python -m agents.tournament --rounds 200 --strategies default,boulware,conceder
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .anac import Scenario, load_scenarios
from .metrics import OutcomeAnalysis
from .simulator import SimulationResult, simulate
from .strategy import Boulware, Conceder, DefaultStrategy, Linear, Strategy, TitForTat
from .utility import Deadline

__all__ = [
    "STRATEGIES",
    "Match",
    "StrategyStats",
    "TournamentResult",
    "default_domains_dir",
    "main",
    "render_table",
    "run_tournament",
]

#: The built-in strategies, by the name the command line uses.
STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "default": DefaultStrategy,
    "boulware": Boulware,
    "linear": Linear,
    "conceder": Conceder,
    "tit-for-tat": TitForTat,
}


def default_domains_dir() -> Path:
    """``../shared/scenarios/anac`` relative to the repository root."""
    repo = Path(__file__).resolve().parent.parent
    return (repo.parent / "shared" / "scenarios" / "anac").resolve()


@dataclass(frozen=True)
class Match:
    scenario: str
    initiator: str
    responder: str
    swapped_profiles: bool
    result: SimulationResult


@dataclass
class StrategyStats:
    name: str
    sessions: int = 0
    agreements: int = 0
    own_utility: list[float] = field(default_factory=list)
    nash_distance: list[float] = field(default_factory=list)
    pareto_distance: list[float] = field(default_factory=list)
    welfare: list[float] = field(default_factory=list)

    @property
    def agreement_rate(self) -> float:
        return self.agreements / self.sessions if self.sessions else 0.0

    def mean(self, values: list[float]) -> float:
        return statistics.fmean(values) if values else float("nan")


@dataclass
class TournamentResult:
    matches: list[Match]
    stats: dict[str, StrategyStats]
    rounds: int
    scenarios: list[str]


def run_tournament(
    scenarios: Sequence[Scenario],
    strategies: Mapping[str, Callable[[], Strategy]],
    *,
    rounds: int = 200,
    seed: int = 0,
    self_play: bool = False,
    on_match: Callable[[Match], None] | None = None,
) -> TournamentResult:
    """Play every ordered pair of strategies on every scenario, with both profile orders."""
    stats = {name: StrategyStats(name) for name in strategies}
    matches: list[Match] = []
    deadline = Deadline(rounds=rounds)
    for sc in scenarios:
        pa, pb = sc.profiles
        analysis: OutcomeAnalysis | None
        try:
            analysis = OutcomeAnalysis.of(sc.domain, pa, pb, (pa.reservation, pb.reservation))
        except ValueError:
            analysis = None
        swapped_analysis = None
        if analysis is not None:
            swapped_analysis = OutcomeAnalysis.from_points(
                [(b, a) for a, b in analysis.points], (pb.reservation, pa.reservation)
            )
        for a_name, make_a in strategies.items():
            for b_name, make_b in strategies.items():
                if a_name == b_name and not self_play:
                    continue
                for swapped in (False, True):
                    prefs = (pb, pa) if swapped else (pa, pb)
                    result = simulate(
                        sc.domain,
                        make_a(),
                        prefs[0],
                        make_b(),
                        prefs[1],
                        deadline=deadline,
                        seed=seed,
                        analysis=swapped_analysis if swapped else analysis,
                        metrics=False,
                        wire=False,
                        strict=False,
                    )
                    match = Match(sc.name, a_name, b_name, swapped, result)
                    matches.append(match)
                    _account(stats[a_name], result, result.utility_a)
                    _account(stats[b_name], result, result.utility_b)
                    if on_match is not None:
                        on_match(match)
    return TournamentResult(matches, stats, rounds, [s.name for s in scenarios])


def _account(stat: StrategyStats, result: SimulationResult, own: float) -> None:
    stat.sessions += 1
    stat.agreements += int(result.agreed)
    stat.own_utility.append(own)
    stat.welfare.append(result.welfare)
    if result.nash_distance is not None:
        stat.nash_distance.append(result.nash_distance)
    if result.pareto_distance is not None:
        stat.pareto_distance.append(result.pareto_distance)


def render_table(result: TournamentResult, title: str | None = None) -> Table:
    """The per-strategy table, best mean own utility first."""
    table = Table(
        title=title
        or f"{len(result.scenarios)} ANAC domains, {result.rounds} rounds, "
        f"{len(result.matches)} sessions",
    )
    table.add_column("strategy", no_wrap=True)
    for name in ("n", "agreed", "own u", "Nash d", "Pareto d", "welfare"):
        table.add_column(name, justify="right", no_wrap=True)
    table.caption = (
        "n sessions · agreed: agreement rate · own u: mean own utility · "
        "Nash d / Pareto d: mean distance to the Nash point / Pareto frontier · "
        "welfare: mean sum of utilities"
    )
    ordered = sorted(result.stats.values(), key=lambda s: -s.mean(s.own_utility))
    for s in ordered:
        table.add_row(
            s.name,
            str(s.sessions),
            f"{s.agreement_rate:.0%}",
            f"{s.mean(s.own_utility):.3f}",
            f"{s.mean(s.nash_distance):.3f}",
            f"{s.mean(s.pareto_distance):.3f}",
            f"{s.mean(s.welfare):.3f}",
        )
    return table


def _parse_strategies(spec: str | None) -> dict[str, Callable[[], Strategy]]:
    if not spec:
        return dict(STRATEGIES)
    chosen: dict[str, Callable[[], Strategy]] = {}
    for name in (n.strip() for n in spec.split(",")):
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
        chosen[name] = STRATEGIES[name]
    if len(chosen) < 2:
        raise ValueError("a tournament needs at least two strategies")
    return chosen


def _filter(scenarios: Iterable[Scenario], names: str | None) -> list[Scenario]:
    if not names:
        return list(scenarios)
    wanted = {n.strip().lower() for n in names.split(",")}
    return [s for s in scenarios if s.name.lower() in wanted]


def main(argv: list[str] | None = None) -> int:
    """``kluis agents tournament``: run the round-robin and print the table."""
    parser = argparse.ArgumentParser(
        prog="kluis agents tournament",
        description="Run every strategy against every other on the ANAC domains.",
    )
    parser.add_argument(
        "--domains",
        type=Path,
        default=None,
        help="folder of ANAC scenarios (default: ../shared/scenarios/anac)",
    )
    parser.add_argument("--only", default=None, help="comma-separated scenario names to play")
    parser.add_argument("--rounds", type=int, default=200, help="rounds per session (default 200)")
    parser.add_argument(
        "--strategies",
        default=None,
        help=f"comma-separated, from: {', '.join(STRATEGIES)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--self-play", action="store_true", help="also play each against itself")
    args = parser.parse_args(argv)

    console = Console()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        strategies = _parse_strategies(args.strategies)
    except ValueError as exc:
        parser.error(str(exc))
    root = args.domains or default_domains_dir()
    if not root.is_dir():
        console.print(f"[red]no scenario folder at {root}[/red]")
        return 2
    scenarios = _filter(load_scenarios(root), args.only)
    if not scenarios:
        console.print(f"[red]no scenarios (a domain file and two profiles) under {root}[/red]")
        return 2
    result = run_tournament(
        scenarios, strategies, rounds=args.rounds, seed=args.seed, self_play=args.self_play
    )
    console.print(render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
