"""Reach benchmark: a scoped read direct, relayed and after DCUtR; connect by peer id, cold.

Run: ``python benchmarks/bench_reach.py [--n 300] [--no-netns]``. Prints figures,
each beside a baseline measured in the same run:

On loopback (always):

(a) raw py-libp2p, pure trio: request/response of a scoped read's sizes on one
    stream between two hosts: the floor;
(b) ``Requester.read`` (signed, grant-checked, audited, sealed): the vault
    listens on loopback and the business dials it directly;
(c) the same read when the vault listens on *no* address and is reached only
    through a relay (circuit relay v2, a ``kluis relay``-style node); the
    business dials out only, so no direct path exists;
(d) connect by peer id, cold: a fresh business node given only the relay as
    bootstrap peer finds the vault in the DHT and connects (to a vault with a
    direct address; to a relay-only vault); baseline: raw py-libp2p connect by
    multiaddr.

In Linux network namespaces (when root and nftables are there; else says why):

(e) the read after DCUtR: vault and business each behind a home router
    (nftables masquerade), a public relay; the business reads relayed, waits
    for DCUtR to punch a direct connection, and reads again. Uses the helpers
    of ``tests/integration/netns.py`` (real processes, real NAT).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import info_from_p2p_addr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_access import trio_baseline

from protocol.runtime import Node
from protocol.runtime.reach import ReachConfig, RelayLimits
from protocol.signing import Identity
from vault.node.boss import VaultNode
from vault.requester import GrantHandle, Requester
from vault.store.vault import Vault

logging.getLogger("libp2p").setLevel(logging.CRITICAL)

PASSPHRASE = "benchmark passphrase"
LOOP = ["/ip4/127.0.0.1/tcp/0"]
FIELDS = {
    "contact.email": "anna.devries@example.org",
    "address.home.street": "Prinsengracht 263",
    "address.home.city": "Amsterdam",
}
#: Sizes of a three-field scoped read on the wire (signed Read out, ReadResult back).
READ_SIZES = (420, 900)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def row(name: str, samples: list[float], base_ms: float) -> None:
    p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
    print(f"  {name:<58} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  {p50 / base_ms:6.1f}x (a)")


def raw_connect(times: int) -> list[float]:
    """Raw py-libp2p connect by multiaddr, fresh host pairs: the floor for (d)."""
    out: list[float] = []

    def make() -> Any:
        return new_host(
            key_pair=create_new_key_pair(Identity.generate().seed()),
            connection_config=ConnectionConfig(max_connections_per_peer=1),
        )

    async def main() -> None:
        for _ in range(times):
            a, b = make(), make()
            listen = [multiaddr.Multiaddr(LOOP[0])]
            async with a.run(listen_addrs=listen), b.run(listen_addrs=listen):
                t = time.perf_counter()
                await b.connect(info_from_p2p_addr(a.get_addrs()[0]))
                out.append(time.perf_counter() - t)

    trio.run(main)
    return out


async def _until(check: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def _reads(biz: Requester, grant: GrantHandle, n: int) -> list[float]:
    for _ in range(20):
        await biz.read(grant)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await biz.read(grant)
        out.append(time.perf_counter() - t)
    return out


async def _granted(vn: VaultNode, biz: Requester, target: str) -> GrantHandle:
    pending = await biz.request(
        target,
        fields=list(FIELDS),
        purpose="DeliveryOfGoods",
        purpose_text="benchmark",
        days=30,
        retention_days=0,
    )
    await _until(lambda: any(r.request_id == pending.request_id for r in vn.grants.requests()))
    vn.approve(pending.request_id)
    return await pending.decision(timeout=30)


def _vault_home(tmp: Path, name: str) -> Path:
    home = tmp / name
    with Vault.create(home, PASSPHRASE) as vault:
        for path, value in FIELDS.items():
            vault.profile.set(path, value)
    return home


async def loopback(n: int, cold: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kluis-bench-reach-") as d:
        tmp = Path(d)
        direct_home, relayed_home = _vault_home(tmp, "direct"), _vault_home(tmp, "relayed")
        async with Node.start(
            Identity.generate(), LOOP, reach=ReachConfig.for_relay(RelayLimits())
        ) as relay:
            boot = (relay.addrs[0],)
            near = ReachConfig(bootstrap=boot, reserve="never", hole_punch=False)
            far = ReachConfig(bootstrap=boot, reserve="always", hole_punch=False)
            biz_reach = ReachConfig(bootstrap=boot, hole_punch=False)
            async with (
                VaultNode.start(direct_home, PASSPHRASE, listen=LOOP, control_port=None, reach=near)
                as vd,
                VaultNode.start(relayed_home, PASSPHRASE, listen=[], control_port=None, reach=far)
                as vr,
                Requester.open(
                    tmp / "biz", PASSPHRASE, listen=[], reach=biz_reach, retention_interval=None
                ) as biz,
            ):  # fmt: skip
                assert vr.node is not None and vr.node.reach is not None and biz.node is not None
                reach = vr.node.reach
                await _until(lambda: reach.reservation is not None)
                grant = await _granted(vd, biz, vd.addrs[0])
                out["direct"] = await _reads(biz, grant, n)
                grant = await _granted(vr, biz, vr.peer_id)
                assert biz.node.path_to(vr.peer_id) == "relayed"
                out["relayed"] = await _reads(biz, grant, n)
                assert biz.node.path_to(vr.peer_id) == "relayed"

                for label, target in (("cold direct", vd), ("cold relayed", vr)):
                    times = []
                    for _ in range(cold):
                        async with Node.start(Identity.generate(), [], reach=biz_reach) as fresh:
                            await _until(lambda f=fresh: relay.peer_id in f.peers())
                            t = time.perf_counter()
                            await fresh.connect(target.peer_id)
                            times.append(time.perf_counter() - t)
                    out[label] = times
    return out


async def after_dcutr(n: int) -> dict[str, Any] | str:
    """(e): the NAT story of test (b), timing reads before and after the punch."""
    from tests.integration.netns import Net, unavailable

    why = unavailable()
    if why is not None:
        return why
    with tempfile.TemporaryDirectory(prefix="kluis-bench-nat-") as d:
        net = Net(Path(d))
        try:
            a, na, p, nb, b = (net.ns(x) for x in ("a", "na", "p", "nb", "b"))
            na_wan, _ = net.link(na, "10.99.1.2/24", p, "10.99.1.1/24")
            nb_wan, _ = net.link(nb, "10.99.2.2/24", p, "10.99.2.1/24")
            net.link(a, "192.168.1.2/24", na, "192.168.1.1/24")
            net.link(b, "192.168.2.2/24", nb, "192.168.2.1/24")
            net.forwarding(p, True)
            net.route(na, "10.99.1.1")
            net.route(nb, "10.99.2.1")
            net.route(a, "192.168.1.1")
            net.route(b, "192.168.2.1")
            net.home_router(na, na_wan)
            net.home_router(nb, nb_wan)
            _, relay_id = await net.relay(p, "relay", 4749)
            vault = await net.actor(
                a, "vault", "vault", "--listen", "/ip4/0.0.0.0/tcp/4747",
                "--bootstrap", f"/ip4/10.99.1.1/tcp/4749/p2p/{relay_id}", "--hole-punch",
            )  # fmt: skip
            biz = await net.actor(
                b, "business", "business", "--listen", "/ip4/0.0.0.0/tcp/4748",
                "--bootstrap", f"/ip4/10.99.2.1/tcp/4749/p2p/{relay_id}", "--hole-punch",
            )  # fmt: skip
            vault_id = (await vault.expect("ready"))["ready"]
            await biz.expect("ready")
            event = await vault.expect("relay", timeout=30)
            while event["relay"] is None:
                event = await vault.expect("relay", timeout=30)
            t = time.perf_counter()
            await biz.send(request=vault_id)
            await biz.expect("pending", timeout=30)
            asked = await vault.expect("request")
            await vault.send(approve=asked["request"])
            await biz.expect("grant", timeout=30)
            reached = time.perf_counter() - t
            conns: list[str] = []
            punch = time.perf_counter()
            for _ in range(150):
                await biz.send(path=True)
                conns = (await biz.expect("conns"))["conns"]
                if "direct" in conns:
                    break
                await asyncio.sleep(0.2)
            if "direct" not in conns:
                return f"DCUtR did not punch through within 30 s ({conns})"
            punched = time.perf_counter() - punch
            await biz.send(reads=n)
            timed = await biz.expect("reads", timeout=120)
            return {
                "after dcutr": [ms / 1000 for ms in timed["reads"]],
                "path": timed["path"],
                "punch s": punched,
                "request+grant s": reached,
            }
        finally:
            await net.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="reads per measurement")
    parser.add_argument("--cold", type=int, default=5, help="cold connects per measurement")
    parser.add_argument("--no-netns", action="store_true", help="skip (e), the NAT namespaces")
    args = parser.parse_args()

    base = trio_baseline(args.n, *READ_SIZES)
    base_connect = raw_connect(args.cold)
    figures = asyncio.run(loopback(args.n, args.cold))
    nat: dict[str, Any] | str = "skipped (--no-netns)"
    if not args.no_netns:
        nat = asyncio.run(after_dcutr(args.n))

    a_ms = pct(base, 0.5)
    print(f"scoped read (3 fields), n={args.n}; ratios are p50 / p50 of (a)")
    row("(a) raw py-libp2p request/response, pure trio", base, a_ms)
    row("(b) Requester.read, direct (loopback)", figures["direct"], a_ms)
    row("(c) Requester.read, relayed (circuit relay v2, loopback)", figures["relayed"], a_ms)
    if isinstance(nat, dict):
        row(f"(e) Requester.read after DCUtR (NAT namespaces; {nat['path']})", nat["after dcutr"],
            a_ms)  # fmt: skip
        print(f"      DCUtR punched a direct connection {nat['punch s']:.1f} s after the grant;")
        print(f"      request by peer id + approval + grant: {nat['request+grant s']:.2f} s")
    else:
        print(f"  (e) after DCUtR: {nat}")
    relayed_over_direct = pct(figures["relayed"], 0.5) / pct(figures["direct"], 0.5)
    print(f"  relayed / direct p50: {relayed_over_direct:.2f}x")
    print()
    c_ms = statistics.median(base_connect) * 1000
    print(f"connect, cold, n={args.cold}; ratios are median / median of the raw connect")
    print(f"  {'raw py-libp2p connect by multiaddr':<58} median {c_ms:8.1f} ms    1.0x")
    for label, text in (
        ("cold direct", "by peer id via the DHT, vault with a direct address"),
        ("cold relayed", "by peer id via the DHT, relay-only vault"),
    ):
        ms = statistics.median(figures[label]) * 1000
        print(f"  {text:<58} median {ms:8.1f} ms  {ms / c_ms:6.1f}x")


if __name__ == "__main__":
    main()
