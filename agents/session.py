"""The alternating-offers session: a sans-I/O state machine and its wire moves.

One :class:`NegotiationSession` is **one side's** view of one negotiation. It
does no I/O and reads time only from an injectable clock. The caller moves
messages around: in the simulator, straight into the other side's session; on
the network, through a libp2p stream (:func:`dump_move` → frame → peer →
:func:`parse_move` → :meth:`NegotiationSession.receive`)::

    me = NegotiationSession(domain, Side.INITIATOR, Deadline(rounds=50), session_id=sid)
    wire = dump_move(me.offer(bid))          # bytes to frame and send
    move = me.receive(parse_move(frame))     # the peer's answer, validated
    if me.state is SessionState.AGREED: ...  # me.agreement is the Bid

Protocol: the **initiator** opens with ``offer``; from then on the side to
move either ``accept``\\ s the bid on the table, replaces it with a ``counter``,
``refuse``\\ s it without a counter-offer (its author must then ``offer`` again),
or ``end``\\ s the negotiation (walks away). Either side may ``end`` at any time. Every move
carries the session id and a ``turn`` number (0, 1, 2, … one per move; an
``end`` may carry an older turn, since it can cross a move in flight).

* A move the state does not allow, from the wrong side, with the wrong turn or
  session id, or an ``accept`` of a bid that is not on the table: received →
  :class:`~agents.UnexpectedMove` (a :class:`protocol.UnexpectedMessage`); sent →
  :class:`~agents.IllegalMove` (a :class:`protocol.LocalProtocolError`).
* A bid that does not fit the domain: received → :class:`~agents.InvalidBid`
  (a :class:`protocol.MalformedFrame`); sent → :class:`~agents.IllegalMove`.
* **Deadline.** In rounds: a round is two moves, so ``2 * rounds`` moves fit;
  a counter that uses the last one cannot be accepted any more, so the session
  is ``TIMED_OUT`` at once. In milliseconds: any move at or after the deadline
  times the session out and is refused; :meth:`~NegotiationSession.check_deadline`
  times it out without a move (call it from a timer).
* :meth:`~NegotiationSession.peer_lost` (the stream broke, the peer vanished)
  moves any live session to ``BROKEN``.

``AGREED``, ``ENDED``, ``TIMED_OUT`` and ``BROKEN`` are final: every move after
them is refused. :func:`render_transition_table` prints the table for the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from protocol import (
    KluisError,
    MalformedFrame,
    UnknownMessage,
    canonical_dumps,
    canonical_loads,
)

from ._errors import DomainError, IllegalMove, MandateViolation, UnexpectedMove
from .domain import MAX_INT, Bid, Domain, WireBid
from .strategy import Accept, Counter, End, Refuse, Response, SessionView, Side, Strategy
from .utility import Clock, Deadline, monotonic_ms

__all__ = [
    "FINAL_STATES",
    "MOVE_TYPES",
    "TRANSITIONS",
    "AcceptMove",
    "AnyMove",
    "CounterMove",
    "EndMove",
    "Move",
    "Mover",
    "NegotiationSession",
    "OfferMove",
    "RefuseMove",
    "SessionState",
    "dump_move",
    "parse_move",
    "render_transition_table",
]

# ----------------------------------------------------------------------- moves

_CONTROL = set(range(0x00, 0x20)) - {0x09, 0x0A} | set(range(0x7F, 0xA0))


def _clean(text: str) -> str:
    if any(ord(c) in _CONTROL or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise ValueError("text contains control characters")
    return text


SessionId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]
Turn = Annotated[int, Field(ge=0, le=MAX_INT)]
_Label = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=128), AfterValidator(_clean)
]
_WireValue = StrictBool | Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)] | _Label | list[_Label]
WireBidModel = Annotated[dict[_Label, _WireValue], Field(min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(max_length=200), AfterValidator(_clean)]


class _MoveBase(BaseModel):
    """A negotiation move: frozen, strict (no coercion), no unknown keys, no floats."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: str
    session: SessionId
    turn: Turn


class OfferMove(_MoveBase):
    """A bid on an empty table: the initiator's opening bid, or a new bid after a refusal."""

    type: Literal["negotiate_offer"] = "negotiate_offer"
    bid: WireBidModel


class CounterMove(_MoveBase):
    """Refuse the bid on the table and put this one there instead."""

    type: Literal["negotiate_counter"] = "negotiate_counter"
    bid: WireBidModel


class RefuseMove(_MoveBase):
    """Refuse the bid on the table without a counter-offer: its author must bid again."""

    type: Literal["negotiate_refuse"] = "negotiate_refuse"


class AcceptMove(_MoveBase):
    """Accept the bid on the table; ``bid`` repeats it so both sides sign the same terms."""

    type: Literal["negotiate_accept"] = "negotiate_accept"
    bid: WireBidModel


class EndMove(_MoveBase):
    """Walk away without agreement. ``reason`` is free text, never personal data."""

    type: Literal["negotiate_end"] = "negotiate_end"
    reason: Reason = ""


Move: TypeAlias = Annotated[
    OfferMove | CounterMove | RefuseMove | AcceptMove | EndMove, Field(discriminator="type")
]
_MOVE_ADAPTER: Final[TypeAdapter[Any]] = TypeAdapter(Move)
MOVE_TYPES: Final[dict[str, type[_MoveBase]]] = {
    cls.model_fields["type"].default: cls
    for cls in (OfferMove, CounterMove, RefuseMove, AcceptMove, EndMove)
}
_KIND: Final[dict[type[_MoveBase], str]] = {
    OfferMove: "offer",
    CounterMove: "counter",
    RefuseMove: "refuse",
    AcceptMove: "accept",
    EndMove: "end",
}
AnyMove: TypeAlias = OfferMove | CounterMove | RefuseMove | AcceptMove | EndMove


def parse_move(payload: bytes | dict[str, Any]) -> AnyMove:
    """A frame's bytes (or a decoded JSON object) → a validated move.

    Raises :class:`protocol.MalformedFrame` (bad JSON, floats, a model that does
    not validate) or :class:`protocol.UnknownMessage` (a ``type`` that is not a
    negotiation move); nothing else.
    """
    value = canonical_loads(payload) if isinstance(payload, bytes | bytearray) else payload
    if not isinstance(value, dict):
        raise MalformedFrame("a move is a JSON object")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise MalformedFrame("a move needs a string 'type'")
    if kind not in MOVE_TYPES:
        raise UnknownMessage("unknown move type")
    try:
        # canonical_dumps refuses floats and odd types; JSON mode keeps lists as lists.
        move: AnyMove = _MOVE_ADAPTER.validate_json(canonical_dumps(value), strict=True)
    except KluisError:
        raise
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors()[:3])
        raise MalformedFrame(f"invalid {kind}: {where}") from exc
    return move


def dump_move(move: AnyMove) -> bytes:
    """A move → canonical JSON bytes (sorted keys, no floats), ready to frame."""
    return canonical_dumps(move.model_dump(mode="json"))


# ----------------------------------------------------------------------- states


class SessionState(StrEnum):
    WAITING_OFFER = "waiting_offer"  # no bid on the table yet: the initiator must open
    OFFERED = "offered"  # a bid is on the table: the other side must answer
    REFUSED = "refused"  # the bid was refused without a counter: its author must offer again
    AGREED = "agreed"  # the bid on the table was accepted (final)
    ENDED = "ended"  # a side walked away (final)
    TIMED_OUT = "timed_out"  # the deadline passed (final)
    BROKEN = "broken"  # the peer vanished mid-session (final)


class Mover(StrEnum):
    """Who makes a move, relative to the turn: the side to move, or the other one."""

    TO_MOVE = "side to move"
    OTHER = "other side"


FINAL_STATES: Final = frozenset(
    {SessionState.AGREED, SessionState.ENDED, SessionState.TIMED_OUT, SessionState.BROKEN}
)

S = SessionState
#: (state, who moves, move kind) → next state. Anything else is refused.
TRANSITIONS: Final[dict[tuple[SessionState, Mover, str], SessionState]] = {
    (S.WAITING_OFFER, Mover.TO_MOVE, "offer"): S.OFFERED,
    (S.WAITING_OFFER, Mover.TO_MOVE, "end"): S.ENDED,
    (S.WAITING_OFFER, Mover.OTHER, "end"): S.ENDED,
    (S.OFFERED, Mover.TO_MOVE, "counter"): S.OFFERED,
    (S.OFFERED, Mover.TO_MOVE, "refuse"): S.REFUSED,
    (S.OFFERED, Mover.TO_MOVE, "accept"): S.AGREED,
    (S.OFFERED, Mover.TO_MOVE, "end"): S.ENDED,
    (S.OFFERED, Mover.OTHER, "end"): S.ENDED,
    (S.REFUSED, Mover.TO_MOVE, "offer"): S.OFFERED,
    (S.REFUSED, Mover.TO_MOVE, "end"): S.ENDED,
    (S.REFUSED, Mover.OTHER, "end"): S.ENDED,
}
#: Events that are not moves: (event, from any of these states) → next state.
EVENTS: Final[dict[str, tuple[frozenset[SessionState], SessionState]]] = {
    "deadline passes": (frozenset({S.WAITING_OFFER, S.OFFERED, S.REFUSED}), S.TIMED_OUT),
    "peer_lost()": (frozenset({S.WAITING_OFFER, S.OFFERED, S.REFUSED}), S.BROKEN),
}


def render_transition_table() -> str:
    """The transition table as Markdown (pasted into docs/agents.md)."""
    lines = ["| state | who | move | next state |", "|---|---|---|---|"]
    for (state, who, kind), nxt in TRANSITIONS.items():
        lines.append(f"| `{state.value}` | {who.value} | `{kind}` | `{nxt.value}` |")
    for event, (sources, nxt) in EVENTS.items():
        src = ", ".join(f"`{s.value}`" for s in sorted(sources))
        lines.append(f"| {src} | — | *{event}* | `{nxt.value}` |")
    lines += [
        "",
        "The side to move is the initiator in `waiting_offer`, the side that did not put",
        "the bid on the table in `offered`, and the author of the refused bid in `refused`.",
        "Any other (state, who, move) is refused:",
        "`UnexpectedMove` when received, `IllegalMove` when sent. "
        + ", ".join(f"`{s.value}`" for s in sorted(FINAL_STATES))
        + " are final.",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Step:
    """One applied move in the history."""

    by: Side
    move: AnyMove
    bid: Bid | None


class NegotiationSession:
    """One side's alternating-offers state machine. See the module docstring."""

    def __init__(
        self,
        domain: Domain,
        side: Side,
        deadline: Deadline,
        *,
        session_id: str = "local",
        clock: Clock = monotonic_ms,
    ) -> None:
        self.domain = domain
        self.side = side
        self.deadline = deadline
        self.session_id = session_id
        self._clock = clock
        self._started = clock()
        self.state = SessionState.WAITING_OFFER
        self.turn = 0
        self.on_table: Bid | None = None
        self.on_table_by: Side | None = None
        self.agreement: Bid | None = None
        self.ended_by: Side | None = None
        self.reason = ""
        self._history: list[Step] = []
        self._bids: dict[Side, list[Bid]] = {Side.INITIATOR: [], Side.RESPONDER: []}

    # ------------------------------------------------------------- inspection
    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def side_to_move(self) -> Side | None:
        if self.state is SessionState.WAITING_OFFER:
            return Side.INITIATOR
        if self.state is SessionState.OFFERED:
            assert self.on_table_by is not None
            return self.on_table_by.other
        if self.state is SessionState.REFUSED:
            assert self.on_table_by is not None
            return self.on_table_by  # the author of the refused bid bids again
        return None

    @property
    def my_turn(self) -> bool:
        return self.side_to_move is self.side

    @property
    def elapsed_ms(self) -> int:
        return self._clock() - self._started

    @property
    def moves_left(self) -> int | None:
        top = self.deadline.max_moves
        return None if top is None else max(0, top - self.turn)

    @property
    def progress(self) -> float:
        return self.deadline.progress(self.turn, self.elapsed_ms)

    @property
    def history(self) -> tuple[Step, ...]:
        return tuple(self._history)

    def view(self) -> SessionView:
        """The read-only snapshot a strategy gets."""
        return SessionView(
            side=self.side,
            turn=self.turn,
            progress=self.progress,
            my_bids=tuple(self._bids[self.side]),
            their_bids=tuple(self._bids[self.side.other]),
            moves_left=self.moves_left,
        )

    # ------------------------------------------------------------- building moves
    def offer(self, bid: Bid) -> OfferMove:
        """Put ``bid`` on an empty table: the opening (initiator, turn 0) or after a refusal."""
        move = OfferMove(session=self.session_id, turn=self.turn, bid=self._to_wire(bid))
        self.send(move)
        return move

    def counter(self, bid: Bid) -> CounterMove:
        move = CounterMove(session=self.session_id, turn=self.turn, bid=self._to_wire(bid))
        self.send(move)
        return move

    def propose(self, bid: Bid) -> OfferMove | CounterMove:
        """``offer`` when nothing is on the table (opening, refusal), else ``counter``."""
        if self.on_table is None:
            return self.offer(bid)
        return self.counter(bid)

    def accept(self) -> AcceptMove:
        if self.on_table is None:
            raise IllegalMove(f"nothing to accept in state {self.state.value}")
        wire = self.domain.bid_to_wire(self.on_table)
        move = AcceptMove(session=self.session_id, turn=self.turn, bid=wire)
        self.send(move)
        return move

    def refuse(self) -> RefuseMove:
        """Refuse the bid on the table without a counter-offer."""
        move = RefuseMove(session=self.session_id, turn=self.turn)
        self.send(move)
        return move

    def end(self, reason: str = "") -> EndMove:
        move = EndMove(session=self.session_id, turn=self.turn, reason=reason)
        self.send(move)
        return move

    def respond(self, response: Response) -> AnyMove:
        """Turn a strategy's :data:`~agents.strategy.Response` into the matching move."""
        if isinstance(response, Accept):
            return self.accept()
        if isinstance(response, Counter):
            return self.counter(response.bid)
        if isinstance(response, Refuse):
            return self.refuse()
        if isinstance(response, End):
            return self.end(response.reason)
        raise IllegalMove(f"not a response: {type(response).__name__}")

    def play(self, strategy: Strategy) -> AnyMove:
        """Make this side's move by asking ``strategy``: a bid on an empty table (the
        opening, or after a refusal), else its answer to the bid on the table.

        A :class:`~agents.MandateViolation` from the strategy (the mandate guard gave
        up) becomes an ``end`` move; any other error propagates.
        """
        try:
            if self.on_table is None:
                bid = strategy.propose(self.view())
                if isinstance(bid, End):
                    return self.end(bid.reason)
                return self.offer(bid)
            return self.respond(strategy.respond(self.view(), self.on_table))
        except MandateViolation as exc:
            return self.end(exc.message[:200])

    def _to_wire(self, bid: Bid) -> WireBid:
        try:
            return self.domain.bid_to_wire(bid)
        except DomainError as exc:
            raise IllegalMove(f"our bid does not fit the domain: {exc.message}") from exc

    # ------------------------------------------------------------- applying moves
    def send(self, move: AnyMove) -> AnyMove:
        """Apply a move made by this side. Raises :class:`IllegalMove` if not allowed."""
        return self._apply(self.side, move, IllegalMove)

    def receive(self, move: AnyMove | bytes | dict[str, Any]) -> AnyMove:
        """Apply the peer's move (a model, or raw frame bytes / decoded JSON).

        Raises :class:`UnexpectedMove`, :class:`~agents.InvalidBid`, or the
        :func:`parse_move` errors; the session state is unchanged on error,
        except when the deadline has passed (then it is ``TIMED_OUT``).
        """
        if isinstance(move, bytes | bytearray | dict):
            move = parse_move(move)
        return self._apply(self.side.other, move, UnexpectedMove)

    def check_deadline(self) -> bool:
        """Time the session out if its deadline has passed. True if it is (now) timed out."""
        if not self.is_final and self.deadline.expired(self.turn, self.elapsed_ms):
            self._finish(SessionState.TIMED_OUT, None, "deadline passed")
        return self.state is SessionState.TIMED_OUT

    def peer_lost(self, reason: str = "peer vanished") -> None:
        """The peer or the network went away: a live session is ``BROKEN``."""
        if not self.is_final:
            self._finish(SessionState.BROKEN, None, reason)

    def _finish(self, state: SessionState, by: Side | None, reason: str) -> None:
        self.state = state
        self.ended_by = by
        self.reason = reason

    def _apply(self, by: Side, move: AnyMove, error: type[KluisError]) -> AnyMove:
        kind = _KIND.get(type(move))
        if kind is None:
            raise error(f"not a negotiation move: {type(move).__name__}")
        if self.is_final:
            raise error(f"{kind} refused: the session is {self.state.value}")
        if move.session != self.session_id:
            raise error(f"{kind} for another session")
        if self.check_deadline():
            raise error(f"{kind} refused: the deadline has passed")
        who = Mover.TO_MOVE if by is self.side_to_move else Mover.OTHER
        nxt = TRANSITIONS.get((self.state, who, kind))
        if nxt is None:
            raise error(f"{kind} by the {who.value} is not allowed in state {self.state.value}")
        if isinstance(move, EndMove):
            if move.turn > self.turn:
                raise error(f"end with turn {move.turn}, expected at most {self.turn}")
        elif move.turn != self.turn:
            raise error(f"{kind} with turn {move.turn}, expected {self.turn}")

        bid: Bid | None = None
        if isinstance(move, OfferMove | CounterMove | AcceptMove):
            bid = self._bid_of(move.bid, by, error)
        if isinstance(move, AcceptMove) and bid != self.on_table:
            raise error("accept names a bid that is not on the table")

        # -- commit
        self._history.append(Step(by, move, bid))
        if isinstance(move, EndMove):
            self.turn = max(self.turn, move.turn + 1)
            self._finish(SessionState.ENDED, by, move.reason)
            return move
        self.turn += 1
        if isinstance(move, AcceptMove):
            self.agreement = bid
            self._finish(SessionState.AGREED, by, "accepted")
            return move
        if isinstance(move, RefuseMove):
            self.on_table = None  # on_table_by stays: that side bids next
        else:
            assert bid is not None
            self.on_table, self.on_table_by = bid, by
            self._bids[by].append(bid)
        self.state = nxt
        top = self.deadline.max_moves
        if top is not None and self.turn >= top:
            # The last allowed move was a bid (or a refusal): nobody may accept any more.
            self._finish(SessionState.TIMED_OUT, None, "deadline passed")
        return move

    def _bid_of(self, wire: WireBid, by: Side, error: type[KluisError]) -> Bid:
        if by is self.side:
            try:
                return self.domain.bid_from_wire(wire)
            except KluisError as exc:
                raise IllegalMove(f"our bid does not fit the domain: {exc.message}") from exc
        return self.domain.bid_from_wire(wire)  # InvalidBid for a peer's bad bid

    def __repr__(self) -> str:
        return (
            f"NegotiationSession({self.session_id!r}, {self.side.value}, "
            f"state={self.state.value}, turn={self.turn})"
        )
