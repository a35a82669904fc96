"""Outcome-quality metrics: Pareto frontier, Nash point, distances, social welfare.

All work on points ``(u_a, u_b)`` in utility space, so they are independent of
how bids look. :class:`OutcomeAnalysis` computes them once for a finite domain
and a pair of utilities; the tournament caches one per (domain, profile pair).

* **Pareto frontier**: the outcomes no other outcome beats for both sides at
  once (ties on one side, strictly better on the other, also dominate).
* **Nash point**: the outcome maximising ``(u_a - r_a) · (u_b - r_b)`` among
  those at or above both reservation values — the Nash bargaining solution.
* **Distances** are Euclidean in utility space; to the frontier it is the
  distance to its nearest point.
* **Social welfare** is ``u_a + u_b``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._errors import DomainError
from .domain import DEFAULT_OUTCOME_CAP, Bid, Domain
from .utility import LinearAdditiveUtility, Preferences, UtilityFunction

__all__ = [
    "OutcomeAnalysis",
    "Point",
    "distance",
    "distance_to_frontier",
    "nash_point",
    "pareto_frontier",
    "social_welfare",
]

Point = tuple[float, float]


def pareto_frontier(points: Iterable[Point]) -> list[Point]:
    """The non-dominated points, sorted by ``u_a`` descending, without duplicates."""
    ordered = sorted(set(points), key=lambda p: (-p[0], -p[1]))
    frontier: list[Point] = []
    best_b = -math.inf
    for p in ordered:
        if p[1] > best_b:
            frontier.append(p)
            best_b = p[1]
    return frontier


def nash_point(points: Iterable[Point], reservation: Point = (0.0, 0.0)) -> Point | None:
    """The point with the largest product of gains over the reservation values, or None."""
    ra, rb = reservation
    best: Point | None = None
    best_product = -1.0
    for p in points:
        if p[0] < ra or p[1] < rb:
            continue
        product = (p[0] - ra) * (p[1] - rb)
        if product > best_product or (
            product == best_product and best is not None and sum(p) > sum(best)
        ):
            best, best_product = p, product
    return best


def distance(p: Point, q: Point) -> float:
    return math.hypot(p[0] - q[0], p[1] - q[1])


def distance_to_frontier(p: Point, frontier: Sequence[Point]) -> float:
    """Distance from ``p`` to the nearest frontier point (0 on the frontier)."""
    return min((distance(p, q) for q in frontier), default=math.inf)


def social_welfare(p: Point) -> float:
    return p[0] + p[1]


@dataclass(frozen=True)
class OutcomeAnalysis:
    """Frontier, Nash point and best welfare of a finite domain for two utilities."""

    points: tuple[Point, ...]
    frontier: tuple[Point, ...]
    nash: Point | None
    reservation: Point
    max_welfare: float

    @classmethod
    def of(
        cls,
        domain: Domain,
        utility_a: UtilityFunction,
        utility_b: UtilityFunction,
        reservation: Point = (0.0, 0.0),
        *,
        cap: int = DEFAULT_OUTCOME_CAP * 3,
    ) -> OutcomeAnalysis:
        """Enumerate the domain (raises :class:`~agents.DomainError` over ``cap``).

        Two linear-additive utilities take a fast path that never builds a bid:
        the achievable points are summed issue by issue, merging equal points.
        """
        la, lb = _linear(utility_a), _linear(utility_b)
        if la is not None and lb is not None:
            if domain.size > cap:
                raise DomainError(f"domain {domain.name!r} is over the analysis cap {cap}")
            pts: set[Point] = {(0.0, 0.0)}
            for issue in domain.issues:
                steps = {
                    (
                        la.weights[issue.name] * la.evaluators[issue.name](v),
                        lb.weights[issue.name] * lb.evaluators[issue.name](v),
                    )
                    for v in issue.values()
                }
                pts = {(pa + ca, pb + cb) for pa, pb in pts for ca, cb in steps}
            return cls.from_points(pts, reservation)
        pts = {(utility_a(b), utility_b(b)) for b in domain.outcomes(cap)}
        return cls.from_points(pts, reservation)

    @classmethod
    def from_points(
        cls, points: Iterable[Point], reservation: Point = (0.0, 0.0)
    ) -> OutcomeAnalysis:
        pts = tuple(set(points))
        return cls(
            points=pts,
            frontier=tuple(pareto_frontier(pts)),
            nash=nash_point(pts, reservation),
            reservation=reservation,
            max_welfare=max((social_welfare(p) for p in pts), default=0.0),
        )

    def pareto_distance(self, p: Point) -> float:
        return distance_to_frontier(p, self.frontier)

    def nash_distance(self, p: Point) -> float:
        return math.inf if self.nash is None else distance(p, self.nash)

    def point_of(
        self, bid: Bid | None, utility_a: UtilityFunction, utility_b: UtilityFunction
    ) -> Point:
        """A bid's point, or the disagreement point (the reservations) for no deal."""
        if bid is None:
            return self.reservation
        return (utility_a(bid), utility_b(bid))


def _linear(u: UtilityFunction) -> LinearAdditiveUtility | None:
    inner = u.utility if isinstance(u, Preferences) else u
    return inner if isinstance(inner, LinearAdditiveUtility) else None
