"""Network simulation: N kluis nodes and two relays on this machine, found by peer id.

Run: ``python benchmarks/bench_network_sim.py [--nodes 50 200] [--workers 4]``.
Loopback only; bounded (each worker process ends itself after ``--lifetime``
seconds, the whole run after ``--deadline``). For each size it prints:

* start-up: time until every node is up and has joined the DHT;
* DHT lookup (``Reach.lookup``, a client node asking the network for a node's
  signed peer record), p50 and p99, and how many were found;
* cold reach: a *fresh* business node, given only the two relays, connects by
  peer id to a random node and gets its first answer (lookup + dial + a framed
  request); p50 and p99;
* memory per node, all in: the workers' RSS, measured after the lookups and
  reaches (so routing tables, peerstores and connections are as full as the run
  made them), minus the RSS of as many *empty workers* (one is started in the
  same run: same imports, same trio guest, no node), divided by the nodes. It
  includes what a process pays to run nodes at all (modules imported on first
  use, caches), spread over its nodes. The start-up figure (RSS right after the
  nodes joined, same baseline) is printed beside it;
* memory per added node (with several sizes): how much the workers' RSS grew
  from the smallest size to the largest, divided by the nodes added. The
  worker count is the same at every size, so per-process costs cancel;

and, when several sizes run, how each figure changed from the smallest size.
Baseline of the same run: a raw py-libp2p connect by multiaddr (no DHT).

The nodes are the kluis runtime (:class:`protocol.runtime.Node` with its DHT,
relay client and gates, answering a framed echo), not whole vaults: a vault adds
SQLite and Argon2 at start, not network state. One node in four listens on no
address and is reachable only through its relay slot, as a home vault would be.
The relays are ``kluis relay``'s configuration (:meth:`ReachConfig.for_relay`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from libp2p.peer.id import ID

from protocol.runtime import Node
from protocol.runtime._bridge import TrioGuest
from protocol.runtime.reach import ANNOUNCE_AGAIN_S, ReachConfig, RelayLimits
from protocol.signing import Identity

logging.getLogger("libp2p").setLevel(logging.CRITICAL)
logging.getLogger().addHandler(logging.NullHandler())
logging.disable(logging.ERROR)  # upstream logs every refused or reset stream: noise here

LOOP = ["/ip4/127.0.0.1/tcp/0"]
ECHO = "/kluis-bench/echo/1.0.0"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


# -- a worker process: k nodes -------------------------------------------------------------


async def worker(count: int, first: int, bootstrap: list[str], lifetime: float) -> None:
    logging.getLogger().setLevel(logging.CRITICAL)
    nodes: list[Node] = []

    def config(i: int) -> ReachConfig:
        hidden = i % 4 == 3  # behind NAT: no address of its own, a relay slot
        return ReachConfig(
            bootstrap=tuple(bootstrap),
            dht_server=not hidden,
            reserve="always" if hidden else "never",
            hole_punch=False,
            dial_timeout=3.0,
            lookup_timeout=8.0,
        )

    async def start(i: int) -> Node:
        hidden = i % 4 == 3
        node = await Node.start(Identity.generate(), [] if hidden else LOOP, reach=config(i))
        node.set_frame_handler(ECHO, lambda ctx, payload: payload)
        return node

    async with contextlib.AsyncExitStack() as stack:
        # Every worker, the empty one too, holds the trio guest: the baseline has it.
        guest = await TrioGuest.acquire()
        stack.push_async_callback(guest.release)
        for batch in range(first, first + count, 10):  # ten at a time: bounded load
            started = await asyncio.gather(
                *(start(i) for i in range(batch, min(batch + 10, first + count)))
            )
            for node in started:
                stack.push_async_callback(node.close)
            nodes += started
        deadline = time.monotonic() + 60 + count  # a bigger share takes longer to join
        joined: list[Node] = []
        while nodes and time.monotonic() < deadline:
            joined = [
                n
                for n in nodes
                if n.reach is not None
                and n.reach.status()["dht_peers"] > 0
                and (n.addrs or n.reach.reservation is not None)
            ]
            if len(joined) == len(nodes):
                break
            await asyncio.sleep(0.2)
        print(
            json.dumps(
                {
                    "ready": [n.peer_id for n in nodes],
                    "rss_kib": rss_kib(),
                    "joined": len(joined),
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(lifetime):
                await reader.read()  # EOF: the coordinator is done
        # What the nodes' own gates refused (over a rate or a cap) and reset (open too long).
        status = [n.reach.status() for n in nodes if n.reach is not None]
        refused = [s["refused_streams"] for s in status]
        print(
            json.dumps(
                {
                    "rss_kib": rss_kib(),
                    "refused": sum(refused),
                    "refused max": max(refused, default=0),
                    "refusing nodes": sum(1 for r in refused if r),
                    "expired": sum(s["expired_streams"] for s in status),
                }
            ),
            flush=True,
        )


# -- the coordinator -------------------------------------------------------------------------


async def simulate(size: int, workers: int, lifetime: float, settle: float) -> dict[str, Any]:
    one = await Node.start(Identity.generate(), LOOP, reach=ReachConfig.for_relay(RelayLimits()))
    two = await Node.start(
        Identity.generate(), LOOP, reach=ReachConfig.for_relay(RelayLimits(), [one.addrs[0]])
    )
    relays = [one.addrs[0], two.addrs[0]]
    procs: list[asyncio.subprocess.Process] = []
    out: dict[str, Any] = {"nodes": size}
    try:
        started = time.perf_counter()
        share = [size // workers + (1 if w < size % workers else 0) for w in range(workers)]
        first = 0
        for count in [*share, 0]:  # the last one is the empty worker: the memory baseline
            boot = [a for r in relays for a in ("--bootstrap", r)]
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--worker",
                    str(count),
                    "--first",
                    str(first),
                    "--lifetime",
                    str(lifetime),
                    *boot,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
            first += count
        peers: list[str] = []
        ready_kib: list[int] = []
        joined = 0
        for proc in procs:
            assert proc.stdout is not None
            ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), lifetime))
            peers += ready["ready"]
            ready_kib.append(ready["rss_kib"])
            joined += ready["joined"]
        out["startup s"] = time.perf_counter() - started
        out["joined"] = joined
        out["empty worker MiB"] = ready_kib[-1] / 1024
        out["rss per node at start MiB"] = (sum(ready_kib[:-1]) - workers * ready_kib[-1]) / (
            1024 * size
        )
        # Measure a settled network: every node has announced itself again on its
        # schedule (nodes that joined early announced into a smaller network).
        await asyncio.sleep(settle)

        rng = random.Random(size)
        async with Node.start(
            Identity.generate(),
            [],
            reach=ReachConfig(bootstrap=tuple(relays), reserve="never", hole_punch=False),
        ) as probe:
            assert probe.reach is not None
            reach = probe.reach
            joining = time.perf_counter()
            with contextlib.suppress(TimeoutError):  # a lookup from an empty table fails at once
                async with asyncio.timeout(90):
                    while reach.dht.get_routing_table_size() == 0:
                        await asyncio.sleep(0.2)
            out["probe join s"] = time.perf_counter() - joining
            lookups: list[float] = []
            found = 0
            missed: list[str] = []
            for peer in rng.sample(peers, min(60, len(peers))):
                t = time.perf_counter()
                addrs = await probe._call(reach.lookup, ID.from_base58(peer))
                lookups.append(time.perf_counter() - t)
                found += bool(addrs)
                if not addrs:  # one node in four (index % 4 == 3) is relay-only
                    missed.append("relay-only" if peers.index(peer) % 4 == 3 else "public")
            out["lookup"] = lookups
            out["found"] = found
            out["missed"] = {k: missed.count(k) for k in sorted(set(missed))}
            out["probe table"] = reach.dht.get_routing_table_size()

        cold: list[float] = []
        reached = 0
        for peer in rng.sample(peers, min(12, len(peers))):
            async with Node.start(
                Identity.generate(),
                [],
                reach=ReachConfig(bootstrap=tuple(relays), reserve="never", hole_punch=False),
            ) as business:
                await asyncio.sleep(0.3)  # it has dialled its bootstrap peers
                t = time.perf_counter()
                with contextlib.suppress(Exception):
                    await business.connect(peer)
                    if await business.request(peer, ECHO, b"hello") == b"hello":
                        reached += 1
                cold.append(time.perf_counter() - t)
        out["cold"] = cold
        out["reached"] = reached
        out["relay health"] = [
            {
                **r.reach.relay_service.summary(),  # type: ignore[union-attr]
                "dht table": r.reach.dht.get_routing_table_size(),  # type: ignore[union-attr]
                "refused": {p: g.refused for p, g in r.reach.gates.items() if g.refused},  # type: ignore[union-attr]
                "reset": {p: g.expired for p, g in r.reach.gates.items() if g.expired},  # type: ignore[union-attr]
            }
            for r in (one, two)
        ]
        for proc in procs:  # EOF: each worker reports its RSS now, with its nodes still up
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
        ends = [
            json.loads(await asyncio.wait_for(p.stdout.readline(), 60))  # type: ignore[union-attr]
            for p in procs
        ]
        end_kib = [e["rss_kib"] for e in ends]
        out["nodes refused"] = {
            "streams": sum(e["refused"] for e in ends),
            "max at a node": max(e["refused max"] for e in ends),
            "nodes": sum(e["refusing nodes"] for e in ends),
            "reset (open too long)": sum(e["expired"] for e in ends),
        }
        out["empty worker end MiB"] = end_kib[-1] / 1024
        out["worker MiB"] = [k / 1024 for k in end_kib[:-1]]
        out["rss per node MiB"] = (sum(end_kib[:-1]) - workers * end_kib[-1]) / (1024 * size)
    finally:
        for proc in procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await two.close()
        await one.close()
    return out


def raw_connect_ms(times: int = 5) -> float:
    import multiaddr
    import trio
    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.peerinfo import info_from_p2p_addr

    out: list[float] = []

    async def main() -> None:
        for _ in range(times):
            a = new_host(key_pair=create_new_key_pair(Identity.generate().seed()))
            b = new_host(key_pair=create_new_key_pair(Identity.generate().seed()))
            listen = [multiaddr.Multiaddr(LOOP[0])]
            async with a.run(listen_addrs=listen), b.run(listen_addrs=listen):
                t = time.perf_counter()
                await b.connect(info_from_p2p_addr(a.get_addrs()[0]))
                out.append(time.perf_counter() - t)

    trio.run(main)
    return statistics.median(out) * 1000


HEAD = (
    f"{'nodes':>5} {'start s':>8} {'joined':>7} {'lookup p50':>11} {'p99':>8} {'found':>6}"
    f" {'lookup/base':>11} {'cold p50':>9} {'p99':>8} {'reached':>8} {'cold/base':>9}"
    f" {'MiB/node':>9}"
)


def report_row(r: dict[str, Any], base_ms: float) -> None:
    """One size's figures, printed as soon as it is done (a long run still shows the rest)."""
    print(
        f"{r['nodes']:>5} {r['startup s']:8.1f} {r['joined']:>7} {pct(r['lookup'], 0.5):9.0f}ms"
        f" {pct(r['lookup'], 0.99):6.0f}ms {r['found']:>3}/{len(r['lookup']):<2}"
        f" {pct(r['lookup'], 0.5) / base_ms:10.1f}x"
        f" {pct(r['cold'], 0.5):7.0f}ms {pct(r['cold'], 0.99):6.0f}ms"
        f" {r['reached']:>4}/{len(r['cold']):<3} {pct(r['cold'], 0.5) / base_ms:8.1f}x"
        f" {r['rss per node MiB']:9.2f}"
    )
    print(
        f"      memory: per node {r['rss per node MiB']:.2f} MiB after the lookups"
        f" ({r['rss per node at start MiB']:.2f} MiB right after joining); workers"
        f" {', '.join(f'{m:.0f}' for m in r['worker MiB'])} MiB against an empty worker's"
        f" {r['empty worker end MiB']:.0f} MiB"
    )
    print(
        f"      lookups missed: {r['missed']}; the probe joined in {r['probe join s']:.1f} s,"
        f" its DHT table at the end: {r['probe table']}"
    )
    print(f"      relays: {r['relay health']}")
    print(f"      the nodes' own gates: {r['nodes refused']}", flush=True)


def report_change(runs: list[dict[str, Any]]) -> None:
    if len(runs) > 1:
        small, big = runs[0], runs[-1]
        print(f"from {small['nodes']} to {big['nodes']} nodes:")
        for label, key in (("lookup p50", "lookup"), ("cold p50", "cold")):
            print(f"  {label}: {pct(big[key], 0.5) / max(pct(small[key], 0.5), 1e-9):.2f}x")
        ratio = big["rss per node MiB"] / small["rss per node MiB"]
        print(f"  memory per node, all in: {ratio:.2f}x")
        # Same worker count at both sizes: what a process pays to run nodes at all
        # (lazily imported modules, first-use caches) cancels out here.
        grown = sum(big["worker MiB"]) - sum(small["worker MiB"])
        marginal = grown / (big["nodes"] - small["nodes"])
        print(
            f"  memory per added node: {marginal:.2f} MiB ({grown:.0f} MiB more RSS"
            f" in the workers for {big['nodes'] - small['nodes']} more nodes)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lifetime", type=float, default=600.0, help="a worker's upper bound")
    parser.add_argument("--deadline", type=float, default=1800.0, help="the whole run's")
    parser.add_argument(
        "--settle",
        type=float,
        default=sum(ANNOUNCE_AGAIN_S) + 10,
        help="seconds between the last node joining and the first lookup",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        asyncio.run(worker(args.worker, args.first, args.bootstrap, args.lifetime))
        return

    base = raw_connect_ms()
    print(f"baseline: raw py-libp2p connect by multiaddr, median {base:.1f} ms")
    print(HEAD, flush=True)

    async def run_all() -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.deadline):
                for size in args.nodes:
                    runs.append(await simulate(size, args.workers, args.lifetime, args.settle))
                    report_row(runs[-1], base)
        return runs

    report_change(asyncio.run(run_all()))


if __name__ == "__main__":
    main()
