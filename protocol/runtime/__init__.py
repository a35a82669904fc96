"""The node runtime: py-libp2p running as a trio guest on the asyncio loop.

This package is the one place in :mod:`protocol` that imports libp2p or trio.
Import it lazily (``from protocol.runtime import Node``) where the network is
needed, so that the sans-I/O core stays importable without them.

Public API::

    node = await Node.start(identity, ["/ip4/127.0.0.1/tcp/0"], bootstrap=[...], mdns=False)
    node.peer_id, node.addrs                      # addrs end in /p2p/<peer id>
    await node.connect(addr) -> peer id
    await node.ping(peer_id) -> seconds
    node.set_frame_handler(protocol_id, handler, max_frame_size=..., on_protocol_error=...)
    await node.request(peer_id, protocol_id, payload, timeout=10.0) -> reply bytes
    stream = await node.open_stream(peer_id, protocol_id)   # FramedStream
    await node.close()                            # or: async with await Node.start(...) as node
"""

from ._bridge import GuestCancelled, GuestError, TrioGuest
from .node import (
    DEFAULT_MUXER,
    MAX_INBOUND_STREAMS_PER_PEER,
    EndOfStream,
    FramedStream,
    FrameHandler,
    Node,
    PeerContext,
    ProtocolErrorHandler,
)

__all__ = [
    "DEFAULT_MUXER",
    "MAX_INBOUND_STREAMS_PER_PEER",
    "EndOfStream",
    "FrameHandler",
    "FramedStream",
    "GuestCancelled",
    "GuestError",
    "Node",
    "PeerContext",
    "ProtocolErrorHandler",
    "TrioGuest",
]
