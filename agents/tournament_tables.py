"""The tournament's tables: the summary per strategy, and the breakdowns per opponent and domain.

A summary row says how a strategy did overall; it hides *where* it loses. The
breakdowns show each scored strategy's agreement rate and mean own utility
against each opponent and on each domain (cells read ``92% 0.75``), which is
where a weakness against one kind of negotiator shows.
"""

from __future__ import annotations

import io
import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the tournament imports this module to print its tables
    from .tournament import Match, TournamentResult

__all__ = ["PrintableTable", "breakdown", "render_breakdown", "render_table"]

#: Columns a table is laid out in when turned into plain text by ``str()``.
TEXT_WIDTH = 120


class PrintableTable(Table):
    """A rich :class:`~rich.table.Table` that ``print()`` and ``str()`` show as text.

    ``Console().print(table)`` still renders it with colour; plain ``print(table)``
    (a notebook, a script, a log) gets the same table without markup rather than
    ``<rich.table.Table object at 0x…>``.
    """

    def __str__(self) -> str:
        out = io.StringIO()
        Console(file=out, width=TEXT_WIDTH, color_system=None, legacy_windows=False).print(self)
        return out.getvalue().rstrip("\n")


def render_table(result: TournamentResult, title: str | None = None) -> PrintableTable:
    """The per-strategy summary, best mean own utility first."""
    what = "against the pool" if result.against == "pool" else "self-play"
    table = PrintableTable(
        title=title
        or f"{len(result.scenarios)} domain{'s' if len(result.scenarios) != 1 else ''}, "
        f"{result.rounds} rounds, {what}, "
        f"{len(result.matches)} sessions",
    )
    table.add_column("strategy", no_wrap=True)
    table.add_column("family", no_wrap=True)
    for name in ("n", "agreed", "own u", "Nash d", "Pareto d", "welfare"):
        table.add_column(name, justify="right", no_wrap=True)
    table.caption = (
        "n sessions · agreed: agreement rate · own u: mean own utility · "
        "Nash d / Pareto d: mean distance to the Nash point / Pareto frontier · "
        "welfare: mean sum of utilities"
    )
    ordered = sorted(
        result.stats.values(), key=lambda s: (s.family != "kluis", -s.mean(s.own_utility))
    )
    for s in ordered:
        table.add_row(
            s.name,
            s.family,
            str(s.sessions),
            f"{s.agreement_rate:.1%}",
            f"{s.mean(s.own_utility):.3f}",
            f"{s.mean(s.nash_distance):.3f}",
            f"{s.mean(s.pareto_distance):.3f}",
            f"{s.mean(s.welfare):.3f}",
        )
    return table


def breakdown(
    result: TournamentResult, key: Callable[[Match, str], str]
) -> dict[str, dict[str, tuple[float, float, int]]]:
    """``{strategy: {group: (agreement rate, mean own utility, n)}}`` for the scored strategies.

    ``key(match, strategy)`` names the group (the opponent, the scenario).
    """
    scored = [s.name for s in result.stats.values() if s.family != "pool"]
    cells: dict[str, dict[str, list[tuple[bool, float]]]] = {
        name: defaultdict(list) for name in scored
    }
    for m in result.matches:
        for name in scored:
            if name not in (m.initiator, m.responder):
                continue
            if result.against == "self" and m.initiator == m.responder:
                continue
            cells[name][key(m, name)].append((m.result.agreed, m.own_utility(name)))
    return {
        name: {
            group: (
                sum(a for a, _ in rows) / len(rows),
                statistics.fmean(u for _, u in rows),
                len(rows),
            )
            for group, rows in groups.items()
        }
        for name, groups in cells.items()
    }


def _grid(
    title: str, first: str, data: dict[str, dict[str, tuple[float, float, int]]]
) -> PrintableTable:
    table = PrintableTable(title=title)
    table.add_column(first, no_wrap=True)
    names = list(data)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    groups: list[str] = []
    for per in data.values():
        groups.extend(g for g in per if g not in groups)
    for group in groups:
        row = [group]
        for name in names:
            cell = data[name].get(group)
            row.append("—" if cell is None else f"{cell[0]:.0%} {cell[1]:.2f}")
        table.add_row(*row)
    table.caption = "each cell: agreement rate, mean own utility"
    return table


def render_breakdown(result: TournamentResult) -> list[PrintableTable]:
    """Per-opponent and per-domain tables of the scored (non-pool) strategies."""
    per_opponent = breakdown(result, lambda m, name: m.other(name))
    per_domain = breakdown(result, lambda m, name: m.scenario)
    return [
        _grid("per opponent", "opponent", per_opponent),
        _grid("per domain", "domain", per_domain),
    ]
