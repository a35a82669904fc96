"""The h11-style state machine for one ``/kluis/access/1.0.0`` stream.

A :class:`Connection` does no I/O. Feed it the bytes you read with
:meth:`~Connection.receive_data`, pull messages with :meth:`~Connection.next_event`,
and turn messages you want to send into bytes with :meth:`~Connection.send`::

    conn = Connection(Role.CLIENT)
    stream.write(conn.send(access_request))
    while (event := conn.next_event()) is NEED_DATA:
        conn.receive_data(stream.read())      # b"" means the peer closed
    # event is a Decision or an Error (or PEER_CLOSED)

The **client** is the side that opened the stream; the **server** accepted it.
The stream is strictly request/reply, one request in flight at a time, with one
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
from .framing import MAX_FRAME_SIZE, FrameDecoder, encode_frame
from .messages import MESSAGE_TYPES, Error, Message, dump_message, parse_message

__all__ = [
    "NEED_DATA",
    "PEER_CLOSED",
    "REPLY_REF",
    "REQUESTS",
    "REQUEST_REF",
    "RESPONSES",
    "TRANSITIONS",
    "Connection",
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
    SUBSCRIBED = "SUBSCRIBED"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Sentinel:
    """A named marker returned by :meth:`Connection.next_event` instead of a message."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: No whole frame is buffered yet: read more bytes and call ``receive_data``.
NEED_DATA: Final = Sentinel("NEED_DATA")
#: The peer closed its side cleanly (``receive_data(b"")`` between frames).
PEER_CLOSED: Final = Sentinel("PEER_CLOSED")

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

#: Every allowed step: ``(state, sender, message type) -> next state``.
TRANSITIONS: Final[dict[tuple[State, Role, str], State]] = {
    **{(State.IDLE, Role.CLIENT, kind): nxt for kind, nxt in REQUESTS.items()},
    **{
        (state, Role.SERVER, kind): nxt
        for state, replies in RESPONSES.items()
        for kind, nxt in replies.items()
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

# Wire errors (bad frames, oversized frames) are a remote's fault when
# receiving and our own when sending.
_OUTGOING_FAULTS = (FrameTooLarge, MalformedFrame)


class Connection:
    """One stream's protocol state, for one side. See the module docstring."""

    __slots__ = ("_decoder", "_eof", "_error", "_ref", "_state", "max_frame_size", "our_role")

    def __init__(self, role: Role | str, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.our_role = Role(role)
        self.max_frame_size = max_frame_size
        self._decoder = FrameDecoder(max_frame_size)
        self._state = State.IDLE
        self._error: KluisError | None = None
        self._ref: str | None = None
        self._eof = False

    def __repr__(self) -> str:
        return f"Connection({self.our_role.value}, {self._state.value})"

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

    # ----------------------------------------------------------------- receive

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes read from the stream; ``b""`` means the peer closed its side."""
        if self._error is not None:
            raise self._error
        if not data:
            self._eof = True
        elif self._eof:
            raise LocalProtocolError("data received after the end of the stream")
        else:
            self._decoder.receive_data(data)

    def next_event(self) -> Message | Sentinel:
        """The next message, :data:`NEED_DATA`, or :data:`PEER_CLOSED`.

        Raises a :class:`~protocol.RemoteProtocolError` (and enters ``ERROR``) if
        the peer sent anything that is not valid here.
        """
        if self._error is not None:
            raise self._error
        try:
            payload = self._decoder.next_frame()
            if payload is None:
                if not self._eof:
                    return NEED_DATA
                if self._decoder.buffered:
                    raise MalformedFrame("the stream ended inside a frame")
                if self._state is not State.ERROR:
                    self._state = State.CLOSED
                return PEER_CLOSED
            message = parse_message(payload)
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
            if not isinstance(message, Message) or MESSAGE_TYPES.get(message.type) is not type(
                message
            ):
                raise LocalProtocolError("not a message that travels in a frame")
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
            return encode_frame(dump_message(message), max_size=self.max_frame_size)
        except _OUTGOING_FAULTS as exc:
            raise LocalProtocolError(f"cannot send this {message.type}: {exc.message}") from exc

    def _step(self, message: Message, sender: Role) -> None:
        """Apply one transition, or raise without changing anything."""
        incoming = sender is not self.our_role
        refuse: type[KluisError] = UnexpectedMessage if incoming else LocalProtocolError
        nxt = TRANSITIONS.get((self._state, sender, message.type))
        if nxt is None:
            raise refuse(f"{sender.value} may not send {message.type} in state {self._state.value}")
        if sender is Role.CLIENT:
            ref = getattr(message, REQUEST_REF[message.type])
        else:
            got = getattr(message, REPLY_REF[message.type])
            echoed = got == self._ref or (message.type == "error" and got is None)
            if self._ref is not None and not echoed:
                raise refuse(f"{message.type} does not answer the request in flight")
            ref = self._ref
        self._state = nxt
        self._ref = ref if nxt not in (State.IDLE, State.CLOSED) else None

    def _fail(self, exc: KluisError) -> None:
        self._state = State.ERROR
        self._error = exc


def render_state_table() -> str:
    """The transition and correlation tables as Markdown (pasted into docs/protocol.md)."""
    lines = [
        "| state | sender | message | next state |",
        "|---|---|---|---|",
    ]
    for (state, sender, kind), nxt in TRANSITIONS.items():
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
    for kind, awaiting in REQUESTS.items():
        replies = RESPONSES[awaiting]
        shown = ", ".join(f"`{r}`" for r in replies)
        refs = ", ".join(f"`{r}.{REPLY_REF[r]}`" for r in replies)
        lines.append(f"| `{kind}` | `{REQUEST_REF[kind]}` | {shown} | {refs} |")
    pushes = RESPONSES[State.SUBSCRIBED]
    lines.append(
        "| (after `subscribe` is acked) | `grant_id` | "
        + ", ".join(f"`{r}`" for r in pushes)
        + " | "
        + ", ".join(f"`{r}.{REPLY_REF[r]}`" for r in pushes)
        + " |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates the table for docs/protocol.md
    print(render_state_table(), end="")
