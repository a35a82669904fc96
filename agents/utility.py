"""Preferences: how much a bid is worth to one side, and when the talking must stop.

* A **utility function** is any ``Callable[[Bid], float]`` returning a value in
  ``[0, 1]`` (1 = the best deal for this side). Write one as a plain function,
  or use :class:`LinearAdditiveUtility`, the standard model of the ANAC/GENIUS
  literature: ``u(b) = Σ_i w_i · eval_i(b_i)`` with weights summing to 1 and each
  evaluator mapping an issue's value into ``[0, 1]``.
* :class:`Preferences` adds the **reservation value** (the utility of walking
  away: never agree below it) and the ANAC **discount factor** (kept for
  reference; the simulator reports undiscounted utility).
* :class:`Deadline` bounds a negotiation in rounds, in milliseconds, or both;
  time is read from an injectable :data:`Clock` so tests never sleep.

Utilities are floats, which is fine: they stay on this machine and never go on
the wire. Bids (:mod:`agents.domain`) are all integers and strings.
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, TypeAlias

from ._errors import DomainError
from .domain import (
    DEFAULT_OUTCOME_CAP,
    Bid,
    Domain,
    FieldsIssue,
    IssueValue,
)

__all__ = [
    "Clock",
    "Deadline",
    "DiscreteEvaluator",
    "Evaluator",
    "FieldsEvaluator",
    "LinearAdditiveUtility",
    "NumericEvaluator",
    "OutcomeSpace",
    "Preferences",
    "UtilityFunction",
    "monotonic_ms",
]

#: A utility function: a bid → a float in [0, 1].
UtilityFunction: TypeAlias = Callable[[Bid], float]
#: A clock in integer milliseconds (monotonic). Inject a fake one in tests.
Clock: TypeAlias = Callable[[], int]


def monotonic_ms() -> int:
    """The default clock: :func:`time.monotonic` in whole milliseconds."""
    return int(time.monotonic() * 1000)


class Evaluator(Protocol):
    """Maps one issue's value into ``[0, 1]``."""

    def __call__(self, value: IssueValue) -> float: ...


@dataclass(frozen=True)
class DiscreteEvaluator:
    """A table value → score. Scores are normalised by the largest one (as GENIUS does).

    ``DiscreteEvaluator({"4G": 1, "5G": 3})`` scores 4G at 1/3 and 5G at 1.
    A value missing from the table scores 0.
    """

    scores: Mapping[IssueValue, float]

    def __post_init__(self) -> None:
        top = max(self.scores.values(), default=0.0)
        if top <= 0 or any(s < 0 for s in self.scores.values()):
            raise DomainError("discrete evaluations must be >= 0 with a positive maximum")
        object.__setattr__(self, "scores", {k: float(v) / top for k, v in self.scores.items()})

    def __call__(self, value: IssueValue) -> float:
        return self.scores.get(value, 0.0)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.scores.items(), key=repr)))


@dataclass(frozen=True)
class NumericEvaluator:
    """Linear in a number (int or Decimal) between ``low`` and ``high``, clamped to ``[0, 1]``.

    ``increasing=False`` is the buyer's view of a price: cheaper is better.
    ``at_low``/``at_high`` set the scores at the ends (GENIUS integer issues).
    """

    low: float | Decimal
    high: float | Decimal
    increasing: bool = True
    at_low: float | None = None
    at_high: float | None = None

    def __call__(self, value: IssueValue) -> float:
        assert isinstance(value, int | Decimal) and not isinstance(value, bool)
        lo_u = self.at_low if self.at_low is not None else (0.0 if self.increasing else 1.0)
        hi_u = self.at_high if self.at_high is not None else (1.0 if self.increasing else 0.0)
        if self.high == self.low:
            return max(lo_u, hi_u)
        low = float(self.low)
        frac = (float(value) - low) / (float(self.high) - low)
        return min(1.0, max(0.0, lo_u + (hi_u - lo_u) * frac))


@dataclass(frozen=True)
class FieldsEvaluator:
    """Scores a set of shared field paths by per-path weights.

    The customer's view (``sharing_is_cost=True``): each path costs its weight,
    sharing nothing scores 1, sharing everything scores 0. The business's view
    (``False``): each path is worth its weight, all of them score 1.
    """

    weights: Mapping[str, float]
    sharing_is_cost: bool = True

    def __call__(self, value: IssueValue) -> float:
        assert isinstance(value, frozenset)
        total = sum(self.weights.values())
        if total <= 0:
            return 1.0
        part = sum(self.weights.get(p, 0.0) for p in value) / total
        return 1.0 - part if self.sharing_is_cost else part

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.weights.items())), self.sharing_is_cost))


@dataclass(frozen=True, eq=False)
class LinearAdditiveUtility:
    """``u(b) = Σ w_i · eval_i(b_i)``; weights are normalised to sum to 1.

    Identity-hashed (two equal-looking utilities are still two objects), which
    lets :class:`OutcomeSpace` cache per utility.
    """

    weights: Mapping[str, float]
    evaluators: Mapping[str, Evaluator]

    def __post_init__(self) -> None:
        if set(self.weights) != set(self.evaluators):
            raise DomainError("weights and evaluators must name the same issues")
        if any(w < 0 for w in self.weights.values()):
            raise DomainError("issue weights must be >= 0")
        total = sum(self.weights.values())
        if total <= 0:
            raise DomainError("issue weights must have a positive sum")
        object.__setattr__(self, "weights", {k: v / total for k, v in self.weights.items()})
        object.__setattr__(self, "evaluators", dict(self.evaluators))

    def __call__(self, bid: Bid) -> float:
        return sum(w * self.evaluators[k](bid[k]) for k, w in self.weights.items())

    def best_bid(self, domain: Domain) -> Bid:
        """The bid that maximises this utility, issue by issue (linear additivity)."""
        pairs: list[tuple[str, IssueValue]] = []
        for issue in domain.issues:
            score = self.evaluators[issue.name]
            pairs.append((issue.name, max(_values_for_best(issue), key=score)))
        return Bid(pairs)


def _values_for_best(issue: object) -> Iterable[IssueValue]:
    if isinstance(issue, FieldsIssue) and issue.size > 4096:
        # Too many subsets: the extremes hold the optimum of a monotone evaluator.
        return [issue.required, frozenset(issue.fields)]
    assert hasattr(issue, "values")
    return list(issue.values())


@dataclass(frozen=True, eq=False)
class Preferences:
    """One side's preferences: utility, reservation value, discount factor."""

    utility: UtilityFunction
    reservation: float = 0.0
    discount: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.reservation <= 1.0:
            raise DomainError("the reservation value is a utility in [0, 1]")
        if not 0.0 < self.discount <= 1.0:
            raise DomainError("the discount factor is in (0, 1]")

    def __call__(self, bid: Bid) -> float:
        return self.utility(bid)

    def discounted(self, bid: Bid, progress: float) -> float:
        """ANAC's discounted utility ``u(b) · d^t`` at normalised time ``t``."""
        return self.utility(bid) * self.discount**progress


@dataclass(frozen=True)
class Deadline:
    """A negotiation ends after ``rounds`` rounds, after ``ms`` milliseconds, or both.

    One round is one move by each side. At least one bound is required: an
    unbounded negotiation is a resource leak, not a feature.
    """

    rounds: int | None = None
    ms: int | None = None

    def __post_init__(self) -> None:
        if self.rounds is None and self.ms is None:
            raise DomainError("a deadline needs rounds, ms, or both")
        if self.rounds is not None and self.rounds < 1:
            raise DomainError("a deadline needs at least one round")
        if self.ms is not None and self.ms < 1:
            raise DomainError("a deadline needs at least one millisecond")

    @property
    def max_moves(self) -> int | None:
        """How many moves (turns) fit: two per round."""
        return None if self.rounds is None else 2 * self.rounds

    def progress(self, moves: int, elapsed_ms: int) -> float:
        """Normalised time ``t`` in ``[0, 1]``: the larger of the two fractions used."""
        parts = [0.0]
        if self.max_moves is not None:
            parts.append(moves / self.max_moves)
        if self.ms is not None:
            parts.append(elapsed_ms / self.ms)
        return min(1.0, max(parts))

    def expired(self, moves: int, elapsed_ms: int) -> bool:
        if self.max_moves is not None and moves >= self.max_moves:
            return True
        return self.ms is not None and elapsed_ms >= self.ms


# ----------------------------------------------------------------- outcome space


@dataclass
class OutcomeSpace:
    """A side's candidate bids, sorted by its own utility, best first.

    A finite domain up to ``cap`` outcomes is listed in full. A larger one is
    represented by a seeded random sample plus the utility's best bid (when the
    utility is linear-additive): good enough to steer concession, and bounded.
    Build with :meth:`of`, which caches one space per (domain, utility) object so
    that a tournament does not re-sort 100 000 bids for every session.
    """

    domain: Domain
    utility: UtilityFunction
    bids: list[Bid] = field(default_factory=list)
    utils: list[float] = field(default_factory=list)  # descending, aligned with bids
    complete: bool = True
    _lookup: dict[Bid, float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Precomputed once per space: a strategy's utility lookups are dict hits, not sums.
        self._lookup = dict(zip(self.bids, self.utils, strict=True))

    def utility_of(self, bid: Bid) -> float:
        """``utility(bid)``, from the precomputed table when the bid is in the space.

        A bid outside a sampled space is computed and not stored, so a peer that
        sends many distinct bids cannot grow the table.
        """
        value = self._lookup.get(bid)
        return self.utility(bid) if value is None else value

    @classmethod
    def of(
        cls,
        domain: Domain,
        utility: UtilityFunction,
        *,
        cap: int = DEFAULT_OUTCOME_CAP,
        sample: int = 20_000,
        seed: int = 0,
    ) -> OutcomeSpace:
        key = (domain, cap, sample, seed)
        try:
            per = _SPACE_CACHE.setdefault(utility, {})
        except TypeError:  # not weak-referenceable: no caching
            per = {}
        hit = per.get(key)
        if hit is not None:
            return hit
        if domain.size <= cap:
            pool: Iterable[Bid] = domain.outcomes(cap)
            complete = True
        else:
            rng = random.Random(seed)
            found = {domain.random_bid(rng) for _ in range(sample)}
            if isinstance(utility, LinearAdditiveUtility):
                found.add(utility.best_bid(domain))
            pool = found
            complete = False
        scored = sorted(((utility(b), b) for b in pool), key=lambda ub: (-ub[0], repr(ub[1])))
        space = cls(domain, utility, [b for _, b in scored], [u for u, _ in scored], complete)
        per[key] = space
        return space

    def __len__(self) -> int:
        return len(self.bids)

    @property
    def best(self) -> Bid:
        return self.bids[0]

    @property
    def max_utility(self) -> float:
        return self.utils[0]

    @property
    def min_utility(self) -> float:
        return self.utils[-1]

    def at_least(self, target: float) -> int:
        """How many bids have utility >= ``target`` (they are ``bids[:n]``)."""
        lo, hi = 0, len(self.utils)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.utils[mid] >= target - 1e-12:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def window(self, low: float, high: float) -> Sequence[Bid]:
        """The bids with ``low <= u <= high``."""
        start = self._count_above(high)
        stop = self.at_least(low)
        return self.bids[start:stop]

    def closest(self, target: float) -> Bid:
        """The bid whose utility is the smallest one still >= ``target`` (or the best)."""
        n = self.at_least(target)
        return self.bids[max(0, n - 1)]

    def _count_above(self, high: float) -> int:
        lo, hi = 0, len(self.utils)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.utils[mid] > high + 1e-12:
                lo = mid + 1
            else:
                hi = mid
        return lo


_SPACE_CACHE: weakref.WeakKeyDictionary[object, dict[tuple[object, ...], OutcomeSpace]] = (
    weakref.WeakKeyDictionary()
)
