"""Transport benchmark: what the trio-guest bridge and the frame runtime cost.

Run: ``python benchmarks/bench_transport.py [--n 2000]``. Loopback only. Prints:

(a) pure-trio py-libp2p echo round trip (``trio.run``, no bridge): the baseline;
(b) the same raw echo awaited from asyncio through :class:`TrioGuest`;
(c) ``Node.request`` with a sync frame handler (pooled stream, one crossing);

each for 100-byte and 1 KiB payloads, p50/p99 and the ratio to (a). Then connect
time with and without ``max_connections_per_peer=1``, and yamux vs mplex round
trip and bulk throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from protocol import listen
from protocol.runtime import Node, TrioGuest
from protocol.signing import Identity

logging.getLogger("libp2p").setLevel(logging.CRITICAL)

ECHO = TProtocol("/bench/echo/1.0.0")
SINK = TProtocol("/bench/sink/1.0.0")
FRAMES = "/bench/frames/1.0.0"
LOOPBACK = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
SIZES = (100, 1024)
BULK_BYTES = 16 * 1024 * 1024
MUXERS: dict[str, Any] = {
    "yamux": {TProtocol(YAMUX_PROTOCOL_ID): Yamux},
    "mplex": {TProtocol(MPLEX_PROTOCOL_ID): Mplex},
}

Samples = dict[int, list[float]]


def make_host(muxer: str = "yamux", per_peer: int | None = 1) -> Any:
    config = ConnectionConfig(max_connections_per_peer=per_peer) if per_peer else None
    return new_host(
        key_pair=create_new_key_pair(Identity.generate().seed()),
        muxer_opt=MUXERS[muxer],
        connection_config=config,
    )


async def echo_handler(stream: Any) -> None:
    try:
        while True:
            data = await stream.read(65536)
            if not data:
                break
            await stream.write(data)
    except Exception:
        pass
    finally:
        try:
            await stream.reset()
        except Exception:
            pass


async def sink_handler(stream: Any) -> None:
    got = 0
    try:
        while got < BULK_BYTES:
            data = await stream.read(65536)
            if not data:
                break
            got += len(data)
        await stream.write(b"k")
    except Exception:
        pass


async def echo_once(stream: Any, payload: bytes) -> None:
    await stream.write(payload)
    got = 0
    while got < len(payload):
        got += len(await stream.read(65536))


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- (a) pure trio -----------------------------------------------------------------------


async def trio_main(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        # connect time: fresh host pairs, with and without max_connections_per_peer=1
        for label, per_peer in (("per_peer=1", 1), ("default (3)", None)):
            times = []
            for _ in range(5):
                server, client = make_host(per_peer=per_peer), make_host(per_peer=per_peer)
                async with server.run(LOOPBACK), client.run(LOOPBACK):
                    t0 = time.perf_counter()
                    await client.connect(info_from_p2p_addr(server.get_addrs()[0]))
                    times.append(time.perf_counter() - t0)
            out[f"connect {label}"] = statistics.median(times) * 1000

        for muxer in MUXERS:
            server, client = make_host(muxer), make_host(muxer)
            server.set_stream_handler(ECHO, echo_handler)
            server.set_stream_handler(SINK, sink_handler)
            async with server.run(LOOPBACK), client.run(LOOPBACK):
                await client.connect(info_from_p2p_addr(server.get_addrs()[0]))
                stream = await client.new_stream(server.get_id(), [ECHO])
                samples: Samples = {}
                for size in SIZES:
                    payload = b"x" * size
                    for _ in range(100):
                        await echo_once(stream, payload)
                    rtts = []
                    for _ in range(n):
                        t0 = time.perf_counter()
                        await echo_once(stream, payload)
                        rtts.append(time.perf_counter() - t0)
                    samples[size] = rtts
                out[f"rtt {muxer}"] = samples
                await stream.close()
                sink = await client.new_stream(server.get_id(), [SINK])
                chunk = b"y" * 65536
                t0 = time.perf_counter()
                for _ in range(BULK_BYTES // len(chunk)):
                    await sink.write(chunk)
                await sink.read(1)
                out[f"throughput {muxer}"] = BULK_BYTES / (time.perf_counter() - t0) / 1e6
                await sink.close()
        nursery.cancel_scope.cancel()
    return out


# -- (b) and (c): from asyncio -------------------------------------------------------------


async def timed(n: int, op: Callable[[], Awaitable[Any]]) -> list[float]:
    for _ in range(100):
        await op()
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        await op()
        rtts.append(time.perf_counter() - t0)
    return rtts


async def bridged_raw(n: int) -> Samples:
    guest = await TrioGuest.acquire()
    hosts: dict[str, Any] = {}
    stop = trio.Event()

    async def run_host(name: str, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        host = make_host()
        host.set_stream_handler(ECHO, echo_handler)
        async with host.run(LOOPBACK):
            hosts[name] = host
            task_status.started()
            await stop.wait()

    async def start_hosts() -> Any:
        await guest.nursery.start(run_host, "server")
        await guest.nursery.start(run_host, "client")
        server, client = hosts["server"], hosts["client"]
        await client.connect(info_from_p2p_addr(server.get_addrs()[0]))
        return await client.new_stream(server.get_id(), [ECHO])

    try:
        stream = await guest.run(start_hosts)
        out: Samples = {}
        for size in SIZES:
            payload = b"x" * size
            out[size] = await timed(n, lambda p=payload: guest.run(echo_once, stream, p))

        async def finish() -> None:
            stop.set()

        await guest.run(finish)
        return out
    finally:
        await guest.release()


async def node_request(n: int) -> Samples:
    async with Node.start(Identity.generate(), listen.LOOPBACK) as server:
        async with Node.start(Identity.generate(), listen.LOOPBACK) as client:
            server.set_frame_handler(FRAMES, lambda ctx, payload: payload)
            await client.connect(server.addrs[0])
            out: Samples = {}
            for size in SIZES:
                payload = b"x" * size
                out[size] = await timed(
                    n, lambda p=payload: client.request(server.peer_id, FRAMES, p)
                )
            return out


async def node_connect() -> float:
    times = []
    for _ in range(5):
        async with Node.start(Identity.generate(), listen.LOOPBACK) as server:
            async with Node.start(Identity.generate(), listen.LOOPBACK) as client:
                t0 = time.perf_counter()
                await client.connect(server.addrs[0])
                times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def asyncio_main(n: int) -> dict[str, Any]:
    return {
        "bridged": await bridged_raw(n),
        "request": await node_request(n),
        "node connect": await node_connect(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="round trips per measurement")
    args = parser.parse_args()

    base = trio.run(trio_main, args.n)
    side = asyncio.run(asyncio_main(args.n))

    print(f"round trips on loopback, n={args.n} each (ms)")
    print(f"{'path':42} {'size':>6} {'p50':>8} {'p99':>8} {'p50/a':>7} {'p99/a':>7}")
    rows = [
        ("(a) pure trio, raw stream, yamux", base["rtt yamux"]),
        ("(b) asyncio -> bridge, raw stream, yamux", side["bridged"]),
        ("(c) node.request, sync handler, yamux", side["request"]),
        ("    pure trio, raw stream, mplex", base["rtt mplex"]),
    ]
    for label, samples in rows:
        for size in SIZES:
            a = base["rtt yamux"][size]
            s = samples[size]
            print(
                f"{label:42} {size:>6} {pct(s, 0.5):8.3f} {pct(s, 0.99):8.3f}"
                f" {pct(s, 0.5) / pct(a, 0.5):7.2f} {pct(s, 0.99) / pct(a, 0.99):7.2f}"
            )
    print()
    print(f"connect, pure trio, max_connections_per_peer=1: {base['connect per_peer=1']:7.1f} ms")
    print(f"connect, pure trio, default (3):                {base['connect default (3)']:7.1f} ms")
    print(f"connect, Node.connect (runtime default):        {side['node connect']:7.1f} ms")
    print()
    for muxer in MUXERS:
        print(f"bulk throughput {muxer}: {base[f'throughput {muxer}']:6.1f} MB/s")


if __name__ == "__main__":
    main()
