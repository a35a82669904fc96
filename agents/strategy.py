"""The strategy API, and the strategies kluis ships.

A strategy is plain Python with three methods (:class:`Strategy`)::

    class MyStrategy:
        def start(self, ctx: NegotiationContext) -> None: ...      # once, before the first move
        def propose(self, state: SessionView) -> Bid | End: ...    # a bid on an empty table
        def respond(self, state: SessionView, offer: Bid) -> Response: ...
            # Accept() | Counter(bid) | Refuse() | End(reason)

It never sees the network, a clock or the other side's utility: it gets a
:class:`NegotiationContext` (domain, own preferences, deadline, side, a seeded
RNG) and, at each move, a read-only :class:`SessionView` (normalised time, the
bids so far). The same object therefore runs in the local simulator and, later,
over libp2p: the session state machine (:mod:`agents.session`) does the rest.

Rules a strategy does **not** need to enforce, because others do:

* legality of moves (turn order, deadline) — the session state machine;
* the owner's limits (price, fields, terms) — :class:`agents.mandate.MandatedAgent`
  wraps any strategy, so a buggy or hostile one cannot exceed the mandate.

Shipped strategies
------------------
* :class:`TimeDependent` — the Faratin, Sierra & Jennings (1998) family: the
  target utility falls from the best outcome to the reservation value as
  ``1 - t^(1/e)``. ``e < 1`` is **Boulware** (holds out, concedes at the end),
  ``e = 1`` **Linear**, ``e > 1`` **Conceder** (gives ground early).
* :class:`TitForTat` — relative tit-for-tat (Faratin et al.): concede as much,
  in own utility, as the opponent conceded with its last move; never more.
* :class:`~agents.default_strategy.DefaultStrategy` — the default, in a module
  of its own. See its docstring for the reasoning.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeAlias, runtime_checkable

from .domain import Bid, Domain
from .utility import Deadline, OutcomeSpace, Preferences

__all__ = [
    "Accept",
    "BaseStrategy",
    "Boulware",
    "Conceder",
    "Counter",
    "End",
    "Linear",
    "NegotiationContext",
    "Refuse",
    "Response",
    "SessionView",
    "Side",
    "Strategy",
    "TimeDependent",
    "TitForTat",
]


class Side(StrEnum):
    """Which end of a session: the initiator makes the first offer."""

    INITIATOR = "initiator"
    RESPONDER = "responder"

    @property
    def other(self) -> Side:
        return Side.RESPONDER if self is Side.INITIATOR else Side.INITIATOR


@dataclass(frozen=True, eq=False)
class NegotiationContext:
    """What a strategy knows when a session starts.

    ``role`` is a free label for the strategy's own use (``"customer"``,
    ``"business"``); ``rng`` is the only randomness a strategy should use, so a
    seeded simulation is reproducible.
    """

    domain: Domain
    preferences: Preferences
    deadline: Deadline
    side: Side
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    role: str = ""

    @property
    def reservation(self) -> float:
        return self.preferences.reservation

    def utility(self, bid: Bid) -> float:
        return self.preferences.utility(bid)


@dataclass(frozen=True)
class SessionView:
    """A read-only snapshot of the session, from this side's point of view.

    ``turn`` counts the moves made so far (it is the number the next move will
    carry); ``progress`` is normalised time in ``[0, 1]`` (rounds or clock,
    whichever is further); ``moves_left`` counts the moves still allowed,
    including this one, when the deadline is in rounds (``None`` otherwise). When
    ``moves_left == 1`` a counter-offer can no longer be accepted: it is the
    last chance to accept.
    """

    side: Side
    turn: int
    progress: float
    my_bids: tuple[Bid, ...] = ()
    their_bids: tuple[Bid, ...] = ()
    moves_left: int | None = None

    @property
    def round(self) -> int:
        return self.turn // 2

    @property
    def last_offer(self) -> Bid | None:
        return self.their_bids[-1] if self.their_bids else None


@dataclass(frozen=True)
class Accept:
    """Accept the offer on the table: it becomes the agreement."""


@dataclass(frozen=True)
class Counter:
    """Refuse the offer on the table and put ``bid`` on it instead (what other
    frameworks call "reject" followed by a new offer)."""

    bid: Bid


@dataclass(frozen=True)
class Refuse:
    """Refuse the offer on the table without a counter-offer: its author must bid again.

    The negotiation goes on (the move costs a turn like any other). Use it when
    no bid of ours is worth revealing yet, or to make the other side move first.
    """


@dataclass(frozen=True)
class End:
    """Walk away: end the negotiation without agreement. ``reason`` is free text for the peer.

    Formerly ``Reject``; renamed because every other negotiation framework uses
    "reject" for "refuse and counter" (that is :class:`Counter`, or :class:`Refuse`).
    """

    reason: str = ""


Response: TypeAlias = Accept | Counter | Refuse | End


def __getattr__(name: str) -> object:
    # The default strategy and the opponent model live in modules of their own (they
    # build on BaseStrategy, defined here); importing them from here still works.
    if name == "DefaultStrategy":
        from .default_strategy import DefaultStrategy

        return DefaultStrategy
    if name == "FrequencyModel":
        from .opponent_model import FrequencyModel

        return FrequencyModel
    # No alias for the old name: it meant "walk away" here and "refuse" everywhere else.
    if name == "Reject":
        raise ImportError(RENAMED_REJECT)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The error for code that still uses the old name.
RENAMED_REJECT = (
    "Reject was renamed: return End(reason) to walk away, Counter(bid) to refuse and "
    "counter, Refuse() to refuse without a counter-offer (see docs/agents.md)"
)


@runtime_checkable
class Strategy(Protocol):
    """The strategy API. See the module docstring."""

    def start(self, ctx: NegotiationContext) -> None: ...

    def propose(self, state: SessionView) -> Bid | End: ...

    def respond(self, state: SessionView, offer: Bid) -> Response: ...


class BaseStrategy:
    """Shared plumbing: keeps the context and this side's sorted :class:`OutcomeSpace`.

    Subclasses implement :meth:`target` (the utility to aim for at time ``t``)
    or override :meth:`propose`/:meth:`respond` outright. The default
    :meth:`respond` is AC_next: accept when the offer is worth at least what we
    would propose next.
    """

    name = "base"

    def __init__(self) -> None:
        self.ctx: NegotiationContext | None = None
        self._space: OutcomeSpace | None = None

    # -- plumbing
    def start(self, ctx: NegotiationContext) -> None:
        self.ctx = ctx
        self._space = OutcomeSpace.of(ctx.domain, ctx.preferences.utility)

    @property
    def context(self) -> NegotiationContext:
        if self.ctx is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        return self.ctx

    @property
    def space(self) -> OutcomeSpace:
        if self._space is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        return self._space

    def u(self, bid: Bid) -> float:
        """Own utility, from the outcome space's precomputed table when possible."""
        return self.space.utility_of(bid)

    @property
    def floor(self) -> float:
        """The lowest utility this side will aim for: reservation, or the worst bid."""
        return max(self.context.reservation, self.space.min_utility)

    # -- behaviour
    def target(self, state: SessionView) -> float:
        return self.space.max_utility

    def propose(self, state: SessionView) -> Bid | End:
        return self.space.closest(self.target(state))

    def respond(self, state: SessionView, offer: Bid) -> Response:
        mine = self.propose(state)
        if isinstance(mine, End):
            return mine
        value = self.u(offer)
        if value >= self.u(mine) and value >= self.context.reservation:
            return Accept()
        return Counter(mine)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TimeDependent(BaseStrategy):
    """Faratin et al.'s time-dependent tactic.

    ``target(t) = Pmin + (Pmax - Pmin) · (1 - F(t))`` with
    ``F(t) = k + (1 - k) · t^(1/e)``: ``Pmax`` is the best outcome, ``Pmin`` the
    reservation value (or the worst outcome if that is higher), ``k`` the share
    conceded at once. The bid proposed is the one whose utility is the smallest
    still at or above the target; acceptance is AC_next.

    ``e`` is the whole personality: ``e = 0.2`` (**Boulware**) holds near the
    top until late, then drops; ``e = 1`` (**Linear**) concedes at a constant
    rate; ``e = 2`` (**Conceder**) gives most ground early. ``e = 0`` never
    concedes (a hardliner).
    """

    def __init__(self, e: float = 1.0, k: float = 0.0) -> None:
        super().__init__()
        if e < 0 or not 0.0 <= k <= 1.0:
            raise ValueError("TimeDependent needs e >= 0 and 0 <= k <= 1")
        self.e = e
        self.k = k
        self.name = f"time-dependent(e={e:g})"

    def concession(self, t: float) -> float:
        """``F(t)``: the share of the range between Pmax and Pmin given up at time ``t``."""
        if self.e == 0:
            return self.k
        t = min(1.0, max(0.0, t))
        return self.k + (1.0 - self.k) * t ** (1.0 / self.e)

    def target(self, state: SessionView) -> float:
        top, bottom = self.space.max_utility, self.floor
        return bottom + (top - bottom) * (1.0 - self.concession(state.progress))

    def __repr__(self) -> str:
        return f"TimeDependent(e={self.e:g})"


def Boulware(e: float = 0.2) -> TimeDependent:
    """A time-dependent strategy that holds out and concedes late (``e < 1``)."""
    s = TimeDependent(e)
    s.name = "boulware"
    return s


def Linear() -> TimeDependent:
    """A time-dependent strategy that concedes at a constant rate (``e = 1``)."""
    s = TimeDependent(1.0)
    s.name = "linear"
    return s


def Conceder(e: float = 2.0) -> TimeDependent:
    """A time-dependent strategy that concedes early (``e > 1``)."""
    s = TimeDependent(e)
    s.name = "conceder"
    return s


def _similarity(a: Bid, b: Bid) -> int:
    return sum(1 for k in a if a[k] == b.get(k))


class TitForTat(BaseStrategy):
    """Relative tit-for-tat, measured in own utility.

    It opens with its best bid. After each opponent move it moves its own target
    by exactly the opponent's last concession as this side values it: if their
    new offer is worth ``Δ`` more to us than their previous one, our target
    drops by ``Δ``; if they backtrack, so do we (never above the best outcome,
    never below the reservation value). ``gift`` is a small unconditional
    concession per move that keeps two tit-for-tat agents from deadlocking.
    Among bids at the target it picks the one most similar to the opponent's
    last offer, which concedes on the issues they visibly care about.
    """

    name = "tit-for-tat"

    def __init__(self, gift: float = 0.002) -> None:
        super().__init__()
        self.gift = gift
        self._target: float | None = None
        self._seen = 0

    def start(self, ctx: NegotiationContext) -> None:
        super().start(ctx)
        self._target = self.space.max_utility
        self._seen = 0

    def target(self, state: SessionView) -> float:
        assert self._target is not None
        theirs = state.their_bids
        if len(theirs) > self._seen:
            if self._seen >= 1:
                prev = self.u(theirs[self._seen - 1])
                for bid in theirs[self._seen :]:
                    now = self.u(bid)
                    self._target -= now - prev
                    prev = now
                self._target -= self.gift
            self._seen = len(theirs)
        self._target = min(self.space.max_utility, max(self.floor, self._target))
        return self._target

    def propose(self, state: SessionView) -> Bid:
        target = self.target(state)
        window = self.space.window(target, target + 0.02)
        last = state.last_offer
        if not window or last is None:
            return self.space.closest(target)
        pick = _stride(window, 300)
        return max(pick, key=lambda b: (_similarity(b, last), self.u(b)))


def _stride(items: Sequence[Bid], limit: int) -> Sequence[Bid]:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
