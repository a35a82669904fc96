"""Mandates: the owner-signed limits an agent negotiates within, enforced outside the strategy.

A :class:`Mandate` says, for one domain:

* ``may_share`` — which profile fields the agent may offer (for the domain's
  fields issue, named by ``fields_issue``); any bid sharing another field is out;
* ``max_price_cents`` / ``min_price_cents`` — bounds on the price issue
  (``price_issue``): a customer caps what it pays, a business floors what it
  charges (cost + margin);
* ``terms`` — per-issue limits: allowed values, and/or integer bounds;
* ``expires_at_ms`` (wall clock) and ``max_rounds`` — the mandate's deadline;
* ``confirm_above_cents`` — a deal priced above this needs the owner's explicit
  confirmation before the agent commits to it.

It is signed by the owner's identity (Ed25519 over canonical JSON, the key of
the owner's node, see :mod:`protocol.signing`) and verified against the owner's
peer id; any change to any field breaks the signature (:class:`protocol.SignatureError`).

Enforcement: :class:`MandatedAgent`
-----------------------------------
The mandate is enforced **outside** the strategy: :class:`MandatedAgent` wraps
any :class:`~agents.strategy.Strategy` and checks every bid it proposes or
counters with, and every offer it accepts. Those are the only two ways this
side can commit: an agreement is either an offer *we* accepted or a bid *we*
proposed that they accepted. So if every proposal and every acceptance is
inside the mandate, every agreement is.

The wrapped strategy is also *told* about the mandate: the utility in its
context scores every out-of-mandate bid 0, so a well-behaved strategy never
aims there and never meets the guard. That is information, not enforcement:
the guard checks every move regardless, because a strategy may ignore its
utility altogether.

When the strategy tries to step outside:

1. the attempt is **recorded** through the injectable ``audit`` callback (a
   :class:`MandateEvent`; it names issues and reasons, never profile values);
2. the move is **replaced by a safe one**: an acceptance becomes a counter,
   and an out-of-mandate bid becomes this side's last in-mandate bid (or, at
   first, the in-mandate bid the owner's utility likes best) — the negotiation
   goes on, on terms the owner signed;
3. after ``max_violations`` blocked attempts, or when no in-mandate bid exists,
   or when the mandate expires, the agent **ends the negotiation**: a strategy
   that keeps pushing past its limits is broken or hostile, and stalling the
   other side helps nobody. :meth:`MandatedAgent.respond` returns
   :class:`~agents.strategy.End`; :meth:`MandatedAgent.propose` (which must
   return a bid) raises :class:`~agents.MandateViolation`, which the simulator
   and the network runner turn into an ``end`` move.

Replacing rather than ending at the first slip is deliberate: a strategy that
overshoots by one bid (an off-by-one in its concession curve) should not cost
the owner a deal that the same negotiation can still reach within limits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from protocol import (
    Identity,
    LocalProtocolError,
    SignatureError,
    public_key_from_peer_id,
    sign_object,
    verify_object,
)
from protocol.clock import now_ms

from ._errors import MandateViolation
from .domain import MAX_INT, Bid, Domain, price_cents
from .strategy import (
    Accept,
    Counter,
    End,
    NegotiationContext,
    Refuse,
    Response,
    SessionView,
    Strategy,
)
from .utility import OutcomeSpace, Preferences, UtilityFunction

__all__ = ["Mandate", "MandateEvent", "MandatedAgent", "TermLimit"]


def _peer_id(value: str) -> str:
    try:
        public_key_from_peer_id(value)
    except SignatureError as exc:
        raise ValueError("not an Ed25519 peer id") from exc
    return value


_Int = Annotated[StrictInt, Field(ge=-MAX_INT, le=MAX_INT)]
_Cents = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]
_Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]
_Path = Annotated[StrictStr, Field(pattern=r"^[a-z0-9_]+(?:\.[a-z0-9_]+){0,7}$", max_length=128)]


class TermLimit(BaseModel):
    """Limits on one issue: ``allowed`` values, and/or integer bounds ``low``..``high``.

    The bounds are integers (a signed mandate holds no floats) and also bound a
    Decimal issue's values (``high=24`` caps ``Decimal("23.50")`` but not ``24.5``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    allowed: list[_Int | _Name] | None = None
    low: _Int | None = None
    high: _Int | None = None

    def check(self, value: object) -> str | None:
        """Why ``value`` is outside the limit, or None."""
        if self.allowed is not None and value not in self.allowed:
            return "value not allowed"
        if self.low is not None or self.high is not None:
            if not isinstance(value, int | Decimal) or isinstance(value, bool):
                return "value is not a number"
            if self.low is not None and value < self.low:
                return "value below the bound"
            if self.high is not None and value > self.high:
                return "value above the bound"
        return None


class Mandate(BaseModel):
    """The owner-signed limits of one agent. See the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: Literal["mandate"] = "mandate"
    owner: Annotated[StrictStr, AfterValidator(_peer_id)]
    mandate_id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    domain: _Name
    price_issue: _Name | None = None
    max_price_cents: _Cents | None = None
    min_price_cents: _Cents | None = None
    fields_issue: _Name | None = None
    may_share: list[_Path] | None = None
    terms: dict[_Name, TermLimit] = Field(default_factory=dict)
    expires_at_ms: _Cents | None = None
    max_rounds: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    confirm_above_cents: _Cents | None = None
    sig: Annotated[StrictStr, Field(pattern=r"^([0-9a-f]{128})?$")] = ""

    # -- signatures
    def body(self) -> dict[str, Any]:
        """The signed content: every field (defaults included) except ``sig``."""
        data = self.model_dump(mode="json")
        data.pop("sig")
        return data

    def sign(self, identity: Identity) -> Mandate:
        """A copy signed by ``identity``, which must be the owner."""
        if identity.peer_id != self.owner:
            raise LocalProtocolError("a mandate is signed by its owner")
        signed = sign_object(identity, self.body())
        return self.model_copy(update={"sig": signed["sig"]})

    def verify(self, owner: str | None = None) -> None:
        """Raise :class:`protocol.SignatureError` unless the owner signed exactly this.

        Pass ``owner`` (the owner's peer id as the vault knows it) so that a
        mandate signed by somebody else is refused too.
        """
        if owner is not None and owner != self.owner:
            raise SignatureError("signature does not verify")
        verify_object(self.owner, {**self.body(), "sig": self.sig})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mandate:
        return cls.model_validate(data, strict=False)

    # -- checks
    def check_domain(self, domain: Domain) -> None:
        """Raise :class:`MandateViolation` if the mandate does not fit ``domain``."""
        if domain.name != self.domain:
            raise MandateViolation("the mandate is for another domain")
        named = [self.price_issue, self.fields_issue, *self.terms]
        for issue in named:
            if issue is not None and issue not in domain.issue_names:
                raise MandateViolation(f"the mandate names issue {issue!r}, not in the domain")

    def price_of(self, bid: Bid) -> int | None:
        if self.price_issue is None:
            return None
        return price_cents(bid.get(self.price_issue))

    def violations(self, bid: Bid) -> list[str]:
        """Every reason ``bid`` is outside the mandate (empty: it is inside)."""
        out: list[str] = []
        if self.price_issue is not None:
            price = self.price_of(bid)
            if price is None:
                out.append(f"{self.price_issue}: no price in whole cents")
            else:
                if self.max_price_cents is not None and price > self.max_price_cents:
                    out.append(f"{self.price_issue}: above the maximum price")
                if self.min_price_cents is not None and price < self.min_price_cents:
                    out.append(f"{self.price_issue}: below the minimum price")
        if self.fields_issue is not None and self.may_share is not None:
            shared = bid.get(self.fields_issue)
            if not isinstance(shared, frozenset):
                out.append(f"{self.fields_issue}: not a set of fields")
            elif not shared <= set(self.may_share):
                out.append(f"{self.fields_issue}: shares fields outside the mandate")
        for issue, limit in self.terms.items():
            if issue not in bid:
                out.append(f"{issue}: missing")
                continue
            why = limit.check(bid[issue])
            if why:
                out.append(f"{issue}: {why}")
        return out

    def permits(self, bid: Bid) -> bool:
        return not self.violations(bid)

    def needs_confirmation(self, bid: Bid) -> bool:
        price = self.price_of(bid)
        return (
            self.confirm_above_cents is not None
            and price is not None
            and price > self.confirm_above_cents
        )

    def expired(self, now_ms: int, rounds: int) -> bool:
        if self.expires_at_ms is not None and now_ms >= self.expires_at_ms:
            return True
        return self.max_rounds is not None and rounds >= self.max_rounds


@dataclass(frozen=True)
class MandateEvent:
    """One enforcement decision, for the audit log. Holds no profile values.

    ``kind`` is one of ``blocked_proposal``, ``blocked_accept``,
    ``confirmation_refused``, ``confirmed``, ``expired``, ``ended``.
    """

    kind: str
    mandate_id: str
    turn: int
    reasons: tuple[str, ...] = ()
    bid: Bid | None = None


class _Masked:
    """The owner's utility with every out-of-mandate bid scored 0: informs, never enforces."""

    def __init__(self, utility: UtilityFunction, mandate: Mandate) -> None:
        self.utility, self.mandate = utility, mandate

    def __call__(self, bid: Bid) -> float:
        return self.utility(bid) if self.mandate.permits(bid) else 0.0


class MandatedAgent:
    """Wraps any strategy so that it cannot commit beyond ``mandate``. A Strategy itself.

    ``audit`` receives every :class:`MandateEvent`; ``confirm`` is asked (with
    the bid) before committing to a deal above ``confirm_above_cents``, and a
    missing callback means "not confirmed"; ``clock`` is wall-clock ms for
    ``expires_at_ms``; ``owner`` is the peer id the signature must verify
    against (default: the one the mandate names).
    """

    def __init__(
        self,
        strategy: Strategy,
        mandate: Mandate,
        *,
        owner: str | None = None,
        audit: Callable[[MandateEvent], None] | None = None,
        confirm: Callable[[Bid], bool] | None = None,
        clock: Callable[[], int] = now_ms,
        max_violations: int = 3,
    ) -> None:
        mandate.verify(owner)
        self.inner = strategy
        self.mandate = mandate
        self.audit = audit or (lambda event: None)
        self.confirm = confirm
        self.clock = clock
        self.max_violations = max_violations
        self.violations = 0
        self.events: list[MandateEvent] = []
        self.name = f"mandated({getattr(strategy, 'name', type(strategy).__name__)})"
        self._ctx: NegotiationContext | None = None
        self._last_safe: Bid | None = None
        self._best_safe: Bid | None = None
        self._confirmed: set[Bid] = set()

    # -- plumbing
    def _record(
        self,
        kind: str,
        turn: int,
        reasons: list[str] | tuple[str, ...] = (),
        bid: Bid | None = None,
    ) -> None:
        event = MandateEvent(kind, self.mandate.mandate_id, turn, tuple(reasons), bid)
        self.events.append(event)
        self.audit(event)

    def start(self, ctx: NegotiationContext) -> None:
        self.mandate.check_domain(ctx.domain)
        self._ctx = ctx
        self._last_safe = None
        self.violations = 0
        self._best_safe = self._find_best_safe(ctx)
        prefs = ctx.preferences
        informed = Preferences(
            _Masked(prefs.utility, self.mandate), prefs.reservation, prefs.discount, prefs.name
        )
        self.inner.start(replace(ctx, preferences=informed))

    def _find_best_safe(self, ctx: NegotiationContext) -> Bid | None:
        space = OutcomeSpace.of(ctx.domain, ctx.preferences.utility)
        for bid in space.bids:
            if self._allowed(bid) and not self.mandate.needs_confirmation(bid):
                return bid
        return None

    def _allowed(self, bid: Bid) -> bool:
        ctx = self._ctx
        return (ctx is None or ctx.domain.contains(bid)) and self.mandate.permits(bid)

    def _check(self, bid: Bid, turn: int) -> list[str]:
        """Reasons to block committing to ``bid`` (asks for confirmation if needed)."""
        reasons = list(self.mandate.violations(bid))
        if self._ctx is not None and not self._ctx.domain.contains(bid):
            reasons.append("bid does not fit the domain")
        if reasons:
            return reasons
        if self.mandate.needs_confirmation(bid) and bid not in self._confirmed:
            if self.confirm is not None and self.confirm(bid):
                self._confirmed.add(bid)
                self._record("confirmed", turn, (), bid)
            else:
                self._record(
                    "confirmation_refused", turn, ("above the confirmation threshold",), bid
                )
                return ["needs the owner's confirmation"]
        return []

    def _fallback(self, turn: int) -> Bid:
        safe = self._last_safe or self._best_safe
        if safe is None or self.violations >= self.max_violations:
            why = "no bid inside the mandate" if safe is None else "too many violations"
            self._record("ended", turn, (why,))
            raise MandateViolation(f"negotiation ended by the mandate guard: {why}")
        return safe

    def _expired(self, state: SessionView) -> bool:
        if self.mandate.expired(self.clock(), state.round):
            self._record("expired", state.turn, ("mandate deadline passed",))
            return True
        return False

    # -- the Strategy API
    def propose(self, state: SessionView) -> Bid | End:
        if self._expired(state):
            raise MandateViolation("the mandate has expired")
        bid = self.inner.propose(state)
        if isinstance(bid, End):
            self._record("ended", state.turn, ("the strategy walked away",))
            return bid  # walking away commits the owner to nothing
        reasons = self._check(bid, state.turn)
        if not reasons:
            self._last_safe = bid
            return bid
        self.violations += 1
        self._record("blocked_proposal", state.turn, reasons, bid)
        return self._fallback(state.turn)

    def respond(self, state: SessionView, offer: Bid) -> Response:
        if self._expired(state):
            return End("mandate expired")
        response = self.inner.respond(state, offer)
        if isinstance(response, End | Refuse):
            return response  # neither commits the owner to anything
        if isinstance(response, Accept):
            reasons = self._check(offer, state.turn)
            if not reasons:
                return response
            self.violations += 1
            self._record("blocked_accept", state.turn, reasons, offer)
        elif isinstance(response, Counter):
            reasons = self._check(response.bid, state.turn)
            if not reasons:
                self._last_safe = response.bid
                return response
            self.violations += 1
            self._record("blocked_proposal", state.turn, reasons, response.bid)
        else:
            self._record("ended", state.turn, ("strategy returned no valid response",))
            return End("invalid strategy response")
        try:
            return Counter(self._fallback(state.turn))
        except MandateViolation as exc:
            return End(str(exc))
