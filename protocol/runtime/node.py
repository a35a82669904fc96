"""The kluis node: a py-libp2p host driven from asyncio, speaking length-prefixed frames.

This is the one module in :mod:`protocol` that touches libp2p. Everything above it
sees an asyncio API and kluis errors; libp2p and trio types never leave this file.

**What a stream speaks.** Every stream is driven through a sans-I/O codec: the
bytes read go to its ``receive_data``, its ``next_event`` yields what the
handler gets, and every frame written comes out of its ``send``. Name a
protocol by its :class:`~protocol.connection.Grammar` (``ACCESS_GRAMMAR``,
``CONTACT_GRAMMAR``, ``DELIVERY_GRAMMAR``) and the codec is the h11-style
:class:`~protocol.connection.Connection`: handlers get and return
:class:`~protocol.Message`s, replies are checked against the request in
flight, and any protocol violation puts the stream in ``ERROR``: the peer gets
one typed ``error`` frame and the stream is closed, while every other stream
carries on. Name it by a plain protocol id (``/kluis/negotiate``, whose session
state machine lives in :mod:`agents`) and the codec is
:class:`~protocol.framing.Frames`: payload bytes in and out.

Shape of the hot path (a scoped read):

* **client** – :meth:`Node.request` makes *one* bridge crossing: inside a single
  trio call it takes the pooled stream for ``(peer, protocol)``, writes one frame
  and reads one reply frame. Warm requests reuse the stream, so they pay neither a
  dial nor a multistream-select negotiation.
* **server** – each inbound stream runs a frame loop in trio: read, feed the
  stream's codec, call the handler per event. A *plain function* handler is
  called inline in the trio task (same thread, no crossing); a handler that
  returns an awaitable is awaited on asyncio through the bridge.

Trust: :attr:`PeerContext.remote_peer_id` is the peer id from the Noise-secured
connection (``muxed_conn.peer_id``), never something a message claims.

Concurrency rule for server push: :meth:`PeerContext.send` may be awaited from any
asyncio task at any time while the stream's frame loop keeps running. Writes on a
stream are serialised by a per-stream lock, so a pushed frame never interleaves
with a reply. Frames on one stream are handled one at a time, in order; different
streams are handled concurrently.
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeAlias, TypeVar, overload

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.host.ping import PING_LENGTH
from libp2p.network.config import ConnectionConfig
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from .._exceptions import (
    ConnectError,
    ConnectionBroken,
    ErrorCode,
    KluisError,
    LocalProtocolError,
    RemoteProtocolError,
    StreamClosed,
    TransportError,
)
from ..connection import Connection, Grammar, Role
from ..framing import MAX_FRAME_SIZE, NEED_DATA, PEER_CLOSED, Frames
from ..lifecycle import Service, Steps, opener
from ..listen import DEFAULT_LISTEN
from ..messages import Message, error_from_exception
from ..signing import Identity
from . import _swarm_fix
from . import addrs as _addrs
from ._bridge import GuestCancelled, GuestError, TrioGuest
from .buffers import MAX_BUFFERED_PER_PEER, MAX_BUFFERED_TOTAL, BufferBudget
from .discovery import Discovery, PeerCallback
from .reach import Reach, ReachConfig

__all__ = [
    "DEFAULT_MUXER",
    "MAX_INBOUND_STREAMS_PER_PEER",
    "EndOfStream",
    "FrameHandler",
    "FramedStream",
    "MessageErrorHandler",
    "MessageHandler",
    "Node",
    "PeerContext",
    "ProtocolErrorHandler",
]

logger = logging.getLogger(__name__)

#: Inbound frame streams one peer may hold open at once; the next one is reset.
MAX_INBOUND_STREAMS_PER_PEER: Final = 32
#: The stream muxer. yamux, and only yamux, by default: py-libp2p 0.8.1's mplex
#: stream holds a read/write lock for the whole of a blocked ``read()``, so nothing
#: can be *written* to a stream while its reader waits. That deadlocks server push
#: (a subscription's frame loop is always reading). yamux reads without that lock,
#: and it is what go-libp2p and js-libp2p speak. Its small-frame round trip is
#: within noise of mplex here (see benchmarks/bench_transport.py). ``"mplex"`` is
#: kept for benchmarks and for request/response-only use.
DEFAULT_MUXER: Final = "yamux"
_READ_CHUNK: Final = 64 * 1024
#: After a protocol error reply, how long we keep draining a hostile peer's bytes
#: before resetting, so that the reply is delivered and not lost to the reset.
_DRAIN_AFTER_ERROR_S: Final = 1.0
_DRAIN_AFTER_ERROR_BYTES: Final = 1024 * 1024
_CLOSE_TIMEOUT_S: Final = 5.0

HandlerResult: TypeAlias = "bytes | Awaitable[bytes | None] | None"
#: Serves a stream named by protocol id: ``(ctx, payload) -> reply payload | None``.
FrameHandler: TypeAlias = "Callable[[PeerContext, bytes], HandlerResult]"
ProtocolErrorHandler: TypeAlias = "Callable[[PeerContext, RemoteProtocolError], HandlerResult]"
MessageResult: TypeAlias = "Message | Awaitable[Message | None] | None"
#: Serves a stream named by grammar: ``(ctx, message) -> reply message | None``.
MessageHandler: TypeAlias = "Callable[[PeerContext, Message], MessageResult]"
#: Answers a protocol violation (the stream is in ERROR): an ``error`` message, or None.
MessageErrorHandler: TypeAlias = "Callable[[PeerContext, RemoteProtocolError], MessageResult]"
#: What a stream speaks: a grammar (checked messages) or a protocol id (raw frames).
Speech: TypeAlias = "Grammar | str"

E = TypeVar("E", bytes, Message)


class _Codec(Protocol):
    """A stream's sans-I/O codec: :class:`Connection` or :class:`Frames`."""

    @property
    def idle(self) -> bool: ...

    @property
    def last_frame_size(self) -> int: ...

    @property
    def buffered(self) -> int: ...

    def receive_data(self, data: bytes) -> None: ...

    def next_event(self) -> Any: ...

    def send(self, event: Any) -> bytes: ...


def _protocol_id(speech: Speech) -> str:
    return speech.protocol_id if isinstance(speech, Grammar) else speech


def _codec(speech: Speech, role: Role, max_frame_size: int) -> _Codec:
    if isinstance(speech, Grammar):
        return Connection(role, max_frame_size, grammar=speech)
    return Frames(max_frame_size)


def _quiet_libp2p() -> None:
    """libp2p logs every stream state change at INFO; keep it to WARNING unless asked."""
    if os.environ.get("LIBP2P_DEBUG"):
        return  # libp2p's own switch for debugging it
    logging.getLogger("libp2p").setLevel(logging.WARNING)
    # Some libp2p modules pin their own logger to INFO at import time.
    for name, item in list(logging.Logger.manager.loggerDict.items()):
        if (
            name.startswith("libp2p.")
            and isinstance(item, logging.Logger)
            and logging.NOTSET < item.level < logging.WARNING
        ):
            item.setLevel(logging.WARNING)


class DropLogLines(logging.Filter):
    """Drop a libp2p log line we already report in a typed way (or that is normal for us).

    ``unwanted(message)`` says which lines to drop. Used for:

    * a failed TCP dial: the caller gets a typed ``ConnectError`` (the outbox
      then retries with backoff), so libp2p's ERROR line is noise; a vault whose
      business is offline would print it on every retry;
    * gossipsub's refusals by peers that do not speak it (``pubsub.py``).
    """

    def __init__(self, unwanted: Callable[[str], bool]) -> None:
        super().__init__()
        self._unwanted = unwanted

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return not self._unwanted(record.getMessage())
        except Exception:
            return True


_quiet_libp2p()
logging.getLogger("libp2p.transport.tcp.tcp").addFilter(
    DropLogLines(lambda text: text.startswith("Failed to open TCP stream"))
)


class EndOfStream(ConnectionBroken):
    """The peer ended the stream cleanly (EOF). A :class:`ConnectionBroken`, so
    callers that only care "the stream is gone" need one ``except``."""


# -- error mapping -----------------------------------------------------------------------


def _leaf(exc: BaseException) -> BaseException:
    """The single interesting exception inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _is_eof(exc: BaseException) -> bool:
    leaf = _leaf(exc)
    if isinstance(leaf, StreamEOF | EOFError):
        return True
    return bool(getattr(leaf, "is_clean_close", False))


def _broken(exc: BaseException, what: str) -> ConnectionBroken:
    if _is_eof(exc):
        return EndOfStream(f"{what}: the peer closed the stream")
    return ConnectionBroken(f"{what}: the stream broke ({type(_leaf(exc)).__name__})")


def _peer(peer_id: str) -> ID:
    try:
        pid = ID.from_base58(peer_id)
    except Exception as exc:
        raise ConnectError("not a peer id") from exc
    if not pid.to_bytes():
        raise ConnectError("not a peer id")
    return pid


# -- one framed stream, trio side --------------------------------------------------------


class _Channel:
    """A libp2p stream driven through its codec. Trio-side only; the public wrappers bridge to it.

    ``closed_by_us`` and ``broken`` let every failure be reported as "you closed
    it" (:class:`StreamClosed`) or "it broke" (:class:`ConnectionBroken`).
    """

    __slots__ = (
        "broken",
        "budget",
        "closed_by_us",
        "codec",
        "held",
        "peer",
        "read_lock",
        "stream",
        "write_lock",
    )

    def __init__(
        self,
        stream: Any,
        codec: _Codec | None = None,
        budget: BufferBudget | None = None,
        peer: str = "",
    ) -> None:
        self.stream = stream
        self.codec: _Codec = codec if codec is not None else Frames()
        #: Inbound streams count their partial-frame bytes against the node's budget.
        self.budget = budget
        self.peer = peer
        self.held = 0
        self.write_lock = trio.Lock()
        self.read_lock = trio.Lock()
        self.closed_by_us = False
        self.broken = False

    @property
    def usable(self) -> bool:
        if self.closed_by_us or self.broken:
            return False
        try:
            return not self.stream.is_closed and not self.stream.muxed_conn.is_closed
        except Exception:
            return False

    @property
    def reusable(self) -> bool:
        """Fit for another pooled request: open, in step, and the peer has not ended it.

        A peer that closed or reset the stream while it sat idle in the pool has
        already told the muxer; checking that flag (mplex and yamux spell it
        differently) avoids sending a request into a stream nobody reads.
        """
        if not self.usable or not self.codec.idle:
            return False
        muxed = getattr(self.stream, "muxed_stream", None)
        for flag in ("event_remote_closed", "event_reset"):  # mplex
            event = getattr(muxed, flag, None)
            if event is not None and event.is_set():
                return False
        return not any(
            getattr(muxed, flag, False) is True
            for flag in ("recv_closed", "reset_received", "closed")  # yamux
        )

    def _peer_reset(self) -> bool:
        """Did the peer reset (not close) the stream?

        py-libp2p's yamux reports a read on a stream it already dropped after an
        RST as plain EOF; the muxed stream's own flag still knows better.
        """
        muxed = getattr(self.stream, "muxed_stream", None)
        if getattr(muxed, "reset_received", False) is True:  # yamux
            return True
        event = getattr(muxed, "event_reset", None)  # mplex
        return bool(event is not None and event.is_set())

    def _check(self, what: str) -> None:
        if self.closed_by_us:
            raise StreamClosed(f"{what}: the stream was closed by this side")
        if self.broken:
            raise ConnectionBroken(f"{what}: the stream is broken")

    async def write_raw(self, data: bytes, what: str = "send") -> None:
        """Write bytes as they are (ping, whose protocol has no frames)."""
        self._check(what)
        async with self.write_lock:
            self._check(what)
            await self._write(data, what)

    async def write_event(self, event: Any, what: str = "send") -> None:
        """Encode ``event`` with the codec (which checks it may be sent now) and write it.

        Encoding happens under the write lock, so the codec steps in the order the
        frames go out. LocalProtocolError if it may not be sent.
        """
        self._check(what)
        async with self.write_lock:
            self._check(what)
            await self._write(self.codec.send(event), what)

    async def _write(self, data: bytes, what: str) -> None:
        try:
            await self.stream.write(data)
        except Exception as exc:
            if self.closed_by_us:
                raise StreamClosed(f"{what}: the stream was closed by this side") from exc
            self.broken = True
            raise _broken(exc, what) from exc

    async def read_event(self, what: str = "receive") -> Any:
        """The codec's next event. RemoteProtocolError if the peer broke the protocol;
        EndOfStream if the peer closed between frames."""
        self._check(what)
        async with self.read_lock:
            while True:
                event = self.codec.next_event()
                self._account(what)
                if event is PEER_CLOSED:
                    self.broken = True
                    raise EndOfStream(f"{what}: the peer closed the stream")
                if event is not NEED_DATA:
                    return event
                self._check(what)
                try:
                    data = await self.stream.read(_READ_CHUNK)
                except Exception as exc:
                    if self.closed_by_us:
                        raise StreamClosed(f"{what}: the stream was closed by this side") from exc
                    self.broken = True
                    if self._peer_reset():
                        raise ConnectionBroken(f"{what}: the peer reset the stream") from exc
                    raise _broken(exc, what) from exc
                self.codec.receive_data(data)  # b"" is the peer's end of stream
                self._account(what)

    def _account(self, what: str) -> None:
        """Tell the budget what this stream holds now; over it, the stream is broken
        (the caller's frame loop ends and resets it, which releases the bytes)."""
        if self.budget is None:
            return
        now = self.codec.buffered
        try:
            self.budget.update(self.peer, self.held, now)
        except ConnectionBroken as exc:
            self.broken = True
            raise ConnectionBroken(f"{what}: {exc.message}") from exc
        self.held = now

    def release(self) -> None:
        """Give back what this stream held (it is done)."""
        if self.budget is not None and self.held:
            self.budget.update(self.peer, self.held, 0)
            self.held = 0

    async def close(self) -> None:
        """Graceful close (FIN); the peer reads what we sent, then EOF."""
        if self.closed_by_us:
            return
        self.closed_by_us = True
        with trio.move_on_after(_CLOSE_TIMEOUT_S) as scope:
            scope.shield = True
            try:
                await self.stream.close()
            except Exception:
                await self.reset()

    async def reset(self) -> None:
        """Abort the stream; the peer sees a reset ("it broke")."""
        self.closed_by_us = True
        with trio.move_on_after(_CLOSE_TIMEOUT_S) as scope:
            scope.shield = True
            try:
                await self.stream.reset()
            except Exception:
                logger.debug("stream reset failed", exc_info=True)


# -- public stream objects ---------------------------------------------------------------


class PeerContext:
    """What a frame handler knows about the stream it serves.

    ``remote_peer_id`` is the Noise-authenticated peer. :meth:`send` and
    :meth:`close` are coroutines for asyncio code (server push); they may run while
    the frame loop continues (see the module docstring for the concurrency rule).
    On a grammar stream :meth:`send` takes a :class:`~protocol.Message` and the
    stream's Connection checks that it may be sent now.
    """

    __slots__ = (
        "_busy",
        "_chan",
        "_ended",
        "_node",
        "_on_end",
        "_scope",
        "protocol_id",
        "remote_peer_id",
    )

    def __init__(self, node: Node, chan: _Channel, remote_peer_id: str, protocol_id: str) -> None:
        self._node = node
        self._chan = chan
        self._scope: trio.CancelScope | None = None
        #: a handler call is in progress: close() must not cancel it (it may be the caller)
        self._busy = False
        self._ended = False
        self._on_end: list[Callable[[], None]] = []
        self.remote_peer_id = remote_peer_id
        self.protocol_id = protocol_id

    @property
    def closed(self) -> bool:
        return not self._chan.usable

    def on_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when this stream's frame loop ends: the peer closed
        or reset it, its connection broke (a peer killed with ``kill -9``), or we
        closed it. Called at once if it has ended already. The callback must not
        block or raise (it runs on the event loop; an exception is logged)."""
        if self._ended:
            _call_quietly(callback)
        else:
            self._on_end.append(callback)

    def _end_loop(self) -> None:
        """The frame loop ended: run the ``on_end`` callbacks once."""
        self._ended = True
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            _call_quietly(callback)

    @property
    def frame_size(self) -> int:
        """Payload bytes of the frame being handled (for per-peer budgets)."""
        return self._chan.codec.last_frame_size

    async def send(self, event: bytes | Message) -> None:
        """Push one frame. StreamClosed if we closed it, ConnectionBroken if it broke,
        LocalProtocolError if the stream's grammar does not allow it now."""
        await self._node._call(self._chan.write_event, event)

    async def close(self) -> None:
        """End the stream gracefully and stop its frame loop. Idempotent."""
        await self._end(reset=False)

    async def reset(self) -> None:
        """Abort the stream: the peer's reads fail with ConnectionBroken. Idempotent."""
        await self._end(reset=True)

    async def _end(self, *, reset: bool) -> None:
        if self._chan.closed_by_us:
            return
        try:
            await self._node._call(self._close_trio, reset)
        except StreamClosed:
            pass

    async def _close_trio(self, reset: bool = False) -> None:
        if reset:
            await self._chan.reset()
        else:
            await self._chan.close()
        if self._scope is not None and not self._busy:
            self._scope.cancel()  # idle in a read: stop now; else the loop stops after the handler

    def __repr__(self) -> str:
        return f"PeerContext({self.protocol_id}, peer={self.remote_peer_id})"


class FramedStream(Generic[E]):
    """A client stream to one peer, for subscriptions and multi-frame sessions.

    Opened by grammar it carries :class:`~protocol.Message`s through a client
    :class:`~protocol.connection.Connection`; opened by protocol id, payload bytes.
    :meth:`receive` tells "you closed it" (:class:`StreamClosed`) from "it broke"
    (:class:`ConnectionBroken`; :class:`EndOfStream` when the peer closed cleanly).
    Use one receiver at a time; sends may come from any task.
    """

    __slots__ = ("_chan", "_node", "protocol_id", "remote_peer_id")

    def __init__(self, node: Node, chan: _Channel, remote_peer_id: str, protocol_id: str) -> None:
        self._node = node
        self._chan = chan
        self.remote_peer_id = remote_peer_id
        self.protocol_id = protocol_id

    @property
    def closed(self) -> bool:
        return not self._chan.usable

    async def send(self, event: E) -> None:
        await self._node._call(self._chan.write_event, event)

    async def receive(self) -> E:
        try:
            event: E = await self._node._call(self._chan.read_event)
            return event
        except RemoteProtocolError:
            await self._node._call(self._chan.reset)
            raise

    async def aclose(self) -> None:
        """Close gracefully. Idempotent; later send/receive raise StreamClosed."""
        await self._end(self._chan.close)

    async def reset(self) -> None:
        """Abort the stream (the peer sees it break)."""
        await self._end(self._chan.reset)

    async def _end(self, how: Callable[[], Awaitable[None]]) -> None:
        if self._chan.closed_by_us:
            return
        try:
            await self._node._call(how)
        except StreamClosed:
            self._chan.closed_by_us = True

    def __aiter__(self) -> FramedStream[E]:
        return self

    async def __anext__(self) -> E:
        """Frames until the peer ends the stream cleanly (then StopAsyncIteration)."""
        try:
            return await self.receive()
        except EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> FramedStream[E]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"FramedStream({self.protocol_id}, peer={self.remote_peer_id})"


# -- the node ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Registration:
    speech: Speech
    handler: Callable[[PeerContext, Any], Any]
    max_frame_size: int
    on_protocol_error: Callable[[PeerContext, RemoteProtocolError], Any] | None

    def codec(self) -> _Codec:
        return _codec(self.speech, Role.SERVER, self.max_frame_size)

    def default_error_reply(self, exc: RemoteProtocolError) -> Message | None:
        """A grammar stream tells the peer why it is closed even without a hook."""
        return error_from_exception(exc) if isinstance(self.speech, Grammar) else None


class _PoolEntry:
    __slots__ = ("chan", "lock")

    def __init__(self) -> None:
        self.lock = trio.Lock()
        self.chan: _Channel | None = None


def _is_awaitable(value: object) -> bool:
    return inspect.isawaitable(value)


def _call_quietly(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception as exc:
        logger.warning("a stream's on_end callback raised %s", type(exc).__name__)


def _connection_config(per_peer: int, max_outbound: int | None) -> ConnectionConfig:
    """The swarm's caps; with ``max_outbound``, room for that many dialled connections.

    py-libp2p 0.8.1's ``ConnectionConfig`` refuses a dial once the swarm holds
    300 connections ("Maximum connections limit reached") and its pruner closes
    connections above a high watermark of 300: both are raised with the
    resource manager's ceiling (:func:`_resources`), or a business could not
    keep more than 300 vaults' subscriptions open.
    """
    if max_outbound is None:
        return ConnectionConfig(max_connections_per_peer=per_peer)
    total = max_outbound + 256
    return ConnectionConfig(
        max_connections_per_peer=per_peer, max_connections=total, high_watermark=total
    )


def _resources(max_outbound: int | None) -> Any:
    """A py-libp2p resource manager allowing ``max_outbound`` dialled connections; None: its own.

    py-libp2p 0.8.1's ``new_resource_manager()`` (made when ``new_host`` gets
    none) caps established outbound connections at 256 and all connections at
    1,000/1,024, so a business with more vault relationships than that could
    not hold their subscriptions (``bench_business_scale.py``: "Established
    outbound limit exceeded: 256 >= 256"). Inbound limits stay as py-libp2p sets them.
    """
    if max_outbound is None:
        return None
    from libp2p.rcmgr import new_resource_manager
    from libp2p.rcmgr.connection_limits import new_connection_limits_with_defaults
    from libp2p.rcmgr.manager import ResourceLimits

    limits = new_connection_limits_with_defaults()
    inbound = limits.max_established_inbound or 256
    limits.max_established_outbound = max_outbound
    limits.max_pending_outbound = max(limits.max_pending_outbound or 64, 256)
    limits.max_established_total = max_outbound + inbound
    return new_resource_manager(
        limits=ResourceLimits(
            max_connections=max_outbound + inbound, max_streams=max(10_000, 4 * max_outbound)
        ),
        connection_limits=limits,
    )


class Node(Service):
    """A libp2p node with an asyncio API.

    ``async with Node.start(...) as node:``, or ``node = await Node.start(...)``
    and :meth:`close` it yourself (the shape of :mod:`protocol.lifecycle`).
    """

    def __init__(
        self,
        identity: Identity,
        guest: TrioGuest,
        host: Any,
        *,
        max_streams_per_peer: int,
        max_frame_size: int,
        budget: BufferBudget | None = None,
    ) -> None:
        self._identity = identity
        #: Partial-frame bytes inbound streams hold, per peer and in total (see .buffers).
        self.buffers = budget if budget is not None else BufferBudget()
        self._guest = guest
        self._host = host
        self._peer_id = identity.peer_id
        self._max_streams_per_peer = max_streams_per_peer
        self._max_frame_size = max_frame_size
        self._handlers: dict[str, _Registration] = {}
        self._inbound: dict[str, int] = {}
        self._pool: dict[tuple[str, Speech], _PoolEntry] = {}
        self._nursery: trio.Nursery | None = None
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()
        self._discovery: Discovery | None = None
        self._reach: Reach | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    @opener
    async def start(
        cls,
        identity: Identity,
        listen: Sequence[str] = DEFAULT_LISTEN,
        *,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        muxer: str = DEFAULT_MUXER,
        max_streams_per_peer: int = MAX_INBOUND_STREAMS_PER_PEER,
        max_frame_size: int = MAX_FRAME_SIZE,
        max_connections_per_peer: int = 1,
        on_peer: PeerCallback | None = None,
        reach: ReachConfig | None = None,
        max_buffered_per_peer: int = MAX_BUFFERED_PER_PEER,
        max_buffered_total: int = MAX_BUFFERED_TOTAL,
        max_outbound_connections: int | None = None,
    ) -> Node:
        """Start a node listening on ``listen``; dial ``bootstrap`` peers in the background.

        ``max_connections_per_peer=1`` is deliberate: py-libp2p's dialer waits a
        fixed 250 ms happy-eyeballs delay that only a success *at the per-peer
        cap* cancels, so the default cap of 3 makes every connect take 250 ms.
        ``max_frame_size`` bounds client-side frames (requests, streams); each
        handler has its own limit. ``muxer`` is ``"yamux"`` (default; full duplex,
        see :data:`DEFAULT_MUXER`) or ``"mplex"`` (request/response only). Bootstrap
        failures are logged, never raised; ``on_peer(peer_id, addrs)`` hears about
        peers found by bootstrap or mDNS. ``reach`` turns on the DHT, relay, DCUtR
        and AutoNAT (see :mod:`.reach`); without it the node dials multiaddrs only.
        ``max_buffered_per_peer`` / ``max_buffered_total`` bound the bytes of
        unfinished inbound frames (see :mod:`.buffers`).
        ``max_outbound_connections`` raises py-libp2p's ceiling on connections this
        node dials (its default resource manager allows 256 outbound, 1,024 in all):
        a business dials every vault it holds a subscription with, so the SDK sets
        it; inbound connections (peer-controlled) keep py-libp2p's 256.
        A fixed listen port that is taken raises :class:`~.addrs.AddressInUse`.
        """
        _quiet_libp2p()
        muxer_pref = muxer.upper()
        if muxer_pref not in ("MPLEX", "YAMUX"):
            raise ValueError(f"unknown muxer {muxer!r}: use 'mplex' or 'yamux'")
        try:
            listen_addrs = [multiaddr.Multiaddr(a) for a in listen]
        except Exception as exc:
            raise ValueError("invalid listen multiaddr") from exc
        _addrs.check_free(listen_addrs)
        muxer_opt = (
            {TProtocol(YAMUX_PROTOCOL_ID): Yamux}
            if muxer_pref == "YAMUX"
            else {TProtocol(MPLEX_PROTOCOL_ID): Mplex}
        )
        host = new_host(
            key_pair=create_new_key_pair(identity.seed()),
            muxer_opt=muxer_opt,
            listen_addrs=listen_addrs,
            connection_config=_connection_config(
                max_connections_per_peer, max_outbound_connections
            ),
            resource_manager=_resources(max_outbound_connections),
        )
        if str(host.get_id()) != identity.peer_id:  # pragma: no cover - a key encoding bug
            raise KluisError("libp2p peer id does not match the identity")
        _swarm_fix.install(host)  # py-libp2p 0.8.1's inbound-slot leak: see _swarm_fix
        host._addrs_factory = _addrs.expand_wildcards  # type: ignore[attr-defined]  # advertise dialable addresses only
        async with Steps() as steps:
            guest = await TrioGuest.acquire()
            steps.undo(guest.release, "release the trio guest")
            node = cls(
                identity,
                guest,
                host,
                max_streams_per_peer=max_streams_per_peer,
                max_frame_size=max_frame_size,
                budget=BufferBudget(max_buffered_per_peer, max_buffered_total),
            )
            if reach is not None:
                node._reach = Reach(host, reach)
            try:
                await guest.run(node._start_trio, listen_addrs)
            except Exception as exc:
                if isinstance(exc, KluisError):
                    raise
                raise ConnectError(f"could not start listening ({type(exc).__name__})") from exc
            steps.undo(node._stop_host, "stop the libp2p host")
            discovery = Discovery(node, bootstrap=list(bootstrap), mdns=mdns, on_peer=on_peer)
            await discovery.start()
            steps.undo(discovery.stop, "stop discovery")
            node._discovery = discovery
            node._adopt(steps)
        logger.info("node %s listening on %d address(es)", node.peer_id, len(node.addrs))
        return node

    async def _start_trio(self, listen_addrs: list[multiaddr.Multiaddr]) -> None:
        await self._guest.nursery.start(self._serve, listen_addrs)

    async def _serve(
        self,
        listen_addrs: list[multiaddr.Multiaddr],
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        started = False
        try:
            with self._scope:
                async with self._host.run(listen_addrs=listen_addrs):
                    async with trio.open_nursery() as nursery:
                        if self._reach is not None:
                            await nursery.start(self._reach.run)
                        self._nursery = nursery
                        started = True
                        task_status.started()
                        await trio.sleep_forever()
        except Exception:
            if not started:
                raise
            logger.exception("libp2p host of %s stopped with an error", self._peer_id)
        finally:
            self._nursery = None
            self._stopped.set()

    async def close(self) -> None:
        """Stop discovery and the host, end every stream and call, release the trio guest.

        Idempotent; every later call raises :class:`StreamClosed`.
        """
        await super().close()

    async def _stop_host(self) -> None:
        try:
            await self._guest.run(self._stop_trio)
        except Exception:
            logger.debug("error while stopping the host", exc_info=True)

    async def _stop_trio(self) -> None:
        if self._reach is not None:
            await self._reach.stop()
        for entry in self._pool.values():
            if entry.chan is not None:
                entry.chan.closed_by_us = True
        # Before the cancel: py-libp2p 0.8.1 closes connections inside the cancelled
        # scope and leaves their sockets open (see _swarm_fix.close_connections).
        await _swarm_fix.close_connections(self._host, _CLOSE_TIMEOUT_S)
        self._scope.cancel()
        with trio.move_on_after(_CLOSE_TIMEOUT_S):
            await self._stopped.wait()
        with trio.move_on_after(_CLOSE_TIMEOUT_S):
            await self._host.close()

    # -- identity and peers --------------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return self._peer_id

    @property
    def identity(self) -> Identity:
        return self._identity

    @property
    def addrs(self) -> list[str]:
        """Listen multiaddrs, each ending in ``/p2p/<peer id>``."""
        if self._closed:
            return []
        return [str(a) for a in self._host.get_addrs()]

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def libp2p_host(self) -> Any:
        """The underlying py-libp2p host, for runtime internals only (trio-side API)."""
        return self._host

    def peers(self) -> list[str]:
        """Peers with a live connection right now."""
        if self._closed:
            return []
        return [str(p) for p in self._host.get_connected_peers()]

    def discovered(self) -> dict[str, list[str]]:
        """Peers learned from bootstrap config or mDNS, with their addresses."""
        return self._discovery.snapshot() if self._discovery is not None else {}

    def on_peer(self, callback: PeerCallback) -> Callable[[], None]:
        """Call ``callback(peer_id, addrs)`` on asyncio per discovered peer; returns unsubscribe."""
        if self._discovery is None:
            raise StreamClosed("the node is closed")
        return self._discovery.subscribe(callback)

    # -- bridge helper -------------------------------------------------------------------------

    async def _call(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run trio work for this node; the node's shutdown ends it with StreamClosed."""
        nursery = self._nursery
        if self._closed or nursery is None:
            raise StreamClosed("the node is closed")
        try:
            return await self._guest.run(afn, *args, nursery=nursery)
        except (GuestCancelled, GuestError) as exc:
            raise StreamClosed("the node is closed") from exc
        except RuntimeError as exc:
            if self._closed:  # "Nursery is closed to new arrivals" during shutdown
                raise StreamClosed("the node is closed") from exc
            raise

    # -- connect and ping ----------------------------------------------------------------------

    async def connect(self, addr: str) -> str:
        """Dial ``addr`` and return the authenticated peer id.

        ``addr`` is a multiaddr ending in ``/p2p/<id>``, or (with ``reach``) a bare
        peer id: then, or when the address no longer works, the peer is looked up
        in the DHT and dialled directly or through its relay.
        """
        if addr.startswith("/"):
            try:
                info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
            except Exception as exc:
                raise ConnectError("not a dialable multiaddr with a /p2p/ peer id") from exc
        else:
            if self._reach is None:
                raise ConnectError("dialling a bare peer id needs bootstrap peers (the DHT)")
            info = PeerInfo(_peer(addr), [])
        if self._reach is not None:
            await self._call(self._reach.connect, info.peer_id, list(info.addrs))
        else:
            await self._call(self._connect_trio, info)
        return str(info.peer_id)

    @property
    def reach(self) -> Reach | None:
        """The DHT/relay/NAT services (None without ``reach=``); trio-side internals."""
        return self._reach

    def path_to(self, peer_id: str) -> str | None:
        """``"direct"``/``"relayed"``: how we are connected to ``peer_id`` now; None if not."""
        if self._closed:
            return None
        if self._reach is not None:
            return self._reach.path_to(_peer(peer_id))
        return "direct" if peer_id in self.peers() else None

    async def _connect_trio(self, info: Any) -> None:
        try:
            await self._host.connect(info)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise ConnectError(f"could not connect to {info.peer_id}") from exc

    async def ping(self, peer_id: str, *, timeout: float = 10.0) -> float:
        """Round-trip time in seconds, over the standard ``/ipfs/ping/1.0.0`` protocol."""
        return float(await self._call(self._ping_trio, _peer(peer_id), timeout))

    async def _ping_trio(self, peer: ID, timeout: float) -> float:
        try:
            with trio.fail_after(timeout):
                stream = await self._open_raw(peer, PING_PROTOCOL)
                chan = _Channel(stream)
                try:
                    token = secrets.token_bytes(PING_LENGTH)
                    buf = bytearray()
                    t0 = time.perf_counter()
                    await chan.write_raw(token, "ping")
                    while len(buf) < PING_LENGTH:
                        try:
                            data = await stream.read(PING_LENGTH - len(buf))
                        except Exception as exc:
                            raise _broken(exc, "ping") from exc
                        if not data:
                            raise EndOfStream("ping: the peer closed the stream")
                        buf += data
                    rtt = time.perf_counter() - t0
                finally:
                    await chan.close()
        except trio.TooSlowError as exc:
            raise TransportError("ping timed out", code=ErrorCode.TIMEOUT) from exc
        if bytes(buf) != token:
            raise ConnectionBroken("ping: the peer echoed the wrong bytes")
        return rtt

    async def _open_raw(self, peer: ID, protocol_id: str) -> Any:
        """A negotiated libp2p stream; dials if needed. Failures are ConnectError."""
        try:
            if self._reach is not None and not self._host.get_network().connections.get(peer):
                # No connection left (a relayed circuit ended at the relay's limit, the
                # relay died, the peer moved): the swarm alone would dial only direct
                # addresses; reach also looks the peer up and goes through a relay.
                await self._reach.connect(peer, [])
            return await self._host.new_stream(peer, [TProtocol(protocol_id)])
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise ConnectError(f"could not open {protocol_id} to {peer}") from exc

    # -- client: request / response ------------------------------------------------------------

    @overload
    async def request(
        self, peer_id: str, protocol: str, payload: bytes, timeout: float = 10.0
    ) -> bytes: ...

    @overload
    async def request(
        self, peer_id: str, protocol: Grammar, payload: Message, timeout: float = 10.0
    ) -> Message: ...

    async def request(
        self, peer_id: str, protocol: Speech, payload: Any, timeout: float = 10.0
    ) -> Any:
        """Send one request on the pooled stream for (peer, protocol); return the one reply.

        With a :class:`~protocol.connection.Grammar`, ``payload`` is a message and
        so is the reply: the stream's client Connection checks that the request
        may be sent and that the reply answers it. With a protocol id, both are
        frame payloads. A pooled stream is used again only when it is back in
        ``IDLE`` with nothing buffered (a subscription's ack, say, leaves it open:
        it is closed instead).

        Errors: :class:`ConnectError` (unreachable, or the peer does not speak the
        protocol), :class:`ConnectionBroken` (reset or EOF mid-request; the pooled
        stream is dropped so the next request opens a fresh one),
        :class:`StreamClosed` (this node was closed), :class:`TransportError` with
        code ``timeout``, :class:`RemoteProtocolError` (a reply that breaks the
        protocol), :class:`LocalProtocolError` (a request we may not send).
        """
        if not isinstance(protocol, Grammar) and len(payload) > self._max_frame_size:
            raise LocalProtocolError(
                f"request of {len(payload)} bytes is over the {self._max_frame_size}-byte limit"
            )
        return await self._call(
            self._request_trio, peer_id, _peer(peer_id), protocol, payload, timeout
        )

    async def _request_trio(
        self, peer_id: str, peer: ID, protocol: Speech, payload: Any, timeout: float
    ) -> Any:
        key = (peer_id, protocol)
        entry = self._pool.get(key)
        if entry is None:
            entry = self._pool[key] = _PoolEntry()
        protocol_id = _protocol_id(protocol)
        try:
            with trio.fail_after(timeout):
                async with entry.lock:
                    return await self._request_locked(entry, peer, protocol, payload)
        except trio.TooSlowError as exc:
            raise TransportError(
                f"no reply on {protocol_id} within {timeout}s", code=ErrorCode.TIMEOUT
            ) from exc
        finally:
            # Forget entries without a stream, so the pool does not grow with every
            # peer ever asked; a waiter keeps the entry (it holds a reference anyway).
            if (
                entry.chan is None
                and not entry.lock.locked()
                and entry.lock.statistics().tasks_waiting == 0
                and self._pool.get(key) is entry
            ):
                del self._pool[key]

    async def _request_locked(
        self, entry: _PoolEntry, peer: ID, protocol: Speech, payload: Any
    ) -> Any:
        protocol_id = _protocol_id(protocol)
        for attempt in (0, 1):
            chan = entry.chan
            reused = chan is not None
            if chan is None or not chan.reusable:
                if chan is not None:
                    await chan.reset()
                reused = False
                chan = entry.chan = _Channel(
                    await self._open_raw(peer, protocol_id),
                    _codec(protocol, Role.CLIENT, self._max_frame_size),
                )
            try:
                await chan.write_event(payload, "request")
            except ConnectionBroken:
                entry.chan = None
                await chan.reset()
                if reused and attempt == 0:
                    continue  # a stale pooled stream: nothing was sent, so retrying is safe
                raise
            except BaseException:
                entry.chan = None
                await chan.reset()
                raise
            try:
                reply = await chan.read_event("request")
            except EndOfStream:
                if entry.chan is chan:
                    entry.chan = None
                await chan.reset()
                if reused and attempt == 0:
                    # The peer had closed the idle pooled stream (e.g. right after an
                    # error reply) and its FIN crossed our request: it never handled
                    # the request, so one retry on a fresh stream is safe.
                    continue
                raise
            except BaseException:
                # Cancelled, timed out, broken or a bad reply: the stream is out of
                # step with the peer (a late reply would answer the next request).
                if entry.chan is chan:
                    entry.chan = None
                await chan.reset()
                raise
            if not chan.codec.idle:  # e.g. subscribed: not a request/reply stream any more
                if entry.chan is chan:
                    entry.chan = None
                await chan.close()
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    # -- client: streams -----------------------------------------------------------------------

    @overload
    async def open_stream(
        self, peer_id: str, protocol: str, *, timeout: float = 10.0
    ) -> FramedStream[bytes]: ...

    @overload
    async def open_stream(
        self, peer_id: str, protocol: Grammar, *, timeout: float = 10.0
    ) -> FramedStream[Message]: ...

    async def open_stream(
        self, peer_id: str, protocol: Speech, *, timeout: float = 10.0
    ) -> FramedStream[Any]:
        """A fresh (not pooled) stream; end it with :meth:`FramedStream.aclose`.

        By grammar it carries messages through a client Connection; by protocol
        id, frame payloads.
        """
        chan: _Channel = await self._call(self._open_trio, _peer(peer_id), protocol, timeout)
        return FramedStream(self, chan, peer_id, _protocol_id(protocol))

    async def _open_trio(self, peer: ID, protocol: Speech, timeout: float) -> _Channel:
        protocol_id = _protocol_id(protocol)
        try:
            with trio.fail_after(timeout):
                return _Channel(
                    await self._open_raw(peer, protocol_id),
                    _codec(protocol, Role.CLIENT, self._max_frame_size),
                )
        except trio.TooSlowError as exc:
            raise TransportError(
                f"opening {protocol_id} timed out", code=ErrorCode.TIMEOUT
            ) from exc

    # -- server: frame handlers ----------------------------------------------------------------

    @overload
    def set_frame_handler(
        self,
        protocol: str,
        handler: FrameHandler,
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
        on_protocol_error: ProtocolErrorHandler | None = None,
    ) -> None: ...

    @overload
    def set_frame_handler(
        self,
        protocol: Grammar,
        handler: MessageHandler,
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
        on_protocol_error: MessageErrorHandler | None = None,
    ) -> None: ...

    def set_frame_handler(
        self,
        protocol: Speech,
        handler: Callable[[PeerContext, Any], Any],
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
        on_protocol_error: Callable[[PeerContext, RemoteProtocolError], Any] | None = None,
    ) -> None:
        """Serve ``protocol``: each inbound event goes to ``handler(ctx, event)``.

        By grammar, every inbound stream runs through a server Connection: the
        handler gets each message the grammar allows and returns the reply
        message (or None, having sent it with ``ctx.send``). By protocol id, the
        handler gets and returns frame payloads.

        A plain function is called inline on the trio side (the fast path: it must
        not block). A handler that returns an awaitable is awaited on asyncio.
        A non-None result is sent back as one frame. A handler exception, or a
        reply the grammar does not allow, is logged (type only, never payload) and
        the stream is reset; the node keeps serving.

        When the peer breaks the protocol (oversized or malformed frame; on a
        grammar stream also a bad message, an unexpected one, a reply to nothing)
        ``on_protocol_error(ctx, exc)`` may return an error frame to send before
        the stream is closed. A grammar stream without the hook answers with the
        typed ``error`` for ``exc``.
        """
        if self._closed:
            raise StreamClosed("the node is closed")
        protocol_id = _protocol_id(protocol)
        self._handlers[protocol_id] = _Registration(
            protocol, handler, max_frame_size, on_protocol_error
        )

        async def stream_handler(stream: Any) -> None:
            await self._serve_stream(protocol_id, stream)

        self._host.set_stream_handler(TProtocol(protocol_id), stream_handler)

    async def _serve_stream(self, protocol_id: str, stream: Any) -> None:
        reg = self._handlers.get(protocol_id)
        peer_id = str(stream.muxed_conn.peer_id)
        if reg is None or self._closed:
            await _Channel(stream).reset()
            return
        active = self._inbound.get(peer_id, 0)
        if active >= self._max_streams_per_peer:
            logger.warning(
                "refusing a %s stream from %s: %d streams already open",
                protocol_id,
                peer_id,
                active,
            )
            await _Channel(stream).reset()
            return
        self._inbound[peer_id] = active + 1
        chan = _Channel(stream, reg.codec(), self.buffers, peer_id)
        ctx = PeerContext(self, chan, peer_id, protocol_id)
        try:
            with trio.CancelScope() as scope:
                ctx._scope = scope
                await self._frame_loop(reg, ctx, chan)
        finally:
            left = self._inbound.get(peer_id, 1) - 1
            if left > 0:
                self._inbound[peer_id] = left
            else:
                self._inbound.pop(peer_id, None)
            chan.release()
            ctx._end_loop()
            if not chan.closed_by_us:
                await chan.reset()

    async def _frame_loop(self, reg: _Registration, ctx: PeerContext, chan: _Channel) -> None:
        while True:
            try:
                event = await chan.read_event()
            except RemoteProtocolError as exc:
                await self._protocol_error(reg, ctx, chan, exc)
                return
            except EndOfStream:
                await chan.close()  # the peer finished; so do we
                return
            except TransportError:
                return  # broken, or closed by us: nothing to answer
            ctx._busy = True
            reply: Any
            try:
                reply = reg.handler(ctx, event)
                if _is_awaitable(reply):
                    reply = await self._guest.run_asyncio(reply)
            except Exception as exc:
                ctx._busy = False
                logger.warning(
                    "frame handler for %s from %s raised %s; resetting the stream",
                    ctx.protocol_id,
                    ctx.remote_peer_id,
                    type(exc).__name__,
                )
                await chan.reset()
                return
            ctx._busy = False
            if chan.closed_by_us:
                return  # the handler (or a push task) closed the stream
            if reply is None:
                continue
            try:
                await chan.write_event(reply)
            except LocalProtocolError as exc:
                logger.warning(
                    "a reply on %s may not be sent (%s); resetting the stream",
                    ctx.protocol_id,
                    exc.message,
                )
                await chan.reset()
                return
            except TransportError:
                return

    async def _protocol_error(
        self, reg: _Registration, ctx: PeerContext, chan: _Channel, exc: RemoteProtocolError
    ) -> None:
        """The peer broke the protocol: one error frame if we have one, close, drain, reset."""
        logger.info(
            "protocol error on %s from %s: %s", ctx.protocol_id, ctx.remote_peer_id, exc.code
        )
        reply: Any = None
        if reg.on_protocol_error is not None:
            try:
                reply = reg.on_protocol_error(ctx, exc)
                if _is_awaitable(reply):
                    reply = await self._guest.run_asyncio(reply)
            except Exception as hook_exc:
                logger.warning(
                    "on_protocol_error for %s raised %s", ctx.protocol_id, type(hook_exc).__name__
                )
                reply = None
        else:
            reply = reg.default_error_reply(exc)
        if reply is not None:
            try:
                # A Connection in ERROR still sends an error message; nothing else.
                await chan.write_event(reply)
            except Exception:
                await chan.reset()
                return
        await chan.close()
        # Keep reading (and discarding) briefly so the peer receives our reply
        # before the stream goes away, then reset whatever is left.
        drained = 0
        with trio.move_on_after(_DRAIN_AFTER_ERROR_S):
            while drained < _DRAIN_AFTER_ERROR_BYTES:
                try:
                    data = await chan.stream.read(_READ_CHUNK)
                except Exception:
                    return
                if not data:
                    return
                drained += len(data)
        await chan.reset()

    def __repr__(self) -> str:
        return f"Node({self._peer_id}, closed={self._closed})"
