"""Full sync of granted fields, vaults per second: SQLite, PostgreSQL with 1 and 4 workers.

Run: ``python benchmarks/bench_pg_sync.py [--vaults 16] [--rounds 5]`` (needs PostgreSQL's
server binaries, as the tests do: ``apt-get install postgresql``). Loopback only.

``--vaults`` vault nodes run in this process, each with a grant to two businesses:
one on SQLite (the embedded default), one on a throwaway PostgreSQL server. A
*sync* is one ``Requester.read`` of every granted field of a vault, stored as its
sealed copy. Each business worker is its own process; it syncs each vault it
holds, all at once, ``--rounds`` times. Printed: vaults per second for

(a) the SQLite business, one process: the baseline;
(b) the PostgreSQL business, one worker;
(c) the PostgreSQL business, four workers sharing the vaults by leases (D28);

with (b) and (c) as ratios to (a). The vault nodes share this process and the
machine's cores with the workers, so (c) shows where one machine stops
scaling, not what four machines would do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from protocol.listen import LOOPBACK
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.services.ratelimit import RateLimiter
from vault.store.vault import Vault

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.pg.server import Server, bindir  # noqa: E402

PASSPHRASE = "correct horse battery"
BIZ = "business horse battery"
FIELDS = {
    "contact.email": "alice@example.org",
    "name.given": "Alice",
    "address.home.street": "Melkmarkt 1",
    "address.home.city": "Zwolle",
}


# -- a worker process ---------------------------------------------------------------------


async def worker(home: Path, store: str | None, name: str, rounds: int) -> None:
    async with await Requester.open(
        home, BIZ, listen=LOOPBACK, retention_interval=None, store=store
    ) as biz:
        if store is not None:
            share = await biz.join_workers(name, ttl=120)
            for _ in range(12):  # settle: every worker has joined within these ticks
                await asyncio.sleep(0.25)
                await share.tick()
        mine = [r.grant_id for r in biz.book.grants() if biz.local.owns(r.vault_peer)]
        for grant_id in mine:  # connect and warm up
            await biz.read(grant_id)
        print(json.dumps({"ready": len(mine)}), flush=True)
        sys.stdin.readline()  # "go"
        t = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(biz.read(g) for g in mine))
        elapsed = time.perf_counter() - t
        print(json.dumps({"syncs": len(mine) * rounds, "seconds": elapsed}), flush=True)


def spawn(home: Path, store: str | None, name: str, rounds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", str(home), store or "-", name, str(rounds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )  # fmt: skip  (stderr: libp2p's noise at shutdown; a dead worker shows as no reply)


async def run_workers(homes: list[Path], store: str | None, rounds: int) -> tuple[float, list[int]]:
    """Start the workers, wait until each is warm, say go; vaults per second, vaults each."""
    procs = [spawn(h, store, f"w{i}", rounds) for i, h in enumerate(homes)]
    try:
        ready = [
            json.loads(await asyncio.to_thread(p.stdout.readline))["ready"]  # type: ignore[union-attr]
            for p in procs
        ]
        t = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        done = [json.loads(await asyncio.to_thread(p.stdout.readline)) for p in procs]  # type: ignore[union-attr]
        wall = time.perf_counter() - t
    finally:
        for p in procs:
            p.stdin.close()  # type: ignore[union-attr]
            p.wait(timeout=60)
            p.stdout.close()  # type: ignore[union-attr]
    return sum(d["syncs"] for d in done) / wall, ready


# -- the coordinator ----------------------------------------------------------------------------


async def approve_everything(nodes: list[VaultNode]) -> None:
    """The owners, in a hurry: approve every pending request (benchmark only)."""
    while True:
        for vn in nodes:
            for state in vn.grants.requests("pending"):
                vn.approve(state.request_id)
        await asyncio.sleep(0.01)


async def ask_all(biz: Requester, nodes: list[VaultNode]) -> None:
    pendings = [
        await biz.request(vn.addrs[0], fields=sorted(FIELDS), purpose="ServiceProvision", days=30)
        for vn in nodes
    ]
    for p in pendings:
        await p.decision(timeout=60)


def worker_homes(first: Path, tmp: Path, count: int) -> list[Path]:
    homes = []
    for i in range(count):
        home = tmp / f"pg-w{i}"
        home.mkdir(mode=0o700, parents=True)
        shutil.copy2(first / "keyfile.json", home / "keyfile.json")
        homes.append(home)
    return homes


async def main(vaults: int, rounds: int, tmp: Path, url: str) -> None:
    limiter = RateLimiter(rate=1_000_000, burst=1_000_000)
    nodes: list[VaultNode] = []
    try:
        for i in range(vaults):
            home = tmp / f"vault{i}"
            with Vault.create(home, PASSPHRASE) as v:
                for path, value in FIELDS.items():
                    v.profile.set(path, value)
            nodes.append(
                await VaultNode.start(
                    home, PASSPHRASE, listen=LOOPBACK, control_port=None, limiter=limiter
                )
            )
        approver = asyncio.create_task(approve_everything(nodes))
        async with await Requester.create(
            tmp / "sqlite-biz", BIZ, listen=LOOPBACK, retention_interval=None
        ) as biz:
            await ask_all(biz, nodes)
        async with await Requester.create(
            tmp / "pg-biz", BIZ, listen=LOOPBACK, retention_interval=None, store=url
        ) as biz:
            await ask_all(biz, nodes)
        approver.cancel()

        print(f"{vaults} vaults, {len(FIELDS)} granted fields each, {rounds} rounds\n")
        base, _ = await run_workers([tmp / "sqlite-biz"], None, rounds)
        print(f"(a) SQLite, 1 process (baseline)      {base:8.1f} vaults/s")
        one, _ = await run_workers(worker_homes(tmp / "pg-biz", tmp / "one", 1), url, rounds)
        print(f"(b) PostgreSQL, 1 worker              {one:8.1f} vaults/s   {one / base:5.2f}x (a)")
        four, split = await run_workers(worker_homes(tmp / "pg-biz", tmp / "four", 4), url, rounds)
        print(
            f"(c) PostgreSQL, 4 worker processes    {four:8.1f} vaults/s   {four / base:5.2f}x (a)"
            f"   {four / one:5.2f}x (b)   vaults per worker {split}"
        )
    finally:
        for vn in nodes:
            await vn.close()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vaults", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.worker:
        home, store, name, rounds = args.worker
        asyncio.run(worker(Path(home), None if store == "-" else store, name, int(rounds)))
        return
    found = bindir()
    if found is None:
        sys.exit("no PostgreSQL server binaries (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="kluis-bench-pgdata-"))
    with tempfile.TemporaryDirectory(prefix="kluis-bench-pg-") as tmp:
        server = Server(found, root)
        server.start(fsync=True)  # durable commits, like the SQLite baseline's
        try:
            subprocess.run(
                [str(found / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "kluis",
                 "bench"],
                check=True,
            )  # fmt: skip
            asyncio.run(main(args.vaults, args.rounds, Path(tmp), server.url("bench")))
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run()
