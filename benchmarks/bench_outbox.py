"""Outbox benchmark: durable sealed enqueue throughput, and reconnect → drained queue.

Run: ``python benchmarks/bench_outbox.py [--n 1000]``. Loopback only; prints figures.

1. **Enqueue throughput.** ``--n`` profile updates queued for one business:
   each is HPKE-sealed (ML-KEM-768 + X25519, HKDF-SHA256, AES-256-GCM) to the
   business's key, sealed again under the vault's data key and committed to
   SQLite (WAL, ``synchronous=FULL``): one durable transaction per message, and
   also in batches (one transaction for the lot).
2. **Sealing alone.** HPKE seal of one 200-byte update (no disk).
3. **Reconnect → drained.** A business node is stopped; the vault queues
   ``--n`` updates for it; the business starts again and polls. We time from the
   start of its poll to an empty outbox: the business pulls each delivery on its
   own connection, opens it, applies it to its sealed copy (one transaction
   each, with the seq that makes it exactly-once) and acknowledges it with the
   next poll.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import tempfile
import time
from pathlib import Path

from protocol import Update
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.services.outbox import Outbox
from vault.store.hpke import HpkeKeyPair, seal_to
from vault.store.vault import Vault

PASSPHRASE = "correct horse battery"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def _update(n: int) -> Update:
    return Update(
        grant_id="g" * 32, path="address.home.city", value=f"city {n:06d}", version=n, ts=1
    )


def bench_enqueue(n: int, folder: Path) -> None:
    key = HpkeKeyPair.generate()
    peer = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
    with Vault.create(folder / "enqueue", PASSPHRASE) as v:
        box = Outbox(v)
        t0 = time.perf_counter()
        for i in range(n):
            box.enqueue(peer, _update(i), key.public_hex())
        dt = time.perf_counter() - t0
        print(f"enqueue, one durable commit each: {n / dt:8.0f} msg/s ({dt / n * 1e3:.2f} ms/msg)")
        t0 = time.perf_counter()
        with v.transaction():
            for i in range(n):
                box.enqueue(peer, _update(n + i), key.public_hex())
        dt = time.perf_counter() - t0
        print(f"enqueue, one commit for {n}:      {n / dt:8.0f} msg/s ({dt / n * 1e3:.2f} ms/msg)")
        t0 = time.perf_counter()
        reloaded = Outbox(v)
        dt = time.perf_counter() - t0
        print(f"reload {len(reloaded)} queued items after restart: {dt * 1e3:.0f} ms")
    payload = b"x" * 200
    t0 = time.perf_counter()
    for _ in range(n):
        seal_to(key.public_hex(), payload, b"info")
    dt = time.perf_counter() - t0
    print(f"HPKE seal alone (200 B):          {n / dt:8.0f} msg/s ({dt / n * 1e3:.2f} ms/msg)")


async def bench_drain(n: int, folder: Path) -> None:
    home = folder / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("address.home.city", "Zwolle")
    biz_home = folder / "biz"
    biz_pass = secrets.token_urlsafe(16)
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn:
        biz = await Requester.open(biz_home, biz_pass, listen=LOOPBACK, retention_interval=None)
        pending = await biz.request(
            vn.addrs[0], fields=["address.home.*"], purpose="ServiceProvision"
        )
        vn.approve(pending.request_id)
        grant = await pending.decision(timeout=10)
        await biz.read(grant)
        await biz.close()
        t0 = time.perf_counter()
        for i in range(n):
            vn.vault.profile.set("address.home.city", f"city {i}")
        dt = time.perf_counter() - t0
        queued = len(vn.outbox)
        each = dt / n * 1e3
        print(f"profile change → queued update, end to end: {each:.2f} ms each ({queued} queued)")
        biz = await Requester.open(
            biz_home, biz_pass, listen=LOOPBACK, retention_interval=None
        )  # its start-up poll drains the queue
        t0 = time.perf_counter()
        try:
            while len(vn.outbox):
                await asyncio.sleep(0.005)
                if time.perf_counter() - t0 > 300:
                    raise SystemExit("did not drain in 300 s")
            dt = time.perf_counter() - t0
            applied = len(biz.delivery.applied)
            print(
                f"reconnect → drained {queued} messages: {dt:.2f} s "
                f"({queued / dt:.0f} msg/s, {dt / queued * 1e3:.2f} ms/msg); applied {applied}"
            )
            assert biz.local_copy(grant) == {"address.home.city": f"city {n - 1}"}
        finally:
            await biz.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        bench_enqueue(args.n, Path(tmp))
        asyncio.run(bench_drain(args.n, Path(tmp)))


if __name__ == "__main__":
    main()
