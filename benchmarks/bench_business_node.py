"""Business node benchmark: owner's revoke / erase -> signed receipt at the vault.

Run: ``python benchmarks/bench_business_node.py [--n 20]``. Loopback only; prints figures.

A vault and a business node (``vault.business.BusinessNode``, the SDK kept
running, holding one subscription per grant) on 127.0.0.1. For each of ``--n``
grants: the business reads, then the owner revokes; we time from the owner's
``revoke`` call to the vault holding the business's signed deletion receipt.
Then one erasure request, timed to the signed erasure receipt. The baseline,
measured in the same run, is one signed read round trip on the same
connection; figures are also given as ratios to it (machines differ; ratios
travel better).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vault.business import BusinessNode
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.vault import Vault

PASSPHRASE = "correct horse battery"
BIZ = "business horse battery"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


async def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("no receipt")
        await asyncio.sleep(0.002)


async def run(n: int, folder: Path) -> None:
    with Vault.create(folder / "vault", PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
    async with Requester.create(folder / "biz", BIZ, network=False, retention_interval=None):
        pass
    async with (
        await VaultNode.start(folder / "vault", PASSPHRASE, listen=LOOPBACK, control_port=None)
        as vn,
        await BusinessNode.start(folder / "biz", BIZ, listen=LOOPBACK, control_port=None,
                                 retention_interval=None) as bn,
    ):  # fmt: skip
        biz = bn.biz
        reads, revokes = [], []
        for _ in range(n):
            pending = await biz.request(vn.addrs[0], ["contact.email"], "ServiceProvision")
            vn.approve(pending.request_id)
            grant = await pending.decision(timeout=10)
            await biz.read(grant)
            t0 = time.perf_counter()
            await biz.read(grant)
            reads.append(time.perf_counter() - t0)
            bn.holder.refresh()
            await _until(lambda g=grant.grant_id: g in bn.holder.held())
            t0 = time.perf_counter()
            await vn.revoke(grant.grant_id)
            await _until(lambda g=grant.grant_id: len(vn.grants.receipts(g)) == 1)
            revokes.append(time.perf_counter() - t0)
        pending = await biz.request(vn.addrs[0], ["contact.email"], "ServiceProvision")
        vn.approve(pending.request_id)
        await biz.read(await pending.decision(timeout=10))
        t0 = time.perf_counter()
        rec = vn.delivery.erase(biz.peer_id)
        await _until(lambda: vn.erasures.get(rec.erasure_id).receipt is not None)
        erase = time.perf_counter() - t0
    base = statistics.median(reads)
    med, p95 = statistics.median(revokes), sorted(revokes)[max(0, int(0.95 * n) - 1)]
    print(f"baseline: signed read round trip, median {base * 1e3:7.1f} ms  (n={n})")
    print(f"revoke -> deletion receipt at the vault: median {med * 1e3:7.1f} ms, "
          f"p95 {p95 * 1e3:7.1f} ms  ({med / base:.1f}x a read)")  # fmt: skip
    print(f"erase  -> erasure receipt at the vault:         {erase * 1e3:7.1f} ms  "
          f"({erase / base:.1f}x a read)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="kluis-bench-biz-") as tmp:
        asyncio.run(run(args.n, Path(tmp)))


if __name__ == "__main__":
    main()
