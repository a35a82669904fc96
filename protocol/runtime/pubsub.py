"""Gossipsub for a :class:`~protocol.runtime.Node`: subscribe to topics, publish bytes.

::

    ps = await PubSub.attach(node)                    # before the node connects to anyone
    sub = await ps.subscribe("/kluis/intents/1/phone", validator=check)
    await ps.wait_for_subscribers("/kluis/intents/1/phone", 1, timeout=5)
    await ps.publish("/kluis/intents/1/phone", b"...")
    async for msg in sub:                             # PubSubMessage(data, from_peer, topic)
        ...
    await sub.close(); await ps.close()               # or just node.close()

py-libp2p's ``Pubsub`` + ``GossipSub`` run as trio services inside the node's
own nursery, so closing the node stops them too. Every message is signed by its
publisher's libp2p key (strict signing) and checked by libp2p before any of our
code sees it; ``from_peer`` is that verified publisher.

Bounds: an inbound pubsub RPC over ``max_message_size`` is refused by libp2p; a
message over ``max_message_size`` is dropped by our validator (and, being
invalid, is not forwarded). A per-topic ``validator(data, from_peer) -> bool``
runs in the same place: a message it refuses (or that makes it raise) is dropped
silently, with a debug log, and never forwarded to the mesh. Each subscription
buffers at most ``buffer`` messages; beyond that new messages are dropped.

Attach *before* the node dials or is dialled: libp2p learns about new
connections through a notifee, and connections made earlier are not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from .._exceptions import ErrorCode, StreamClosed, TransportError
from .node import DropLogLines, Node

__all__ = ["MAX_PUBSUB_MESSAGE", "PubSub", "PubSubMessage", "Subscription", "Validator"]

logger = logging.getLogger(__name__)

#: Largest message (payload bytes) we publish or accept.
MAX_PUBSUB_MESSAGE: Final = 16 * 1024
#: Slack for the protobuf envelope (topic, seqno, key, signature) around one message.
_RPC_OVERHEAD: Final = 4 * 1024
_GOSSIP_PROTOCOLS: Final = (TProtocol(PROTOCOL_ID_V11), TProtocol(PROTOCOL_ID))

Validator = Callable[[bytes, str], bool]


# Gossipsub opens a meshsub stream to *every* connected peer; a kluis vault node
# that only serves access refuses it, which is normal here, yet libp2p's host
# logs each refusal as a multi-line ERROR.
logging.getLogger("libp2p.host.basic_host").addFilter(
    DropLogLines(lambda text: "/meshsub/" in text and "not supported" in text)
)


@dataclass(frozen=True, slots=True)
class PubSubMessage:
    data: bytes
    #: the publisher's peer id, verified by libp2p's message signature check
    from_peer: str
    topic: str


class Subscription:
    """Messages on one topic, as an async iterator. Close it (or the PubSub) when done."""

    def __init__(self, pubsub: PubSub, topic: str, buffer: int) -> None:
        self._pubsub = pubsub
        self.topic = topic
        self._queue: asyncio.Queue[PubSubMessage | None] = asyncio.Queue(buffer)
        self._closed = False

    def _put(self, msg: PubSubMessage) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(msg)
        except asyncio.QueueFull:
            logger.debug("subscription to %s is full; dropping a message", self.topic)

    async def get(self) -> PubSubMessage:
        """The next message; :class:`StreamClosed` once the subscription is closed."""
        if self._closed and self._queue.empty():
            raise StreamClosed("the subscription is closed")
        msg = await self._queue.get()
        if msg is None:
            self._closed = True
            raise StreamClosed("the subscription is closed")
        return msg

    def __aiter__(self) -> AsyncIterator[PubSubMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PubSubMessage]:
        while True:
            try:
                yield await self.get()
            except StreamClosed:
                return

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def close(self) -> None:
        if self._closed:
            return
        self._end()
        await self._pubsub._unsubscribe(self)


class PubSub:
    """Gossipsub on one node. Build with :meth:`attach`."""

    def __init__(self, node: Node, max_message_size: int) -> None:
        self._node = node
        self.max_message_size = max_message_size
        self._pubsub: Any = None
        self._router: Any = None
        self._subs: dict[str, list[Subscription]] = {}
        self._validators: dict[str, Validator] = {}
        self._scope: trio.CancelScope | None = None
        self._closed = False

    @classmethod
    async def attach(
        cls,
        node: Node,
        *,
        degree: int = 6,
        degree_low: int = 4,
        degree_high: int = 12,
        heartbeat_interval: int = 1,
        max_message_size: int = MAX_PUBSUB_MESSAGE,
    ) -> PubSub:
        """Start gossipsub on ``node`` (which must not have connected to anyone yet)."""
        self = cls(node, max_message_size)
        router = GossipSub(
            protocols=list(_GOSSIP_PROTOCOLS),
            degree=degree,
            degree_low=degree_low,
            degree_high=degree_high,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=heartbeat_interval,
            time_to_live=30,
        )
        pubsub = Pubsub(
            node._host,
            router,
            strict_signing=True,
            max_inbound_rpc_size=max_message_size + _RPC_OVERHEAD,
        )
        self._router, self._pubsub = router, pubsub
        await node._call(self._start_trio)
        return self

    async def _start_trio(self) -> None:
        nursery = self._node._nursery
        if nursery is None:
            raise StreamClosed("the node is closed")
        await nursery.start(self._run)

    async def _run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                async with background_trio_service(self._pubsub):
                    async with background_trio_service(self._router):
                        await self._pubsub.wait_until_ready()
                        task_status.started()
                        await trio.sleep_forever()
        finally:
            for subs in self._subs.values():
                for sub in subs:
                    sub._end()

    @property
    def peer_id(self) -> str:
        return self._node.peer_id

    def _check_open(self) -> None:
        if self._closed or self._node.closed:
            raise StreamClosed("pubsub is closed")

    # -- subscribing --------------------------------------------------------------

    async def subscribe(
        self, topic: str, *, validator: Validator | None = None, buffer: int = 256
    ) -> Subscription:
        """Receive messages on ``topic``. ``validator`` drops (and stops forwarding) bad ones."""
        self._check_open()
        sub = Subscription(self, topic, buffer)
        first = topic not in self._subs
        self._subs.setdefault(topic, []).append(sub)
        if validator is not None:
            self._validators[topic] = validator
        if first:
            self._pubsub.set_topic_validator(topic, self._make_validator(topic), False)
            await self._node._call(self._subscribe_trio, topic)
        return sub

    def _make_validator(self, topic: str) -> Callable[[Any, Any], bool]:
        def validate(_forwarder: Any, msg: Any) -> bool:
            data = bytes(msg.data)
            if len(data) > self.max_message_size:
                logger.debug("dropping an oversized message on %s", topic)
                return False
            check = self._validators.get(topic)
            if check is None:
                return True
            try:
                ok = bool(check(data, str(ID(msg.from_id))))
            except Exception as exc:
                logger.debug("validator for %s raised %s; dropping", topic, type(exc).__name__)
                return False
            if not ok:
                logger.debug("dropping an invalid message on %s", topic)
            return ok

        return validate

    async def _subscribe_trio(self, topic: str) -> None:
        subscription = await self._pubsub.subscribe(topic)
        nursery = self._node._nursery
        if nursery is None:
            raise StreamClosed("the node is closed")
        nursery.start_soon(self._pump, topic, subscription)

    async def _pump(self, topic: str, subscription: Any) -> None:
        try:
            async for msg in subscription:
                try:
                    item = PubSubMessage(bytes(msg.data), str(ID(msg.from_id)), topic)
                except Exception:
                    logger.debug("dropping a message with an unreadable sender on %s", topic)
                    continue
                for sub in list(self._subs.get(topic, ())):
                    sub._put(item)
        except (trio.EndOfChannel, trio.ClosedResourceError):
            pass
        finally:
            for sub in list(self._subs.get(topic, ())):
                sub._end()

    async def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, [])
        with contextlib.suppress(ValueError):
            subs.remove(sub)
        if subs or self._closed or self._node.closed:
            return
        self._subs.pop(sub.topic, None)
        self._validators.pop(sub.topic, None)
        with contextlib.suppress(TransportError):
            await self._node._call(self._pubsub.unsubscribe, sub.topic)

    # -- publishing ----------------------------------------------------------------

    async def publish(self, topic: str, data: bytes) -> None:
        """Publish ``data`` on ``topic`` (signed by this node's key)."""
        self._check_open()
        if len(data) > self.max_message_size:
            raise ValueError(f"message of {len(data)} bytes is over {self.max_message_size}")
        await self._node._call(self._pubsub.publish, topic, bytes(data))

    def subscribers(self, topic: str) -> list[str]:
        """Peers we know to be subscribed to ``topic`` (directly connected ones)."""
        if self._pubsub is None:
            return []
        return [str(p) for p in self._pubsub.peer_topics.get(topic, ())]

    def mesh_peers(self, topic: str) -> list[str]:
        """Peers in this node's gossipsub mesh for ``topic`` (we forward to these)."""
        if self._router is None:
            return []
        return [str(p) for p in self._router.mesh.get(topic, ())]

    async def wait_for_mesh(self, topic: str, count: int = 1, *, timeout: float = 10.0) -> int:
        """Wait until ``count`` peers are in our mesh for ``topic`` (heartbeats graft them)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            n = len(self.mesh_peers(topic))
            if n >= count:
                return n
            if loop.time() >= end:
                raise TransportError(
                    f"only {n} of {count} mesh peers on the topic within {timeout}s",
                    code=ErrorCode.TIMEOUT,
                )
            await asyncio.sleep(0.02)

    async def wait_for_subscribers(
        self, topic: str, count: int = 1, *, timeout: float = 10.0
    ) -> int:
        """Wait until ``count`` connected peers are subscribed to ``topic``; return how many are."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            n = len(self.subscribers(topic))
            if n >= count:
                return n
            if loop.time() >= end:
                raise TransportError(
                    f"only {n} of {count} subscribers on the topic within {timeout}s",
                    code=ErrorCode.TIMEOUT,
                )
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Stop gossipsub on this node (the node keeps running). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in subs:
                sub._end()
        self._subs.clear()
        scope = self._scope
        if scope is not None and not self._node.closed:
            with contextlib.suppress(TransportError):
                await self._node._call(_cancel, scope)


async def _cancel(scope: trio.CancelScope) -> None:
    scope.cancel()
