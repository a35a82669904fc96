"""The h11-style state machine for one kluis stream: the code every kluis stream runs through.

A :class:`Connection` does no I/O. Feed it the bytes you read with
:meth:`~Connection.receive_data`, pull messages with :meth:`~Connection.next_event`,
and turn messages you want to send into bytes with :meth:`~Connection.send`::

    conn = Connection(Role.CLIENT)
    stream.write(conn.send(access_request))
    while (event := conn.next_event()) is NEED_DATA:
        conn.receive_data(stream.read())      # b"" means the peer closed
    # event is a Decision or an Error (or PEER_CLOSED)

The runtime (:mod:`protocol.runtime.node`) drives one Connection per stream of
``/kluis/access``, ``/kluis/contact`` and ``/kluis/deliver``, on both sides:
the bytes it reads go to ``receive_data``, the handlers it calls get the
events, and every frame it writes comes out of ``send``. Which messages a
stream speaks, and in which order, is its :class:`Grammar`:
:data:`ACCESS_GRAMMAR` (below) and the contact and delivery grammars in
:mod:`protocol.contact`.

The **client** is the side that opened the stream; the **server** accepted it.
An access stream is strictly request/reply, one request in flight at a time, with one
exception: after a subscription is acknowledged the server pushes updates until
it revokes the grant or gives up. Every allowed step is a row of
:data:`TRANSITIONS`; anything else is refused:

* receiving a step not in the table raises :class:`~protocol.UnexpectedMessage`;
* sending one raises :class:`~protocol.LocalProtocolError`.

Replies are correlated with their request by id (:data:`REQUEST_REF`,
:data:`REPLY_REF`): a decision for another request is just as unexpected as a
decision nobody asked for.

Any error puts the connection in ``ERROR`` for good: ``next_event`` and
``receive_data`` raise the original error again, and ``send`` refuses everything
except an :class:`~protocol.messages.Error` message, so that the node can still
tell the peer *why* before it closes the stream (DESIGN: a bad frame gets a
typed error reply). The fuzz tests hold the receiving side to one rule: any
bytes either parse, or raise a :class:`~protocol.RemoteProtocolError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from ._exceptions import (
    FrameTooLarge,
    KluisError,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
    UnexpectedMessage,
)
from .framing import MAX_FRAME_SIZE, NEED_DATA, PEER_CLOSED, Frames, Sentinel
from .ids import ACCESS
from .messages import MESSAGE_TYPES, Error, Message, dump_message, parse_message

__all__ = [
    "ACCESS_GRAMMAR",
    "NEED_DATA",
    "PEER_CLOSED",
    "REPLY_REF",
    "REQUESTS",
    "REQUEST_REF",
    "RESPONSES",
    "TRANSITIONS",
    "Connection",
    "Grammar",
    "Role",
    "Sentinel",
    "State",
    "render_state_table",
]


class Role(StrEnum):
    CLIENT = "client"  # opened the stream, sends requests
    SERVER = "server"  # accepted the stream, sends replies


class State(StrEnum):
    IDLE = "IDLE"
    AWAIT_DECISION = "AWAIT_DECISION"
    AWAIT_READ_RESULT = "AWAIT_READ_RESULT"
    AWAIT_SUBSCRIBED = "AWAIT_SUBSCRIBED"
    AWAIT_ACK = "AWAIT_ACK"
    AWAIT_RECEIPT = "AWAIT_RECEIPT"
    AWAIT_BATCH = "AWAIT_BATCH"
    SUBSCRIBED = "SUBSCRIBED"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


@dataclass(frozen=True, eq=False)
class Grammar:
    """What one stream protocol says, and in which order: the tables a Connection enforces.

    ``requests``: what a client may send in ``IDLE``, and the state that follows.
    ``responses``: what the server may send in each state, and the state that follows.
    ``request_ref`` / ``reply_ref``: the id field a request carries and the field of
    a reply that must echo it (a message type missing from them is not correlated).
    ``types``: the models of every message type in the tables, for parsing.
    """

    protocol_id: str
    requests: Mapping[str, State]
    responses: Mapping[State, Mapping[str, State]]
    request_ref: Mapping[str, str]
    reply_ref: Mapping[str, str]
    types: Mapping[str, type[Message]]
    #: Every allowed step: ``(state, sender, message type) -> next state``.
    transitions: Mapping[tuple[State, Role, str], State] = field(init=False)

    def __post_init__(self) -> None:
        steps = {(State.IDLE, Role.CLIENT, kind): nxt for kind, nxt in self.requests.items()}
        for state, replies in self.responses.items():
            steps.update({(state, Role.SERVER, kind): nxt for kind, nxt in replies.items()})
        missing = {kind for _s, _r, kind in steps} - set(self.types)
        if missing:
            raise ValueError(f"{self.protocol_id}: no model for {sorted(missing)}")
        object.__setattr__(self, "transitions", steps)

    @property
    def states(self) -> list[State]:
        """The states a stream of this protocol can be in, in table order."""
        seen = [State.IDLE, *self.requests.values(), *self.responses]
        for replies in self.responses.values():
            seen += replies.values()
        return [*dict.fromkeys([*seen, State.ERROR])]

    def __repr__(self) -> str:
        return f"Grammar({self.protocol_id})"


#: What the client may send in ``IDLE``, and the state that follows.
REQUESTS: Final[dict[str, State]] = {
    "access_request": State.AWAIT_DECISION,
    "await_decision": State.AWAIT_DECISION,
    "read": State.AWAIT_READ_RESULT,
    "subscribe": State.AWAIT_SUBSCRIBED,
    "deletion_receipt": State.AWAIT_ACK,
    "revoke_notice": State.AWAIT_RECEIPT,
}

#: What the server may send in each state, and the state that follows.
RESPONSES: Final[dict[State, dict[str, State]]] = {
    State.IDLE: {"error": State.CLOSED},
    State.AWAIT_DECISION: {"decision": State.IDLE, "error": State.IDLE},
    State.AWAIT_READ_RESULT: {"read_result": State.IDLE, "error": State.IDLE},
    State.AWAIT_SUBSCRIBED: {"ack": State.SUBSCRIBED, "error": State.IDLE},
    State.AWAIT_ACK: {"ack": State.IDLE, "error": State.IDLE},
    State.AWAIT_RECEIPT: {"ack": State.IDLE, "deletion_receipt": State.IDLE, "error": State.IDLE},
    State.SUBSCRIBED: {
        "update": State.SUBSCRIBED,
        "revoke_notice": State.CLOSED,
        "error": State.CLOSED,
    },
}

#: The field of a request that its replies must echo.
REQUEST_REF: Final[dict[str, str]] = {
    "access_request": "request_id",
    "await_decision": "request_id",
    "read": "grant_id",
    "subscribe": "grant_id",
    "deletion_receipt": "receipt_id",
    "revoke_notice": "grant_id",
}

#: The field of a reply (or push) that must equal the request's ``REQUEST_REF``.
#: An error's ``ref`` may be null; if set, it must match too.
REPLY_REF: Final[dict[str, str]] = {
    "decision": "request_id",
    "read_result": "grant_id",
    "ack": "ref",
    "update": "grant_id",
    "revoke_notice": "grant_id",
    "deletion_receipt": "grant_id",
    "error": "ref",
}

#: ``/kluis/access/1.0.0``: requests, decisions, reads, subscriptions, revocation.
ACCESS_GRAMMAR: Final = Grammar(ACCESS, REQUESTS, RESPONSES, REQUEST_REF, REPLY_REF, MESSAGE_TYPES)

#: Every allowed step of the access protocol: ``(state, sender, message type) -> next state``.
TRANSITIONS: Final = ACCESS_GRAMMAR.transitions

# Wire errors (bad frames, oversized frames, a value with no canonical form) are
# a remote's fault when receiving and our own when sending.
_OUTGOING_FAULTS = (FrameTooLarge, MalformedFrame)


class Connection:
    """One stream's protocol state, for one side. See the module docstring."""

    __slots__ = ("_error", "_frames", "_ref", "_state", "grammar", "our_role")

    def __init__(
        self,
        role: Role | str,
        max_frame_size: int = MAX_FRAME_SIZE,
        *,
        grammar: Grammar = ACCESS_GRAMMAR,
    ) -> None:
        self.our_role = Role(role)
        self.grammar = grammar
        self._frames = Frames(max_frame_size)
        self._state = State.IDLE
        self._error: KluisError | None = None
        self._ref: str | None = None

    def __repr__(self) -> str:
        return f"Connection({self.grammar.protocol_id}, {self.our_role.value}, {self._state.value})"

    @property
    def max_frame_size(self) -> int:
        return self._frames.max_frame_size

    @property
    def last_frame_size(self) -> int:
        """Payload bytes of the frame behind the last message received."""
        return self._frames.last_frame_size

    @property
    def their_role(self) -> Role:
        return Role.SERVER if self.our_role is Role.CLIENT else Role.CLIENT

    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> KluisError | None:
        """The error that put the connection in ``ERROR``, if any."""
        return self._error

    @property
    def ref(self) -> str | None:
        """The correlation id of the request in flight, or of the subscription."""
        return self._ref

    @property
    def idle(self) -> bool:
        """In ``IDLE`` with nothing buffered: the stream may carry another request."""
        return self._state is State.IDLE and self._frames.idle

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return self._frames.buffered

    # ----------------------------------------------------------------- receive

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes read from the stream; ``b""`` means the peer closed its side."""
        if self._error is not None:
            raise self._error
        self._frames.receive_data(data)

    def next_event(self) -> Message | Sentinel:
        """The next message, :data:`NEED_DATA`, or :data:`PEER_CLOSED`.

        Raises a :class:`~protocol.RemoteProtocolError` (and enters ``ERROR``) if
        the peer sent anything that is not valid here.
        """
        if self._error is not None:
            raise self._error
        try:
            payload = self._frames.next_event()
            if payload is NEED_DATA:
                return NEED_DATA
            if payload is PEER_CLOSED:
                self._state = State.CLOSED
                return PEER_CLOSED
            assert isinstance(payload, bytes)
            message = parse_message(payload, self.grammar.types)
            self._step(message, self.their_role)
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise
        return message

    # -------------------------------------------------------------------- send

    def send(self, message: Message) -> bytes:
        """The framed bytes for ``message``, after checking we may send it now.

        Raises :class:`~protocol.LocalProtocolError` (and enters ``ERROR``) if
        not. In ``ERROR`` only an :class:`~protocol.messages.Error` may be sent.
        """
        if self._state is State.ERROR:
            if isinstance(message, Error):
                return self._encode(message)
            raise LocalProtocolError("the connection is in ERROR; only an error reply may be sent")
        try:
            if not isinstance(message, Message) or self.grammar.types.get(message.type) is not type(
                message
            ):
                raise LocalProtocolError(
                    f"not a message that travels on {self.grammar.protocol_id}"
                )
            data = self._encode(message)
            self._step(message, self.our_role)
        except LocalProtocolError as exc:
            self._fail(exc)
            raise
        return data

    def close(self) -> None:
        """Our side is done with the stream; no more sends after this."""
        if self._state is not State.ERROR:
            self._state = State.CLOSED

    # --------------------------------------------------------------- internals

    def _encode(self, message: Message) -> bytes:
        try:
            return self._frames.send(dump_message(message))
        except (*_OUTGOING_FAULTS, LocalProtocolError) as exc:
            raise LocalProtocolError(f"cannot send this {message.type}: {exc.message}") from exc

    def _step(self, message: Message, sender: Role) -> None:
        """Apply one transition, or raise without changing anything."""
        incoming = sender is not self.our_role
        refuse: type[KluisError] = UnexpectedMessage if incoming else LocalProtocolError
        grammar = self.grammar
        nxt = grammar.transitions.get((self._state, sender, message.type))
        if nxt is None:
            raise refuse(f"{sender.value} may not send {message.type} in state {self._state.value}")
        if sender is Role.CLIENT:
            ref_field = grammar.request_ref.get(message.type)
            ref = getattr(message, ref_field) if ref_field else None
        else:
            reply_field = grammar.reply_ref.get(message.type)
            if reply_field is not None and self._ref is not None:
                got = getattr(message, reply_field)
                if got != self._ref and not (message.type == "error" and got is None):
                    raise refuse(f"{message.type} does not answer the request in flight")
            ref = self._ref
        self._state = nxt
        self._ref = ref if nxt not in (State.IDLE, State.CLOSED) else None

    def _fail(self, exc: KluisError) -> None:
        self._state = State.ERROR
        self._error = exc


def render_state_table(grammar: Grammar = ACCESS_GRAMMAR) -> str:
    """The transition and correlation tables as Markdown (pasted into docs/protocol.md)."""
    lines = [
        "| state | sender | message | next state |",
        "|---|---|---|---|",
    ]
    for (state, sender, kind), nxt in grammar.transitions.items():
        lines.append(f"| `{state.value}` | {sender.value} | `{kind}` | `{nxt.value}` |")
    lines += [
        "",
        "Any other (state, sender, message) is refused: `UnexpectedMessage` when received,",
        "`LocalProtocolError` when sent. Any error moves the stream to `ERROR`, where only",
        "an `error` message may still be sent. `CLOSED` and `ERROR` are final.",
        "",
        "| request | its id field | valid replies | reply's id field |",
        "|---|---|---|---|",
    ]

    def refs(replies: Mapping[str, State]) -> str:
        shown = [f"`{r}.{grammar.reply_ref[r]}`" for r in replies if r in grammar.reply_ref]
        return ", ".join(shown) or "—"

    for kind, awaiting in grammar.requests.items():
        replies = grammar.responses[awaiting]
        shown = ", ".join(f"`{r}`" for r in replies)
        ref = grammar.request_ref.get(kind)
        lines.append(
            f"| `{kind}` | {f'`{ref}`' if ref else '— (not correlated)'} | {shown} | "
            f"{refs(replies) if ref else '—'} |"
        )
    if State.SUBSCRIBED in grammar.responses:
        pushes = grammar.responses[State.SUBSCRIBED]
        lines.append(
            "| (after `subscribe` is acked) | `grant_id` | "
            + ", ".join(f"`{r}`" for r in pushes)
            + " | "
            + refs(pushes)
            + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates the tables for docs/protocol.md
    import sys

    from .contact import CONTACT_GRAMMAR, DELIVERY_GRAMMAR

    chosen = {"access": ACCESS_GRAMMAR, "contact": CONTACT_GRAMMAR, "deliver": DELIVERY_GRAMMAR}
    print(render_state_table(chosen[sys.argv[1] if len(sys.argv) > 1 else "access"]), end="")
