from __future__ import annotations

import math

import pytest

from agents import (
    Bid,
    CategoricalIssue,
    DiscreteEvaluator,
    Domain,
    LinearAdditiveUtility,
    OutcomeAnalysis,
    distance,
    distance_to_frontier,
    nash_point,
    pareto_frontier,
    social_welfare,
)

POINTS = [(1.0, 0.0), (0.0, 1.0), (0.5, 0.5), (0.4, 0.4), (0.6, 0.5), (0.6, 0.3), (0.6, 0.5)]


def test_pareto_frontier_by_hand() -> None:
    assert pareto_frontier(POINTS) == [(1.0, 0.0), (0.6, 0.5), (0.0, 1.0)]
    # weak dominance: (0.5, 0.5) is beaten by (0.6, 0.5); equal points appear once
    assert pareto_frontier([(0.5, 0.5), (0.5, 0.5)]) == [(0.5, 0.5)]
    assert pareto_frontier([]) == []


def test_nash_point_by_hand() -> None:
    # products: 0, 0, .25, .16, .30, .18 → (0.6, 0.5)
    assert nash_point(POINTS) == (0.6, 0.5)
    # reservations shift the gains: (1,0) is below r_b; (0.6,0.5) → 0.05*0.1; (0.5,0.5) out
    assert nash_point(POINTS, (0.55, 0.4)) == (0.6, 0.5)
    assert nash_point([(0.2, 0.9), (0.9, 0.2)], (0.5, 0.0)) == (0.9, 0.2)
    assert nash_point([(0.1, 0.1)], (0.5, 0.5)) is None


def test_distances_and_welfare() -> None:
    assert distance((0, 0), (3, 4)) == 5
    frontier = pareto_frontier(POINTS)
    assert distance_to_frontier((0.6, 0.5), frontier) == 0
    assert distance_to_frontier((0.5, 0.5), frontier) == pytest.approx(0.1)
    assert distance_to_frontier((0, 0), []) == math.inf
    assert social_welfare((0.25, 0.5)) == 0.75


def _two_issue() -> tuple[Domain, LinearAdditiveUtility, LinearAdditiveUtility]:
    d = Domain("t", (CategoricalIssue("x", ("a", "b")), CategoricalIssue("y", ("a", "b"))))
    ua = LinearAdditiveUtility(
        {"x": 0.75, "y": 0.25},
        {"x": DiscreteEvaluator({"a": 1, "b": 0}), "y": DiscreteEvaluator({"a": 1, "b": 0})},
    )
    ub = LinearAdditiveUtility(
        {"x": 0.25, "y": 0.75},
        {"x": DiscreteEvaluator({"a": 0, "b": 1}), "y": DiscreteEvaluator({"a": 0, "b": 1})},
    )
    return d, ua, ub


def test_outcome_analysis_small_domain() -> None:
    d, ua, ub = _two_issue()
    # outcomes: aa (1, 0), ab (.75, .75), ba (.25, .25), bb (0, 1)
    an = OutcomeAnalysis.of(d, ua, ub)
    assert set(an.points) == {(1.0, 0.0), (0.75, 0.75), (0.25, 0.25), (0.0, 1.0)}
    assert an.frontier == ((1.0, 0.0), (0.75, 0.75), (0.0, 1.0))
    assert an.nash == (0.75, 0.75)
    assert an.max_welfare == 1.5
    assert an.nash_distance((0.25, 0.25)) == pytest.approx(math.hypot(0.5, 0.5))
    assert an.point_of(None, ua, ub) == (0.0, 0.0)
    # the generic path (any callables) agrees with the linear fast path
    slow = OutcomeAnalysis.of(d, lambda b: ua(b), lambda b: ub(b))
    assert set(slow.points) == set(an.points) and slow.nash == an.nash
    assert an.point_of(Bid({"x": "a", "y": "b"}), ua, ub) == (0.75, 0.75)
