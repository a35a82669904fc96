"""Closing a node closes its connections, at both ends, in a process that keeps running.

Regression for py-libp2p 0.8.1's close-time connection leak (see
``protocol/runtime/_swarm_fix.py``, ``close_connections``): before the fix every
closed node left its TCP connections ESTABLISHED, so the peer kept them too and,
after 8 open-connect-close cycles under one identity, refused that peer with
"Established per peer limit exceeded: 8 >= 8". A ``kill -9`` hides it (the kernel
closes the sockets); a long-running business node or app that opens and closes
nodes (a ``Requester`` is one) does not. The leak is Yamux's (the default
muxer); Mplex closed its socket even when cancelled, and its case guards the
fix's Mplex branch (a close that runs to its end).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest
from libp2p.peer.id import ID

from protocol.signing import Identity

from .conftest import NodeFactory

#: More than py-libp2p's 8 established connections per peer, so a leak is refused.
CYCLES = 12
#: Bound on how long the server may take to see a FIN and drop the connection.
SETTLE_S = 5.0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    """Wait (bounded, polling) until ``condition()`` holds; fail saying ``what()``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert condition(), what()


async def _cycle(make_node: NodeFactory, identity: Identity, addr: str, muxer: str) -> None:
    client = await make_node(identity=identity, muxer=muxer)
    assert await client.connect(addr)
    await client.close()


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
async def test_closed_nodes_leave_no_connection_at_either_end(
    make_node: NodeFactory, muxer: str
) -> None:
    server = await make_node(muxer=muxer)
    addr = server.addrs[0]
    identity = Identity.generate()

    peer = ID.from_base58(identity.peer_id)

    def server_conns() -> int:  # a dict read: the trio guest runs on this thread
        return len(server.libp2p_host.get_network().get_connections(peer))

    # Warm-up: the first node in a process opens fds that stay (trio guest, epoll).
    await _cycle(make_node, identity, addr, muxer)
    await _until(lambda: server_conns() == 0, lambda: "server still holds the warm-up connection")
    start = _fds()

    for _ in range(CYCLES):
        await _cycle(make_node, identity, addr, muxer)
    await _until(
        lambda: server_conns() == 0,
        lambda: f"server still holds {server_conns()} connection(s) from a closed peer",
    )
    await _until(
        lambda: _fds() <= start, lambda: f"{_fds() - start} fd(s) leaked by {CYCLES} cycles"
    )

    # Cycle 13 is served like the first (the leak made py-libp2p refuse it).
    client = await make_node(identity=identity, muxer=muxer)
    assert await client.connect(addr) == server.peer_id
    rtt = await client.ping(server.peer_id)
    assert rtt >= 0.0
    assert identity.peer_id in server.peers()
    await client.close()
    await _until(lambda: server_conns() == 0, lambda: "server kept the 13th connection after close")
    await _until(
        lambda: _fds() <= start, lambda: f"{_fds() - start} fd(s) leaked by the 13th cycle"
    )
