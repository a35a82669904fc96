"""Serve frames to a service without sockets, the way the runtime does (tests only).

A :class:`ServerStream` is one inbound stream: a server
:class:`~protocol.connection.Connection` for a grammar in front of a service's
``handle`` (and ``on_protocol_error``), which is exactly what
``protocol.runtime.Node`` runs per stream. So these tests go through the state
machine that runs in production: a frame that breaks the grammar ends the
stream with one typed error, a handler's reply must be one the grammar allows,
and pushes (``send``) are checked too.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from protocol import (
    ACCESS_GRAMMAR,
    Connection,
    Grammar,
    Message,
    RemoteProtocolError,
    Role,
    error_from_exception,
)
from protocol.framing import MAX_FRAME_SIZE, encode_frame

__all__ = ["ServerStream", "answer"]


class ServerStream:
    """One inbound stream from ``peer_id`` to a service (see the module docstring)."""

    def __init__(
        self,
        peer_id: str,
        grammar: Grammar = ACCESS_GRAMMAR,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        self.remote_peer_id = peer_id
        self.conn = Connection(Role.SERVER, max_frame_size, grammar=grammar)
        #: Everything the service pushed with ``send`` (replies are returned, not kept here).
        self.sent: list[Message] = []
        self._closed = False
        self._on_end: list[Callable[[], None]] = []

    # -- what a handler sees (the runtime's PeerContext) ------------------------------------

    @property
    def frame_size(self) -> int:
        return self.conn.last_frame_size

    @property
    def closed(self) -> bool:
        return self._closed

    async def send(self, message: Message) -> None:
        self.conn.send(message)  # LocalProtocolError if the grammar does not allow it now
        self.sent.append(message)

    def on_end(self, callback: Callable[[], None]) -> None:
        if self._closed:
            callback()
        else:
            self._on_end.append(callback)

    async def close(self) -> None:
        self.end()

    async def reset(self) -> None:
        self.end()

    def end(self) -> None:
        """The stream ends (either side; as the runtime's frame loop ending)."""
        self._closed = True
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            callback()

    # -- what the peer does ---------------------------------------------------------------

    def feed(self, service: Any, payload: bytes) -> Message | Awaitable[Message | None] | None:
        """One frame from the peer → the reply the runtime would write (None: nothing)."""
        self.conn.receive_data(encode_frame(payload, max_size=len(payload)))
        try:
            event = self.conn.next_event()
        except RemoteProtocolError as exc:
            hook = getattr(service, "on_protocol_error", None)
            reply = hook(self, exc) if hook is not None else error_from_exception(exc)
            self._closed = True
            return self._write(reply)
        assert isinstance(event, Message), event
        reply = service.handle(self, event)
        if inspect.isawaitable(reply):
            return self._later(reply)
        return self._write(reply)

    async def _later(self, reply: Awaitable[Message | None]) -> Message | None:
        return self._write(await reply)

    def _write(self, reply: Message | None) -> Message | None:
        if reply is not None:
            self.conn.send(reply)  # the reply must be one the grammar allows
        return reply


def answer(
    service: Any,
    peer_id: str,
    payload: bytes,
    grammar: Grammar = ACCESS_GRAMMAR,
    max_frame_size: int | None = None,
) -> Message | Awaitable[Message | None] | None:
    """One frame on a fresh stream from ``peer_id`` → the service's reply."""
    limit = max_frame_size or getattr(service, "max_frame_size", MAX_FRAME_SIZE)
    return ServerStream(peer_id, grammar, limit).feed(service, payload)
