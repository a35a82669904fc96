"""Negotiation domains: the issues on the table and the bids that settle them.

A **domain** is an ordered tuple of **issues**. A **bid** (an offer's terms) picks
one value for every issue. Five kinds of issue cover what kluis negotiates:

=====================  ==============================  ===========================
issue                  a value is                      on the wire
=====================  ==============================  ===========================
:class:`NumericIssue`  an ``int`` or a ``Decimal`` on  a JSON integer: the value
                       a ``step`` grid in ``[low,      scaled by ``10**places``
                       high]``, or one of explicit     (``Decimal("19.99")`` with
                       ``points`` (months 1, 12, 24)   2 places → ``1999``)
:class:`BooleanIssue`  ``False`` or ``True``           a JSON boolean
:class:`OrdinalIssue`  one of ordered levels           the level's string
                       (``"1GB" < "5GB" < "20GB"``)
:class:`CategoricalIssue` one of unordered labels      the label's string
:class:`FieldsIssue`   a set of dotted profile field   a sorted list of strings
                       paths the customer shares
                       (``contact.email``)
=====================  ==============================  ===========================

Nothing here is a float, so a bid has exactly one canonical JSON encoding and
can be signed (:mod:`protocol.canonical`). Decimals travel as scaled integers
rather than strings so that money stays what the wire has always carried:
integer cents (a price in euros with 2 places is its cents). Utilities (floats) live in
:mod:`agents.utility` and never go on the wire.

Every issue kind is finite, so a domain can enumerate its outcome space
(:meth:`Domain.outcomes`), up to a cap: a fields issue over ``n`` paths alone has
``2**n`` outcomes, and the cap keeps a strategy from trying to list them all.
"""

from __future__ import annotations

import abc
import itertools
import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, TypeAlias

from ._errors import DomainError, InvalidBid

__all__ = [
    "DEFAULT_OUTCOME_CAP",
    "Bid",
    "BooleanIssue",
    "CategoricalIssue",
    "Domain",
    "FieldsIssue",
    "Issue",
    "IssueValue",
    "NumericIssue",
    "OrdinalIssue",
    "WireBid",
    "WireValue",
    "price_cents",
]

#: Largest outcome space :meth:`Domain.outcomes` lists by default.
DEFAULT_OUTCOME_CAP = 200_000
#: Issues in one domain (and so keys in one bid on the wire).
MAX_ISSUES = 64
#: Values of one ordinal/categorical issue, paths of one fields issue.
MAX_VALUES = 1024
#: Characters of an issue name or a label.
MAX_NAME = 128
#: Largest integer on the wire (the JavaScript-safe range, as in protocol.limits).
MAX_INT = 2**53 - 1

_PATH = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+){0,7}$")

#: Decimal places a numeric issue may have (values are scaled by 10**places on the wire).
MAX_PLACES = 6
#: Explicit points of one numeric issue.
MAX_POINTS = 1024

#: A number in a numeric issue: an int, or a Decimal (never a float).
Number: TypeAlias = int | Decimal
#: One issue's value in Python: a number, a bool, a label, or a frozenset of field paths.
IssueValue: TypeAlias = int | Decimal | bool | str | frozenset[str]
#: One issue's value on the wire: an int, a bool, a label, or a sorted list of paths.
WireValue: TypeAlias = int | bool | str | list[str]


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, Decimal) and value.is_finite())


def _places(value: Number) -> int:
    if isinstance(value, int):
        return 0
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def price_cents(value: object) -> int | None:
    """A price issue's value in integer cents: an ``int`` already is (the convention);
    a ``Decimal`` is in currency units (``19.99`` → ``1999``). None if it is neither,
    or has fractions of a cent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        cents = value * 100
        if cents == cents.to_integral_value():
            return int(cents)
    return None


#: A bid on the wire: issue name → wire value.
WireBid: TypeAlias = dict[str, WireValue]


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise DomainError(f"{what} must be a non-empty string of at most {MAX_NAME} characters")
    return name


def _check_labels(labels: Iterable[str], what: str) -> tuple[str, ...]:
    out = tuple(labels)
    if not out:
        raise DomainError(f"{what} needs at least one value")
    if len(out) > MAX_VALUES:
        raise DomainError(f"{what} has more than {MAX_VALUES} values")
    for label in out:
        _check_name(label, f"a value of {what}")
    if len(set(out)) != len(out):
        raise DomainError(f"{what} has duplicate values")
    return out


class Issue(abc.ABC):
    """Base of the issue kinds. Subclasses are frozen dataclasses."""

    kind: ClassVar[str]
    name: str

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """How many values the issue has."""

    @abc.abstractmethod
    def values(self) -> Iterator[IssueValue]:
        """Every value, in the issue's natural order."""

    @abc.abstractmethod
    def contains(self, value: object) -> bool:
        """Whether ``value`` (a Python value) is one of this issue's values."""

    def to_wire(self, value: IssueValue) -> WireValue:
        return value  # type: ignore[return-value]

    def from_wire(self, raw: object) -> IssueValue:
        """A wire value → a Python value; raises :class:`InvalidBid` if it does not fit."""
        if isinstance(raw, bool) or not self.contains(raw):
            raise InvalidBid(f"value out of range for issue {self.name!r}")
        assert isinstance(raw, int | str)
        return raw

    @abc.abstractmethod
    def random_value(self, rng: random.Random) -> IssueValue:
        """A value drawn uniformly (simulators, random strategies)."""


@dataclass(frozen=True)
class NumericIssue(Issue):
    """A number on a grid ``low, low + step, ... <= high``, or one of explicit ``points``.

    Numbers are ``int`` or ``Decimal`` — never ``float``, which has no exact
    decimal value to sign. ``NumericIssue("price", 1500, 4500, step=250,
    unit="cents")`` is money in integer cents; ``NumericIssue("price",
    Decimal("9.99"), Decimal("29.99"), step=Decimal("0.50"), unit="EUR")`` is
    money in euros; :meth:`of_points` makes an irregular set (contract months 1,
    12, 24). With any ``Decimal`` in its definition the issue's values are
    ``Decimal`` (quantised to :attr:`places`), else ``int``. ``unit`` is
    descriptive only.
    """

    kind: ClassVar[str] = "numeric"
    name: str
    low: Number
    high: Number
    step: Number = 1
    unit: str = ""
    points: tuple[Number, ...] = ()
    _places: int = field(default=0, init=False, repr=False, compare=False)
    _decimal: bool = field(default=False, init=False, repr=False, compare=False)
    _quantum: Decimal = field(default=Decimal(1), init=False, repr=False, compare=False)

    @classmethod
    def of_points(cls, name: str, points: Iterable[Number], unit: str = "") -> NumericIssue:
        """An issue whose values are exactly ``points`` (any spacing)."""
        pts = tuple(sorted(set(points)))
        if not pts:
            raise DomainError(f"numeric issue {name!r} needs at least one point")
        return cls(name, pts[0], pts[-1], 1, unit, pts)

    def __post_init__(self) -> None:
        _check_name(self.name, "an issue name")
        numbers = (self.low, self.high, self.step, *self.points)
        for bound in numbers:
            if isinstance(bound, float):
                raise DomainError(
                    f"numeric issue {self.name!r}: use int or Decimal, not float "
                    "(Decimal('19.99') is exact, 19.99 is not)"
                )
            if not _is_number(bound):
                raise DomainError(f"numeric issue {self.name!r} needs int or Decimal bounds")
        if len(self.points) > MAX_POINTS:
            raise DomainError(f"numeric issue {self.name!r} has more than {MAX_POINTS} points")
        places = max(_places(n) for n in numbers)
        if places > MAX_PLACES:
            raise DomainError(f"numeric issue {self.name!r}: at most {MAX_PLACES} decimal places")
        decimal = any(isinstance(n, Decimal) for n in numbers)
        object.__setattr__(self, "_places", places)
        object.__setattr__(self, "_decimal", decimal)
        object.__setattr__(self, "_quantum", Decimal(1).scaleb(-places))
        norm = self._norm
        object.__setattr__(self, "low", norm(self.low))
        object.__setattr__(self, "high", norm(self.high))
        object.__setattr__(self, "step", norm(self.step))
        pts = tuple(sorted({norm(p) for p in self.points}))
        object.__setattr__(self, "points", pts)
        for bound in (self.low, self.high, *pts):
            if abs(bound * 10**places) > MAX_INT:
                raise DomainError(f"numeric issue {self.name!r} is out of the wire's integer range")
        if self.step <= 0 or self.high < self.low:
            raise DomainError(f"numeric issue {self.name!r} needs low <= high and step > 0")
        if pts and (pts[0] != self.low or pts[-1] != self.high):
            raise DomainError(f"numeric issue {self.name!r}: low and high must be the end points")

    def _norm(self, value: Number) -> Number:
        if self._decimal:
            return Decimal(value).quantize(self._quantum)
        return value

    @property
    def places(self) -> int:
        """Decimal places of the values; the wire carries ``value * 10**places``."""
        return self._places

    @property
    def size(self) -> int:
        if self.points:
            return len(self.points)
        return int((self.high - self.low) // self.step) + 1

    def values(self) -> Iterator[Number]:
        if self.points:
            return iter(self.points)
        return (self.low + self.step * k for k in range(self.size))

    def contains(self, value: object) -> bool:
        if not _is_number(value):
            return False
        assert isinstance(value, int | Decimal)
        if isinstance(value, Decimal) and not self._decimal:
            return False
        if self.points:
            return value in self.points
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def to_wire(self, value: IssueValue) -> int:
        assert isinstance(value, int | Decimal) and not isinstance(value, bool)
        return int(value.scaleb(self.places)) if isinstance(value, Decimal) else value

    def from_wire(self, raw: object) -> Number:
        if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > MAX_INT:
            raise InvalidBid(f"issue {self.name!r} takes an integer on the wire")
        value: Number = raw
        if self._decimal:
            value = self._norm(Decimal(raw).scaleb(-self.places))
        if not self.contains(value):
            raise InvalidBid(f"value out of range for issue {self.name!r}")
        return value

    def random_value(self, rng: random.Random) -> Number:
        if self.points:
            return rng.choice(self.points)
        return self.low + self.step * rng.randrange(self.size)


@dataclass(frozen=True)
class BooleanIssue(Issue):
    """Yes or no: ``BooleanIssue("insurance")``. Values are ``False`` and ``True``."""

    kind: ClassVar[str] = "boolean"
    name: str

    def __post_init__(self) -> None:
        _check_name(self.name, "an issue name")

    @property
    def size(self) -> int:
        return 2

    def values(self) -> Iterator[bool]:
        return iter((False, True))

    def contains(self, value: object) -> bool:
        return isinstance(value, bool)

    def to_wire(self, value: IssueValue) -> bool:
        assert isinstance(value, bool)
        return value

    def from_wire(self, raw: object) -> bool:
        if not isinstance(raw, bool):
            raise InvalidBid(f"issue {self.name!r} takes true or false")
        return raw

    def random_value(self, rng: random.Random) -> bool:
        return rng.random() < 0.5


@dataclass(frozen=True)
class OrdinalIssue(Issue):
    """Ordered levels, lowest first: ``OrdinalIssue("data", ("1GB", "5GB", "20GB"))``."""

    kind: ClassVar[str] = "ordinal"
    name: str
    levels: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name(self.name, "an issue name")
        object.__setattr__(self, "levels", _check_labels(self.levels, f"issue {self.name!r}"))

    @property
    def size(self) -> int:
        return len(self.levels)

    def values(self) -> Iterator[str]:
        return iter(self.levels)

    def contains(self, value: object) -> bool:
        return isinstance(value, str) and value in self.levels

    def rank(self, value: str) -> int:
        """0 for the lowest level, ``size - 1`` for the highest."""
        return self.levels.index(value)

    def random_value(self, rng: random.Random) -> str:
        return rng.choice(self.levels)


@dataclass(frozen=True)
class CategoricalIssue(Issue):
    """Unordered labels: ``CategoricalIssue("network", ("4G", "5G"))``."""

    kind: ClassVar[str] = "categorical"
    name: str
    options: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name(self.name, "an issue name")
        object.__setattr__(self, "options", _check_labels(self.options, f"issue {self.name!r}"))

    @property
    def size(self) -> int:
        return len(self.options)

    def values(self) -> Iterator[str]:
        return iter(self.options)

    def contains(self, value: object) -> bool:
        return isinstance(value, str) and value in self.options

    def random_value(self, rng: random.Random) -> str:
        return rng.choice(self.options)


@dataclass(frozen=True)
class FieldsIssue(Issue):
    """Which profile fields the customer shares: a value is a subset of ``fields``.

    ``required`` paths are in every value (a business that cannot work without an
    e-mail address says so in the domain); ``max_shared`` bounds the subset size.
    The issue has ``2**(optional fields)`` values, minus those over ``max_shared``.
    """

    kind: ClassVar[str] = "fields"
    name: str
    fields: tuple[str, ...]
    required: frozenset[str] = field(default_factory=frozenset)
    max_shared: int | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "an issue name")
        paths = tuple(sorted(set(self.fields)))
        if not paths or len(paths) > 64:
            raise DomainError(f"fields issue {self.name!r} needs 1 to 64 field paths")
        for path in paths:
            if not isinstance(path, str) or not _PATH.match(path) or len(path) > MAX_NAME:
                raise DomainError(f"fields issue {self.name!r} holds an invalid field path")
        object.__setattr__(self, "fields", paths)
        object.__setattr__(self, "required", frozenset(self.required))
        if not self.required <= set(paths):
            raise DomainError(f"fields issue {self.name!r}: required paths must be in fields")
        if self.max_shared is not None and self.max_shared < len(self.required):
            raise DomainError(f"fields issue {self.name!r}: max_shared below the required count")

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(p for p in self.fields if p not in self.required)

    @property
    def size(self) -> int:
        n = len(self.optional)
        if self.max_shared is None:
            return 2**n
        room = self.max_shared - len(self.required)
        return sum(math.comb(n, k) for k in range(min(room, n) + 1))

    def values(self) -> Iterator[frozenset[str]]:
        optional = self.optional
        top = len(optional) if self.max_shared is None else self.max_shared - len(self.required)
        for k in range(min(top, len(optional)) + 1):
            for combo in itertools.combinations(optional, k):
                yield self.required | frozenset(combo)

    def contains(self, value: object) -> bool:
        if not isinstance(value, frozenset):
            return False
        if not value <= set(self.fields) or not self.required <= value:
            return False
        return self.max_shared is None or len(value) <= self.max_shared

    def to_wire(self, value: IssueValue) -> list[str]:
        assert isinstance(value, frozenset)
        return sorted(value)

    def from_wire(self, raw: object) -> frozenset[str]:
        if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
            raise InvalidBid(f"issue {self.name!r} takes a list of field paths")
        if list(raw) != sorted(set(raw)):
            raise InvalidBid(f"issue {self.name!r}: field paths must be sorted and unique")
        value = frozenset(raw)
        if not self.contains(value):
            raise InvalidBid(f"value out of range for issue {self.name!r}")
        return value

    def random_value(self, rng: random.Random) -> frozenset[str]:
        chosen = [p for p in self.optional if rng.random() < 0.5]
        if self.max_shared is not None:
            rng.shuffle(chosen)
            chosen = chosen[: self.max_shared - len(self.required)]
        return self.required | frozenset(chosen)


class Bid(Mapping[str, IssueValue]):
    """Immutable, hashable terms: issue name → value. Also known as an offer's terms.

    Sets, lists and tuples of field paths are normalised to ``frozenset``.

    Two bids with the same items are equal whatever order they were built in.
    A bid is not tied to a domain; :meth:`Domain.validate` checks one against it.
    """

    __slots__ = ("_hash", "_items", "_map")

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        pairs = values.items() if isinstance(values, Mapping) else values
        norm: dict[str, IssueValue] = {}
        for key, value in pairs:
            if isinstance(value, set | list | tuple):
                value = frozenset(value)
            norm[key] = value
        self._map = norm
        self._items = tuple(sorted(norm.items(), key=lambda kv: kv[0]))
        self._hash = hash(self._items)

    def __getitem__(self, key: str) -> IssueValue:
        return self._map[key]

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Bid):
            return self._hash == other._hash and self._items == other._items
        return isinstance(other, Mapping) and dict(self._map) == dict(other)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={_show(v)}" for k, v in self._items)
        return f"Bid({inner})"

    def replace(self, **changes: IssueValue) -> Bid:
        """A copy with some issues changed (issue names that are identifiers only)."""
        return Bid({**self._map, **changes})

    def with_value(self, issue: str, value: IssueValue) -> Bid:
        """A copy with one issue changed."""
        return Bid({**self._map, issue: value})


def _show(value: IssueValue) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    return repr(value)


@dataclass(frozen=True)
class Domain:
    """A named, ordered set of issues. Immutable and hashable."""

    name: str
    issues: tuple[Issue, ...]
    _by_name: dict[str, Issue] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "a domain name")
        issues = tuple(self.issues)
        if not issues or len(issues) > MAX_ISSUES:
            raise DomainError(f"a domain has 1 to {MAX_ISSUES} issues")
        names = [i.name for i in issues]
        if len(set(names)) != len(names):
            raise DomainError("issue names in a domain must be unique")
        object.__setattr__(self, "issues", issues)
        object.__setattr__(self, "_by_name", {i.name: i for i in issues})

    @property
    def issue_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.issues)

    def issue(self, name: str) -> Issue:
        try:
            return self._by_name[name]
        except KeyError:
            raise DomainError(f"no issue {name!r} in domain {self.name!r}") from None

    @property
    def size(self) -> int:
        """The number of outcomes (may be astronomically large)."""
        return math.prod(i.size for i in self.issues)

    def outcomes(self, cap: int = DEFAULT_OUTCOME_CAP) -> Iterator[Bid]:
        """Every bid, in lexicographic issue order. Raises :class:`DomainError` over ``cap``."""
        if self.size > cap:
            raise DomainError(f"domain {self.name!r} has {self.size} outcomes, over the cap {cap}")
        names = self.issue_names
        for combo in itertools.product(*(list(i.values()) for i in self.issues)):
            yield Bid(zip(names, combo, strict=True))

    def bid(self, values: Mapping[str, Any] | None = None, /, **kw: Any) -> Bid:
        """Build a bid and validate it: ``domain.bid(price=1999, months=12)``."""
        made = Bid({**(values or {}), **kw})
        self.validate(made)
        return made

    def validate(self, bid: Mapping[str, Any]) -> None:
        """Raise :class:`DomainError` unless ``bid`` sets exactly this domain's issues, in range."""
        if set(bid) != set(self._by_name):
            missing = sorted(set(self.issue_names) - set(bid))
            extra = sorted(set(bid) - set(self.issue_names))
            raise DomainError(
                f"bid does not fit domain {self.name!r}: missing {missing}, unknown {extra}"
            )
        for issue in self.issues:
            if not issue.contains(bid[issue.name]):
                raise DomainError(f"value out of range for issue {issue.name!r}")

    def contains(self, bid: Mapping[str, Any]) -> bool:
        try:
            self.validate(bid)
        except DomainError:
            return False
        return True

    def random_bid(self, rng: random.Random) -> Bid:
        return Bid((i.name, i.random_value(rng)) for i in self.issues)

    # ------------------------------------------------------------------ wire

    def bid_to_wire(self, bid: Bid) -> WireBid:
        """A bid → its wire form: ints, strings and sorted lists of strings only."""
        self.validate(bid)
        return {i.name: i.to_wire(bid[i.name]) for i in self.issues}

    def bid_from_wire(self, raw: Mapping[str, object]) -> Bid:
        """A peer's wire bid → a validated :class:`Bid`. Raises :class:`InvalidBid`."""
        if not isinstance(raw, Mapping) or set(raw) != set(self.issue_names):
            raise InvalidBid(f"bid does not name exactly the issues of domain {self.name!r}")
        return Bid((i.name, i.from_wire(raw[i.name])) for i in self.issues)
