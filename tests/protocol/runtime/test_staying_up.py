"""Staying up: a node serves connection 1,001 from a fresh peer id like connection one.

Regression for py-libp2p 0.8.1's inbound-slot leak (see ``protocol/runtime/_swarm_fix.py``):
before the fix, connection 251 was refused for the rest of the process's life.

Why it takes 35-70 s (D48): each connection costs ~22 ms of CPU on a quiet core,
both ends in this process; of that, the fresh client (its key ~0.1 ms, ``new_host``
and ``run`` ~1.5 ms) is under 10 %. The rest is the connection the test is about:
TCP, two multistream-selects, a Noise handshake, yamux, identify both ways, the
echo stream and the close, on the node's side as much as the client's. Reusing
one dialling host under changing identities would save that <10 % and prove less
(a host whose key is swapped is not a fresh peer); fewer connections would not
reach past the 250 leaked slots by a margin, nor show that state does not grow.
"""

from __future__ import annotations

import gc
import os
import secrets
from typing import Any

import multiaddr
import pytest
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import info_from_p2p_addr

from protocol.framing import encode_frame
from protocol.runtime import Node

from .conftest import NodeFactory

ECHO = "/kluis-test/echo/1.0.0"
CONNECTIONS = 1000
WARM_UP = 50
#: A few fds may be in flight (a socket in TIME_WAIT is not an fd; a half-closed one may be).
FD_MARGIN = 8
#: RSS may grow by allocator fragmentation, never by per-connection state (~1000 x leak).
RSS_MARGIN = 24 * 1024 * 1024


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _one_connection(addr: str) -> None:
    """Trio side: a brand-new peer id connects, sends one frame, reads the echo, leaves."""
    info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
    host = new_host(
        key_pair=create_new_key_pair(secrets.token_bytes(32)),
        connection_config=ConnectionConfig(max_connections_per_peer=1),
    )
    async with host.run(listen_addrs=[]):
        await host.connect(info)
        stream = await host.new_stream(info.peer_id, [TProtocol(ECHO)])
        await stream.write(encode_frame(b"hello"))
        got = b""
        while len(got) < 6:
            chunk = await stream.read(64)
            assert chunk, "the node closed the stream before echoing"
            got += chunk
        await stream.close()
        # Leave abruptly, like a client that goes away: close the socket under the
        # muxer (yamux's graceful close waits ~200 ms for nothing).
        for conn in host.get_network().get_connections():
            await conn.muxed_conn.secured_conn.close()


async def _churn(node: Node, count: int) -> None:
    for _ in range(count):
        await node._guest.run(_one_connection, node.addrs[0])


@pytest.mark.timeout(300)
async def test_a_thousand_fresh_peers_then_an_honest_request(make_node: NodeFactory) -> None:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to count file descriptors")
    server = await make_node()
    server.set_frame_handler(ECHO, lambda ctx, payload: payload)
    honest = await make_node()

    await _churn(server, WARM_UP)
    gc.collect()
    fds0, rss0 = _fds(), _rss()
    await _churn(server, CONNECTIONS)
    await _settle(server)
    gc.collect()

    await honest.connect(server.addrs[0])
    assert await honest.request(server.peer_id, ECHO, b"still here") == b"still here"
    swarm: Any = server.libp2p_host.get_network()
    assert swarm._inbound_limiter.borrowed_tokens <= 1  # the honest peer's slot only
    assert _fds() <= fds0 + FD_MARGIN + 2  # + the honest peer's connection, both ends
    assert _rss() <= rss0 + RSS_MARGIN
    assert len(server.libp2p_host.get_peerstore().peer_ids()) <= 3


async def _settle(node: Node) -> None:
    """Wait (bounded) until the churned connections are gone from the swarm."""
    import asyncio

    try:
        async with asyncio.timeout(30):
            while node.peers():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{len(node.peers())} churned peers still connected") from None
