"""The kluis DHT is private and takes signed addresses only (``protocol/runtime/_dht_fix.py``).

Regressions for py-libp2p 0.8.1: it registers ``/ipfs/kad/1.0.0`` whatever
prefix is given, and puts the addresses of an unsigned ``closerPeers`` entry in
the peerstore as they come.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import multiaddr
import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.pb.kademlia_pb2 import Message
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from libp2p.utils.varint import encode_varint_prefixed, read_varint_prefixed_bytes

from protocol.runtime import Node
from protocol.runtime.reach import DHT_PROTOCOL, ReachConfig, RelayLimits
from protocol.signing import Identity

LOOP = ["/ip4/127.0.0.1/tcp/0"]
LIE = "/ip4/127.0.0.1/tcp/9"  # the address a liar wants us to dial


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


def _forged(claimed: ID, signer: Identity) -> bytes:
    """A peer record that says ``claimed`` lives at LIE, signed by someone else."""
    record = PeerRecord(claimed, [multiaddr.Multiaddr(LIE)])
    return seal_record(record, create_new_key_pair(signer.seed()).private_key).marshal_envelope()


def _addrs(node: Node, peer: ID) -> list[str]:
    try:
        return [str(a) for a in node.libp2p_host.get_peerstore().addrs(peer)]
    except Exception:
        return []


async def test_kluis_speaks_its_own_dht_protocol_not_the_ipfs_one(nodes: list[Node]) -> None:
    relay = await Node.start(
        Identity.generate(), LOOP, reach=ReachConfig(dht_server=True, serve_relay=RelayLimits())
    )
    nodes.append(relay)
    assert DHT_PROTOCOL == "/kluis/kad/1.0.0"
    handlers = {str(p) for p in relay.libp2p_host.get_mux().handlers}
    assert DHT_PROTOCOL in handlers
    assert not any(p.startswith("/ipfs/kad/") for p in handlers), handlers

    stranger = await Node.start(Identity.generate(), LOOP)
    nodes.append(stranger)
    await stranger.connect(relay.addrs[0])

    async def open_(protocol: str) -> str:
        try:
            stream = await stranger.libp2p_host.new_stream(
                ID.from_base58(relay.peer_id), [TProtocol(protocol)]
            )
        except Exception as exc:
            return type(exc).__name__
        await stream.close()
        return "opened"

    assert await stranger._call(open_, "/ipfs/kad/1.0.0") != "opened"  # an IPFS peer is refused
    assert await stranger._call(open_, DHT_PROTOCOL) == "opened"


async def test_a_lookup_keeps_no_unsigned_or_forged_address(nodes: list[Node]) -> None:
    """A DHT peer answers with an unsigned and a forged record: neither address is kept."""
    liar_identity = Identity.generate()
    liar = await Node.start(liar_identity, LOOP)
    nodes.append(liar)
    unsigned, forged = (ID.from_base58(Identity.generate().peer_id) for _ in range(2))

    async def answer(stream: Any) -> None:
        # Answer every FIND_NODE with the two lies (and our own, honest, record).
        with trio.move_on_after(10):
            while True:
                try:
                    Message().ParseFromString(await read_varint_prefixed_bytes(stream))
                except Exception:
                    break
                reply = Message(type=Message.MessageType.FIND_NODE)
                one = reply.closerPeers.add()
                one.id = unsigned.to_bytes()
                one.addrs.append(multiaddr.Multiaddr(LIE).to_bytes())
                two = reply.closerPeers.add()
                two.id = forged.to_bytes()
                two.addrs.append(multiaddr.Multiaddr(LIE).to_bytes())
                two.signedRecord = _forged(forged, liar_identity)
                await stream.write(encode_varint_prefixed(reply.SerializeToString()))
        await stream.close()

    liar.libp2p_host.set_stream_handler(TProtocol(DHT_PROTOCOL), answer)
    business = await Node.start(
        Identity.generate(), LOOP, reach=ReachConfig(bootstrap=(liar.addrs[0],), hole_punch=False)
    )
    nodes.append(business)
    reach = business.reach
    assert reach is not None
    await _until(lambda: reach.dht.routing_table.peer_in_table(ID.from_base58(liar.peer_id)))

    for victim in (unsigned, forged):
        found = await business._call(reach.lookup, victim)
        assert LIE not in [str(a) for a in found]
        assert LIE not in _addrs(business, victim)


async def test_a_forged_sender_record_is_refused_by_a_dht_server(nodes: list[Node]) -> None:
    relay = await Node.start(
        Identity.generate(), LOOP, reach=ReachConfig(dht_server=True, serve_relay=RelayLimits())
    )
    nodes.append(relay)
    liar_identity = Identity.generate()
    liar = await Node.start(liar_identity, LOOP)
    nodes.append(liar)
    victim = ID.from_base58(Identity.generate().peer_id)
    await liar.connect(relay.addrs[0])

    async def ask(sender_record: bytes) -> str:
        stream = await liar.libp2p_host.new_stream(
            ID.from_base58(relay.peer_id), [TProtocol(DHT_PROTOCOL)]
        )
        query = Message(type=Message.MessageType.FIND_NODE, key=victim.to_bytes())
        query.senderRecord = sender_record
        await stream.write(encode_varint_prefixed(query.SerializeToString()))
        try:
            with trio.fail_after(10):
                reply = Message()
                reply.ParseFromString(await read_varint_prefixed_bytes(stream))
        except Exception as exc:
            return f"refused ({type(exc).__name__})"
        finally:
            await stream.close()
        return "answered" if reply.type == Message.MessageType.FIND_NODE else "?"

    # A record for another peer id, signed by us: the signer is not the record's peer.
    assert (await liar._call(ask, _forged(victim, liar_identity))).startswith("refused")
    assert LIE not in _addrs(relay, victim)
    # A well-signed record, but of someone else than the stream's peer.
    other = Identity.generate()
    honest_elsewhere = _forged(ID.from_base58(other.peer_id), other)
    assert (await liar._call(ask, honest_elsewhere)).startswith("refused")
    assert LIE not in _addrs(relay, ID.from_base58(other.peer_id))
    # Our own record, signed by us: answered (the refusals above were not for nothing).
    own = _forged(ID.from_base58(liar.peer_id), liar_identity)
    assert await liar._call(ask, own) == "answered"


async def _hold_idle(holder: Node, server: Node, count: int) -> list[Any]:
    """Open ``count`` DHT streams to ``server`` and send nothing: a lookup cancelled mid-way."""

    async def open_all() -> list[Any]:
        peer = ID.from_base58(server.peer_id)
        return [
            await holder.libp2p_host.new_stream(peer, [TProtocol(DHT_PROTOCOL)])
            for _ in range(count)
        ]

    return list(await holder._call(open_all))


async def _find_node(asker: Node, server: Node) -> str:
    """One FIND_NODE from ``asker``: "answered", or how it was refused."""

    async def ask() -> str:
        try:
            with trio.fail_after(5):
                stream = await asker.libp2p_host.new_stream(
                    ID.from_base58(server.peer_id), [TProtocol(DHT_PROTOCOL)]
                )
                query = Message(
                    type=Message.MessageType.FIND_NODE, key=stream.muxed_conn.peer_id.to_bytes()
                )
                await stream.write(encode_varint_prefixed(query.SerializeToString()))
                reply = Message()
                reply.ParseFromString(await read_varint_prefixed_bytes(stream))
                await stream.close()
        except Exception as exc:
            return f"refused ({type(exc).__name__})"
        return "answered" if reply.type == Message.MessageType.FIND_NODE else "?"

    return str(await asker._call(ask))


async def test_idle_dht_streams_do_not_shut_a_dht_server_for_good(nodes: list[Node]) -> None:
    """py-libp2p 0.8.1's DHT handler waits for a next message with no deadline (D49).

    A client that opens a DHT stream and never closes it (a lookup cancelled by its
    timeout does exactly that) held one of the server's 12 slots until the connection
    ended: twelve of them and the server reset every DHT stream, from everyone.
    """
    server = await Node.start(
        Identity.generate(), LOOP, reach=ReachConfig(dht_server=True, dht_stream_max_s=1.0)
    )
    nodes.append(server)
    holder = await Node.start(Identity.generate(), LOOP)
    honest = await Node.start(Identity.generate(), LOOP)
    nodes += [holder, honest]
    await holder.connect(server.addrs[0])
    await honest.connect(server.addrs[0])
    assert await _find_node(honest, server) == "answered"

    held = await _hold_idle(holder, server, 12)
    assert server.reach is not None
    gate = server.reach.gates[DHT_PROTOCOL]
    await _until(lambda: gate.active == 12, 10)
    assert (await _find_node(honest, server)).startswith("refused")  # full, as it should be
    await _until(lambda: gate.expired >= 12, 10)  # the idle ones are reset...
    assert await _find_node(honest, server) == "answered"  # ...and the server serves again
    assert server.reach.status()["expired_streams"] >= 12
    assert len(held) == 12


async def test_a_relay_serves_more_dht_streams_at_once_than_upstreams_twelve(
    nodes: list[Node],
) -> None:
    """A relay's 96 DHT streams in flight (D47) were cut to 12 by py-libp2p's own limiter."""
    relay = await Node.start(Identity.generate(), LOOP, reach=ReachConfig.for_relay(RelayLimits()))
    nodes.append(relay)
    holder = await Node.start(Identity.generate(), LOOP)
    honest = await Node.start(Identity.generate(), LOOP)
    nodes += [holder, honest]
    await holder.connect(relay.addrs[0])
    await honest.connect(relay.addrs[0])
    await _hold_idle(holder, relay, 16)  # busy streams, within the holder's own rate
    assert relay.reach is not None
    await _until(
        lambda: relay.reach is not None and relay.reach.gates[DHT_PROTOCOL].active == 16, 10
    )
    assert await _find_node(honest, relay) == "answered"
