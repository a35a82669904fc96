"""The node runtime: py-libp2p running as a trio guest on the asyncio loop.

This package is the one place in :mod:`protocol` that imports libp2p or trio.
Import it lazily (``from protocol.runtime import Node``) where the network is
needed, so that the sans-I/O core stays importable without them.

Public API::

    async with Node.start(identity, ["/ip4/127.0.0.1/tcp/0"], bootstrap=[...]) as node:
        node.peer_id, node.addrs                  # addrs end in /p2p/<peer id>
        await node.connect(addr) -> peer id
        await node.ping(peer_id) -> seconds
        # a grammar: messages, checked by the h11-style Connection on every stream
        node.set_frame_handler(ACCESS_GRAMMAR, handler, max_frame_size=..., on_protocol_error=...)
        await node.request(peer_id, ACCESS_GRAMMAR, message, timeout=10.0) -> reply message
        stream = await node.open_stream(peer_id, ACCESS_GRAMMAR)   # FramedStream[Message]
        # a bare protocol id: frame payloads (bytes) as they are
        node.set_frame_handler(NEGOTIATE, handler)
        await node.request(peer_id, NEGOTIATE, payload) -> reply bytes
    # or: node = await Node.start(...); ...; await node.close()
"""

from protocol.standins import defer_imports

# py-libp2p 0.8's host imports its AutoTLS ACME client at the top
# (libp2p.host.basic_host -> libp2p.security.tls.autotls.acme and .broker), and with
# them httpx, requests and, through httpx's command line, rich and pygments: about
# 0.1 s of every node's start, for a feature kluis never turns on (issue 14 §2, D38).
# The names it takes are stand-ins until used; tests/protocol/test_standins.py.
defer_imports(
    "libp2p.host.basic_host",
    {
        "libp2p.security.tls.autotls.acme": ("ACMEClient", "compute_b36_peer_id"),
        "libp2p.security.tls.autotls.broker": ("BrokerClient",),
    },
)

from ._bridge import GuestCancelled, GuestError, TrioGuest  # noqa: E402
from .node import (  # noqa: E402
    DEFAULT_MUXER,
    MAX_INBOUND_STREAMS_PER_PEER,
    EndOfStream,
    FramedStream,
    FrameHandler,
    MessageErrorHandler,
    MessageHandler,
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
    "MessageErrorHandler",
    "MessageHandler",
    "Node",
    "PeerContext",
    "ProtocolErrorHandler",
    "TrioGuest",
]
