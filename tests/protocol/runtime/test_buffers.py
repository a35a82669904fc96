"""Half-sent frames cannot pin memory: partial-frame bytes are bounded per peer and in total.

Issue 13 §7: 80 peers x 32 streams each holding a half-sent 64 KiB frame grew
RSS by 337 MiB for good. Here real nodes on 127.0.0.1 hold half frames open; the
node resets the streams past each bound, keeps serving an honest peer, and gives
every byte back when the attackers leave.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol.framing import MAX_FRAME_SIZE, encode_uvarint
from protocol.runtime import Node
from tests.conftest import eventually

from .conftest import NodeFactory

ECHO = "/kluis-test/echo/1.0.0"
HALF = MAX_FRAME_SIZE // 2
#: A frame announced at the maximum size, then only half of it sent.
HALF_FRAME = encode_uvarint(MAX_FRAME_SIZE) + b"x" * HALF
PER_PEER = 4 * HALF + 1024  # four half frames fit, the fifth does not
TOTAL = 2 * PER_PEER  # two peers at their cap, a third gets nothing

pytestmark = pytest.mark.timeout(120)


async def _hold_half_frames(attacker: Node, server: Node, streams: int) -> list[bool]:
    """Open ``streams`` streams, write a half frame on each, then see which were reset."""

    async def trio_side() -> list[bool]:
        host: Any = attacker.libp2p_host
        opened = []
        for _ in range(streams):
            s = await host.new_stream(ID.from_base58(server.peer_id), [TProtocol(ECHO)])
            await s.write(HALF_FRAME)
            opened.append(s)
            await trio.sleep(0.02)  # let the server read it before the next one
        alive = []
        for s in opened:
            with trio.move_on_after(0.5):
                try:
                    await s.read(1)  # a reset stream fails or ends; a held one blocks
                except Exception:
                    alive.append(False)
                    continue
                alive.append(False)  # EOF: not held either
                continue
            alive.append(True)
        return alive

    result: list[bool] = await attacker._guest.run(trio_side)
    return result


async def _leave(attacker: Node, server: Node) -> None:
    async def trio_side() -> None:
        for conn in attacker.libp2p_host.get_network().get_connections():
            await conn.muxed_conn.secured_conn.close()

    await attacker._guest.run(trio_side)


async def test_partial_frames_are_bounded_per_peer_and_in_total(make_node: NodeFactory) -> None:
    server = await make_node(max_buffered_per_peer=PER_PEER, max_buffered_total=TOTAL)
    server.set_frame_handler(ECHO, lambda ctx, payload: payload)
    attackers = [await make_node() for _ in range(3)]
    for a in attackers:
        await a.connect(server.addrs[0])

    held_first = await _hold_half_frames(attackers[0], server, 8)
    assert sum(held_first) == 4  # the per-peer bound: the rest were reset
    assert server.buffers.held_by(attackers[0].peer_id) <= PER_PEER
    held_second = await _hold_half_frames(attackers[1], server, 8)
    assert sum(held_second) == 4
    held_third = await _hold_half_frames(attackers[2], server, 8)
    assert sum(held_third) == 0  # the total bound: every stream of the third is reset
    assert server.buffers.total <= TOTAL

    honest = await make_node()
    await honest.connect(server.addrs[0])
    # a whole frame is never buffered: it is decoded at once, even at the total cap
    assert await honest.request(server.peer_id, ECHO, b"still here") == b"still here"

    for a in attackers:
        await _leave(a, server)
    await eventually(lambda: server.buffers.total == 0)


async def test_a_whole_large_frame_still_passes_under_the_budget(make_node: NodeFactory) -> None:
    server = await make_node(max_buffered_per_peer=PER_PEER, max_buffered_total=TOTAL)
    server.set_frame_handler(ECHO, lambda ctx, payload: payload)
    client = await make_node()
    await client.connect(server.addrs[0])
    big = b"y" * MAX_FRAME_SIZE
    for _ in range(8):  # more than the per-peer bound in total, one frame at a time
        assert await client.request(server.peer_id, ECHO, big) == big
    assert server.buffers.total == 0
