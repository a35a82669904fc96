"""Tournaments on negotiation domains, and the ``kluis agents tournament`` command.

By default it plays the domains kluis ships (:mod:`agents.domains`: data for a
discount, a phone contract, delivery terms, an insurance quote), so it runs from
a wheel. ``--scenarios DIR`` plays a folder of ANAC/GENIUS scenarios instead
(:mod:`agents.anac`; they are AGPL-licensed and never ship with kluis).

Two formats:

* **against the pool** (the default view, ``--against pool``): every kluis
  strategy — and any of your own, ``--strategy mymod:MyStrategy`` — meets every
  agent of :mod:`agents.pool` (classic negotiators from outside the kluis
  family). With ``--reference`` the pool's agents also play the pool (never
  themselves), so a kluis row can be compared with the best outsider's.
* **self-play** (``--against self``): every strategy against every other
  strategy of the field (``--self-play``: and against itself). This is
  what the agents' earlier tables reported; it flatters strategies that share
  assumptions, so it is kept as an option.

Every pairing is played in both roles (initiator and responder) and with both
profiles of each scenario, so no strategy profits from the side of the table it
sits on. Per strategy the table reports:

* **agreed** — the share of its sessions that ended in a deal;
* **own u** — the mean of its own utility (reservation value when no deal);
* **Nash d** — mean distance of the outcome to the Nash point (lower is
  fairer and more efficient); **Pareto d** likewise to the frontier;
* **welfare** — the mean sum of both utilities.

Then, per opponent and per domain, each kluis strategy's agreement rate and own
utility (:mod:`agents.tournament_tables`).

Run it with ``python -m agents.tournament`` (or ``kluis agents tournament``)::

    python -m agents.tournament --rounds 200 --strategies default,boulware --reference
"""

from __future__ import annotations

import argparse
import statistics
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from ._errors import StrategyLoadError, UsageError
from .anac import AnacError, Scenario, load_scenarios
from .default_strategy import DefaultStrategy
from .domains import DomainFileError, shipped_scenarios
from .metrics import OutcomeAnalysis
from .pool import POOL
from .simulator import SimulationResult, simulate
from .strategy import Boulware, Conceder, Linear, Strategy, TitForTat
from .strategy_loader import load_strategy
from .tournament_tables import render_breakdown, render_table
from .utility import Deadline

__all__ = [
    "STRATEGIES",
    "Match",
    "StrategyStats",
    "TournamentResult",
    "default_domains_dir",
    "main",
    "render_breakdown",
    "render_table",
    "run_tournament",
]

#: kluis's own strategies, by the name the command line uses.
STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "default": DefaultStrategy,
    "boulware": Boulware,
    "linear": Linear,
    "conceder": Conceder,
    "tit-for-tat": TitForTat,
}

Factory = Callable[[], Strategy]


def default_domains_dir() -> Path:
    """``../shared/scenarios/anac`` relative to the repository root: where a development
    checkout keeps the ANAC scenarios (benchmarks and tests use them when present)."""
    repo = Path(__file__).resolve().parent.parent
    return (repo.parent / "shared" / "scenarios" / "anac").resolve()


@dataclass(frozen=True)
class Match:
    scenario: str
    initiator: str
    responder: str
    swapped_profiles: bool
    result: SimulationResult

    def own_utility(self, name: str) -> float:
        """The utility ``name`` got in this match (it must be one of the two)."""
        return self.result.utility_a if name == self.initiator else self.result.utility_b

    def other(self, name: str) -> str:
        return self.responder if name == self.initiator else self.initiator


@dataclass
class StrategyStats:
    name: str
    family: str = "kluis"
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
    against: str = "self"  # "self" or "pool"
    opponents: list[str] = field(default_factory=list)

    def matches_of(self, name: str) -> list[Match]:
        return [m for m in self.matches if name in (m.initiator, m.responder)]


def _analyses(sc: Scenario) -> tuple[OutcomeAnalysis | None, OutcomeAnalysis | None]:
    pa, pb = sc.profiles
    try:
        analysis = OutcomeAnalysis.of(sc.domain, pa, pb, (pa.reservation, pb.reservation))
    except ValueError:
        return None, None
    swapped = OutcomeAnalysis.from_points(
        [(b, a) for a, b in analysis.points], (pb.reservation, pa.reservation)
    )
    return analysis, swapped


def run_tournament(
    scenarios: Sequence[Scenario],
    strategies: Mapping[str, Factory],
    *,
    opponents: Mapping[str, Factory] | None = None,
    rounds: int = 200,
    seed: int = 0,
    self_play: bool = False,
    families: Mapping[str, str] | None = None,
    on_match: Callable[[Match], None] | None = None,
) -> TournamentResult:
    """Play the pairings on every scenario, in both roles, with both profile orders.

    Without ``opponents``: every ordered pair of ``strategies`` (self-play format).
    With ``opponents``: each strategy against each opponent, skipping a strategy
    and an opponent of the same name (a pool agent does not play itself). Only
    ``strategies`` are scored; ``families`` labels them (default ``"kluis"``).
    """
    fam = families or {}
    stats = {name: StrategyStats(name, fam.get(name, "kluis")) for name in strategies}
    matches: list[Match] = []
    deadline = Deadline(rounds=rounds)
    # (initiator, its factory, responder, its factory, score the initiator, score the
    # responder, seed key). Against the pool the seed key names the opponent and its
    # seat, not the strategy: every strategy meets the same random draws.
    pairs: list[tuple[str, Factory, str, Factory, bool, bool, str]] = []
    if opponents is None:
        for a, make_a in strategies.items():
            for b, make_b in strategies.items():
                if a != b or self_play:
                    pairs.append((a, make_a, b, make_b, True, True, f"{a}>{b}"))
    else:
        for a, make_a in strategies.items():
            for b, make_b in opponents.items():
                if a != b:
                    pairs.append((a, make_a, b, make_b, True, False, f"vs>{b}"))
                    pairs.append((b, make_b, a, make_a, False, True, f"{b}>vs"))
    for sc in scenarios:
        analysis, swapped_analysis = _analyses(sc)
        pa, pb = sc.profiles
        for a_name, make_a, b_name, make_b, score_a, score_b, key in pairs:
            for swapped in (False, True):
                prefs = (pb, pa) if swapped else (pa, pb)
                result = simulate(
                    sc.domain,
                    make_a(),
                    prefs[0],
                    make_b(),
                    prefs[1],
                    deadline=deadline,
                    seed=_match_seed(seed, sc.name, key, swapped),
                    analysis=swapped_analysis if swapped else analysis,
                    metrics=False,
                    wire=False,
                    strict=False,
                )
                match = Match(sc.name, a_name, b_name, swapped, result)
                matches.append(match)
                if score_a:
                    _account(stats[a_name], result, result.utility_a)
                if score_b:
                    _account(stats[b_name], result, result.utility_b)
                if on_match is not None:
                    on_match(match)
    return TournamentResult(
        matches,
        stats,
        rounds,
        [s.name for s in scenarios],
        "self" if opponents is None else "pool",
        list(opponents or strategies),
    )


def _match_seed(seed: int, *parts: object) -> int:
    """One seed per match, derived from the tournament's: a randomised agent does not
    replay one and the same game in every match, and a rerun is identical."""
    return zlib.crc32("|".join(map(str, (seed, *parts))).encode())


def _account(stat: StrategyStats, result: SimulationResult, own: float) -> None:
    stat.sessions += 1
    stat.agreements += int(result.agreed)
    stat.own_utility.append(own)
    stat.welfare.append(result.welfare)
    if result.nash_distance is not None:
        stat.nash_distance.append(result.nash_distance)
    if result.pareto_distance is not None:
        stat.pareto_distance.append(result.pareto_distance)


# ------------------------------------------------------------------ command line


def _parse_strategies(
    spec: str | None, extra: Sequence[str]
) -> tuple[dict[str, Factory], dict[str, str]]:
    """The chosen kluis strategies plus the developer's own, and each one's family."""
    chosen: dict[str, Factory] = {}
    families: dict[str, str] = {}
    names = [n.strip() for n in spec.split(",") if n.strip()] if spec else list(STRATEGIES)
    for name in names:
        if name not in STRATEGIES:
            raise UsageError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
        chosen[name] = STRATEGIES[name]
        families[name] = "kluis"
    for item in extra:
        try:
            name, factory = load_strategy(item)
        except StrategyLoadError as exc:
            raise UsageError(str(exc)) from exc
        if name in chosen or name in POOL:
            raise UsageError(f"strategy name {name!r} is taken; rename your class")
        chosen[name] = factory
        families[name] = "yours"
    return chosen, families


def _filter(scenarios: Iterable[Scenario], names: str | None) -> list[Scenario]:
    if not names:
        return list(scenarios)
    wanted = {n.strip().lower() for n in names.split(",")}
    return [s for s in scenarios if s.name.lower() in wanted]


def _load(root: Path | None) -> list[Scenario]:
    """The shipped domains, or the ANAC scenarios under ``root``."""
    if root is None:
        try:
            return shipped_scenarios()
        except DomainFileError as exc:  # a broken install; say which file
            raise UsageError(exc.message) from exc
    if not root.is_dir():
        raise UsageError(f"no scenario folder at {root}")
    try:
        return load_scenarios(root)
    except AnacError as exc:
        raise UsageError(exc.message) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kluis agents tournament",
        description="Play kluis's strategies (and yours) against a pool of classic "
        "negotiators, on the domains kluis ships or on a folder of ANAC scenarios.",
    )
    parser.add_argument(
        "--scenarios",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of ANAC/GENIUS scenarios (XML) to play instead of the shipped domains",
    )
    parser.add_argument("--only", default=None, help="comma-separated scenario names to play")
    parser.add_argument("--rounds", type=int, default=200, help="rounds per session (default 200)")
    parser.add_argument(
        "--strategies",
        default=None,
        help=f"comma-separated kluis strategies, from: {', '.join(STRATEGIES)} (default: all)",
    )
    parser.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="add your own strategy (repeatable), e.g. --strategy mymod:MyStrategy",
    )
    parser.add_argument(
        "--against",
        choices=("pool", "self"),
        default="pool",
        help="pool: play the classic negotiators of agents.pool (default); "
        "self: every strategy against every other",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="with --against pool: also score the pool's agents against the pool",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--self-play", action="store_true", help="with --against self: also play each itself"
    )
    parser.add_argument("--no-breakdown", action="store_true", help="only the summary table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``kluis agents tournament``: run the tournament and print the tables."""
    args = _parser().parse_args(argv)
    console = Console(width=max(Console().width, 120))  # the breakdowns are wide
    try:
        if args.rounds < 1:
            raise UsageError("--rounds must be at least 1")
        strategies, families = _parse_strategies(args.strategies, args.strategy)
        if args.against == "self" and len(strategies) + int(args.self_play) < 2:
            raise UsageError("self-play needs at least two strategies (or --self-play)")
        available = _load(args.scenarios)
        scenarios = _filter(available, args.only)
        if available and not scenarios:
            names = ", ".join(s.name for s in available)
            raise UsageError(f"no scenario named {args.only}; choose from {names}")
        if not scenarios:
            where = "the shipped domains" if args.scenarios is None else str(args.scenarios)
            raise UsageError(f"no scenarios (a domain file and two profiles) in {where}")
    except UsageError as exc:
        print(f"kluis agents tournament: error: {exc}", file=sys.stderr)  # one line, no wrap
        return 2
    opponents = None
    if args.against == "pool":
        opponents = dict(POOL)
        if args.reference:
            strategies = {**strategies, **POOL}
            families.update(dict.fromkeys(POOL, "pool"))
    result = run_tournament(
        scenarios,
        strategies,
        opponents=opponents,
        rounds=args.rounds,
        seed=args.seed,
        self_play=args.self_play,
        families=families,
    )
    console.print(render_table(result))
    if not args.no_breakdown:
        for table in render_breakdown(result):
            console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
