"""Reach on loopback: peer id alone, through a relay, after a move, after the relay dies.

The same stories across real network boundaries (namespaces, NAT) are in
``test_reach_netns.py``; these run everywhere and fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.pb.circuit_pb2 import HopMessage
from libp2p.relay.circuit_v2.pb.circuit_pb2 import PeerId as Peer
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP
from libp2p.relay.circuit_v2.protocol_buffer import StatusCode
from libp2p.relay.circuit_v2.utils import read_delimited_msg, write_delimited_msg

from protocol import ConnectError
from protocol.runtime import Node
from protocol.runtime._gate import Gate
from protocol.runtime.reach import DHT_PROTOCOL, ReachConfig, RelayLimits
from protocol.signing import Identity

LOOP = ["/ip4/127.0.0.1/tcp/0"]
ECHO = "/kluis-test/echo/1.0.0"


@pytest.fixture
async def nodes() -> AsyncIterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in reversed(started):
        await node.close()


async def _until(check: Callable[[], object], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def _relay(nodes: list[Node], bootstrap: tuple[str, ...] = ()) -> Node:
    node = await Node.start(
        Identity.generate(),
        LOOP,
        reach=ReachConfig(bootstrap=bootstrap, dht_server=True, serve_relay=RelayLimits()),
    )
    nodes.append(node)
    return node


async def _vault(
    nodes: list[Node], relays: list[Node], *, identity: Identity | None = None, listen=()
) -> Node:
    addrs = tuple(r.addrs[0] for r in relays)
    node = await Node.start(
        identity or Identity.generate(),
        list(listen),
        reach=ReachConfig(bootstrap=addrs, reserve="always", hole_punch=False),
    )
    node.set_frame_handler(ECHO, lambda ctx, payload: payload)
    nodes.append(node)
    await _until(lambda: node.reach is not None and node.reach.reservation is not None)
    return node


async def _business(nodes: list[Node], relay: Node) -> Node:
    node = await Node.start(
        Identity.generate(), LOOP, reach=ReachConfig(bootstrap=(relay.addrs[0],), hole_punch=False)
    )
    nodes.append(node)
    await _until(lambda: relay.peer_id in node.peers())
    return node


async def test_a_relay_only_vault_is_reached_by_peer_id_alone(nodes: list[Node]) -> None:
    relay = await _relay(nodes)
    vault = await _vault(nodes, [relay])  # listens nowhere: only its relay reaches it
    assert [a for a in vault.addrs if "/p2p-circuit/" in a], vault.addrs
    assert not any("0.0.0.0" in a for a in vault.addrs)
    biz = await _business(nodes, relay)
    assert await biz.connect(vault.peer_id) == vault.peer_id
    assert biz.path_to(vault.peer_id) == "relayed"
    assert await biz.request(vault.peer_id, ECHO, b"through the relay") == b"through the relay"


async def test_a_moved_vault_is_found_again_by_peer_id(nodes: list[Node]) -> None:
    relay = await _relay(nodes)
    identity = Identity.generate()
    first = await _vault(nodes, [relay], identity=identity, listen=LOOP)
    old_addr = next(a for a in first.addrs if "/p2p-circuit" not in a)
    biz = await _business(nodes, relay)
    await biz.connect(old_addr)
    assert await biz.request(first.peer_id, ECHO, b"one") == b"one"
    await first.close()
    await _until(lambda: first.peer_id not in biz.peers())
    second = await _vault(nodes, [relay], identity=identity, listen=LOOP)
    assert old_addr not in second.addrs  # a new port
    # The business still holds the old address: it fails, the DHT has the new one.
    assert await biz.connect(old_addr) == identity.peer_id
    assert await biz.request(second.peer_id, ECHO, b"two") == b"two"


async def test_a_vault_moves_to_another_relay_when_its_relay_dies(nodes: list[Node]) -> None:
    one = await _relay(nodes)
    two = await _relay(nodes, bootstrap=(one.addrs[0],))
    vault = await _vault(nodes, [one, two])
    assert vault.reach is not None and vault.reach.reservation is not None
    assert vault.reach.reservation.relay == ID.from_base58(one.peer_id)
    await one.close()
    await _until(
        lambda: (
            vault.reach.reservation is not None
            and vault.reach.reservation.relay == ID.from_base58(two.peer_id)
        )
    )
    assert any(two.peer_id in a and "/p2p-circuit" in a for a in vault.addrs)
    biz = await _business(nodes, two)
    await biz.connect(vault.peer_id)
    assert await biz.request(vault.peer_id, ECHO, b"moved") == b"moved"


async def test_bare_peer_id_without_bootstrap_is_a_clear_error(nodes: list[Node]) -> None:
    node = await Node.start(Identity.generate(), LOOP)
    nodes.append(node)
    with pytest.raises(ConnectError, match="bootstrap"):
        await node.connect(Identity.generate().peer_id)


async def test_a_peer_cannot_reserve_a_slot_for_another_peer_id(nodes: list[Node]) -> None:
    relay = await _relay(nodes)
    squatter = await Node.start(Identity.generate(), LOOP)
    nodes.append(squatter)
    victim = ID.from_base58(Identity.generate().peer_id)
    await squatter.connect(relay.addrs[0])

    async def reserve_for_victim() -> int:
        host = squatter.libp2p_host
        stream = await host.new_stream(ID.from_base58(relay.peer_id), [HOP])
        await write_delimited_msg(
            stream, HopMessage(type=HopMessage.RESERVE, peer=Peer(id=victim.to_bytes()))
        )
        with trio.fail_after(10):
            reply = await read_delimited_msg(stream, HopMessage)
        await stream.close()
        return int(reply.status)

    assert await squatter._call(reserve_for_victim) == int(StatusCode.OK)
    service = relay.reach.relay_service if relay.reach is not None else None
    assert service is not None
    holders = set(service.protocol.resource_manager._reservations)
    assert victim not in holders
    assert ID.from_base58(squatter.peer_id) in holders


async def test_a_dht_stream_flood_is_refused_and_the_relay_keeps_serving(
    nodes: list[Node],
) -> None:
    relay = await _relay(nodes)
    flooder = await Node.start(Identity.generate(), LOOP)
    nodes.append(flooder)
    await flooder.connect(relay.addrs[0])

    async def flood() -> int:
        opened = 0
        for _ in range(60):
            try:
                stream = await flooder.libp2p_host.new_stream(
                    ID.from_base58(relay.peer_id), [TProtocol(DHT_PROTOCOL)]
                )
                await stream.close()
                opened += 1
            except Exception:
                pass
        return opened

    await flooder._call(flood)
    assert relay.reach is not None
    assert relay.reach.gates[DHT_PROTOCOL].refused > 0
    vault = await _vault(nodes, [relay])
    biz = await _business(nodes, relay)
    await biz.connect(vault.peer_id)
    assert await biz.request(vault.peer_id, ECHO, b"ok") == b"ok"


def test_gate_bounds_rate_and_table() -> None:
    now = [0.0]
    gate = Gate(1.0, 3, max_active=10, max_peers=2, clock=lambda: now[0])
    assert [gate.admit("a") for _ in range(4)] == [True, True, True, False]
    now[0] += 1.0
    assert gate.admit("a") and not gate.admit("a")
    gate.admit("b")
    gate.admit("c")
    assert len(gate) == 2  # "a", idle longest, was evicted
    gate.active = 10
    assert not gate.admit("d")


def test_relay_limits_refuse_zero() -> None:
    with pytest.raises(ValueError, match="data_bytes"):
        RelayLimits(data_bytes=0)


def _connections(node: Node, peer: Node) -> list[object]:
    """The libp2p connection objects ``node`` holds to ``peer`` (identity, not equality)."""
    return list(node.libp2p_host.get_network().get_connections(ID.from_base58(peer.peer_id)))


async def test_a_circuit_that_ends_leaves_other_circuits_of_the_same_peer_alone(
    nodes: list[Node],
) -> None:
    """Regression: py-libp2p 0.8.1's HOP cleans a circuit up by *peer id*, not by circuit.

    Two businesses reach one relay-only vault. The one that connected first leaves; the
    other's relayed connection (the very same one, not a redial) still carries requests.
    Before the fix the relay closed the streams of the circuit registered last under the
    vault's peer id, i.e. the other business's: "a relayed read after a relayed
    negotiation" failed with a stream reset in multistream-select.
    """
    relay = await _relay(nodes)
    vault = await _vault(nodes, [relay])
    leaving = await _business(nodes, relay)
    staying = await _business(nodes, relay)
    assert relay.reach is not None and relay.reach.relay_service is not None
    service = relay.reach.relay_service
    await leaving.connect(vault.peer_id)
    await staying.connect(vault.peer_id)  # the circuit registered last under the vault's id
    assert leaving.path_to(vault.peer_id) == staying.path_to(vault.peer_id) == "relayed"
    await _until(lambda: service.summary()["circuits"] == 2)
    assert await staying.request(vault.peer_id, ECHO, b"before") == b"before"
    before = _connections(staying, vault)
    assert len(before) == 1

    await leaving.close()
    await _until(lambda: service.summary()["circuits"] < 2)  # the leaving circuit is gone
    await _until(lambda: vault.peers().count(leaving.peer_id) == 0)
    assert await staying.request(vault.peer_id, ECHO, b"after") == b"after"
    assert _connections(staying, vault) == before  # the same relayed connection carried it
    assert service.summary()["circuits"] == 1
    # The relay holds the live circuit's two entries and nothing of the one that ended.
    held = {peer for peer, _circuit in service.protocol._active_relays}
    assert held == {ID.from_base58(staying.peer_id), ID.from_base58(vault.peer_id)}


async def test_a_node_announces_itself_again_soon_after_joining_then_rarely(
    nodes: list[Node],
) -> None:
    """A node's first announce reaches the peers closest to it *then*; nodes that join
    with it come later. Of 80 nodes started ten at a time, 39 could not be found by
    lookup a few seconds later, and all 80 after each had announced once more (D47).
    So a node announces again on ``announce_again``, then every 10 minutes."""
    relay = await _relay(nodes)
    node = await Node.start(
        Identity.generate(),
        LOOP,
        reach=ReachConfig(
            bootstrap=(relay.addrs[0],),
            reserve="never",
            hole_punch=False,
            dht_server=True,
            announce_again=(0.1, 0.1),
        ),
    )
    nodes.append(node)
    reach = node.reach
    assert reach is not None
    await _until(lambda: reach.announces >= 3)  # the first, then the two again
    ticks = reach.status()["lookups"], reach.announces
    await asyncio.sleep(2.5)  # a few of the 1 s ticks: the schedule is spent
    assert (reach.status()["lookups"], reach.announces) == ticks == (0, 3)
    assert ReachConfig().announce_again == (30.0, 120.0)
