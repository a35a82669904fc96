"""A business with hundreds of vault relationships: sync, held subscriptions, failover, revokes.

Run (the machine's big-benchmark lock, a bound on the whole run)::

    flock /tmp/kluis-bench.lock python benchmarks/bench_business_scale.py \\
        --vaults 500 --hosts 5 --deadline 1500

Needs PostgreSQL's server binaries, as the tests do (``apt-get install
postgresql``). Loopback only. Every vault store is made with
``KLUIS_TEST_FAST_KDF=1`` (Argon2id at OWASP's floor, 19 MiB t=2) so that 500
vault opens are affordable; the KDF runs only at open, so it changes no figure
below except the set-up time.

``--vaults`` real vault nodes run in ``--hosts`` processes (several per
process). Each vault grants the granted fields (4) to two businesses: one on
SQLite (the embedded default), one on a throwaway PostgreSQL server (fsync on).
Printed:

1. **Vault nodes per process and in 24 GB**: the RSS each vault node adds to its
   process, and the count that would fit in 24 GB, an *extrapolation* from it.
2. **Full sync** of the granted fields (one ``Requester.read`` per vault, stored
   as its sealed copy), vaults/second: (a) SQLite, one process, the baseline;
   (b) PostgreSQL, one worker; (c) PostgreSQL, four worker processes dividing
   the vaults by leases (D28); (b) and (c) as ratios to (a).
3. **Memory per held subscription**: the RSS a worker (and the vault side)
   gains when it holds a subscription on every grant it already reads.
4. **Failover**: four business nodes (``BusinessNode`` with ``worker=``) hold
   every subscription; one is killed with ``kill -9``. The time until its shards
   are leased by the others and until its subscriptions are held again.
5. **Revoke to deletion receipt**, under that load (the three survivors holding
   every subscription): ``--revokes`` owners revoke, spread over the hosts; the
   time from ``VaultNode.revoke`` to the signed receipt recorded in the vault,
   p50/p99.

Everything shares the machine's cores (vault hosts, workers, the PostgreSQL
server), so (c) shows where one machine stops scaling, not four machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("KLUIS_TEST_FAST_KDF", "1")

PASSPHRASE = "correct horse battery"
BIZ = "business horse battery"
FIELDS = {
    "contact.email": "alice@example.org",
    "name.given": "Alice",
    "address.home.street": "Melkmarkt 1",
    "address.home.city": "Zwolle",
}
#: Lease ttl of the failover run's workers (seconds); failover is bounded by ttl + ttl/3.
FAILOVER_TTL = 6.0


def rss_bytes() -> int:
    """This process's resident set size, from /proc (Linux)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def read_command() -> dict[str, Any]:
    line = await asyncio.to_thread(sys.stdin.readline)
    return json.loads(line) if line.strip() else {"cmd": "quit"}


# -- a process of vault nodes ----------------------------------------------------------------


async def vault_host(root: Path, first: int, count: int) -> None:
    from protocol.listen import LOOPBACK
    from vault.node.boss import VaultNode
    from vault.services.ratelimit import RateLimiter
    from vault.store.vault import Vault

    limiter = RateLimiter(rate=1_000_000, burst=1_000_000)
    base = rss_bytes()
    nodes: list[VaultNode] = []
    approving = True
    first_rss = 0

    async def approve() -> None:
        while approving:
            for vn in nodes:
                for state in vn.grants.requests("pending"):
                    vn.approve(state.request_id)
            await asyncio.sleep(0.05)

    try:
        for i in range(first, first + count):
            home = root / f"vault{i}"
            with Vault.create(home, PASSPHRASE) as v:
                for path, value in FIELDS.items():
                    v.profile.set(path, value)
            nodes.append(
                await VaultNode.start(
                    home, PASSPHRASE, listen=LOOPBACK, control_port=None, limiter=limiter
                )
            )
            if len(nodes) == 1:  # the first node also loads libp2p, trio and the rest
                first_rss = rss_bytes()
        approver = asyncio.create_task(approve())
        say({"base_rss": base, "first_rss": first_rss, "rss": rss_bytes(),
             "addrs": [vn.addrs[0] for vn in nodes]})  # fmt: skip
        while True:
            cmd = await read_command()
            if cmd["cmd"] == "quit":
                break
            if cmd["cmd"] == "rss":
                say({"rss": rss_bytes()})
            elif cmd["cmd"] == "subs":
                say({"subs": subscribed(nodes, cmd["business"]),
                     "books": on_books(nodes, cmd["business"])})  # fmt: skip
            elif cmd["cmd"] == "revoke":
                say({"latencies": await revoke_some(nodes, cmd["business"], cmd["count"],
                                                    cmd["interval"], cmd["timeout"])})  # fmt: skip
        approving = False
        approver.cancel()
    finally:
        for vn in nodes:
            await vn.close()


async def revoke_some(
    nodes: list[Any], business: str, count: int, interval: float, timeout: float
) -> list[float | None]:
    """Revoke ``count`` of ``business``'s grants, ``interval`` s apart; seconds to each receipt."""

    async def one(vn: Any, grant_id: str) -> float | None:
        t = time.perf_counter()
        await vn.revoke(grant_id)
        while time.perf_counter() - t < timeout:
            if vn.grants.receipts(grant_id):
                return time.perf_counter() - t
            await asyncio.sleep(0.005)
        return None

    tasks = []
    for vn in nodes:
        live = vn.grants.live_grants(requester=business)
        if live and len(tasks) < count:
            tasks.append(asyncio.create_task(one(vn, live[0].grant_id)))
            await asyncio.sleep(interval)
    return list(await asyncio.gather(*tasks))


def subscribed(nodes: list[Any], business: str) -> int:
    """The business's live grants with a subscription open at the vault."""
    return sum(
        1
        for vn in nodes
        for g in vn.grants.live_grants(requester=business)
        if vn.access.subscriptions(g.grant_id) > 0
    )


def on_books(nodes: list[Any], business: str) -> int:
    """Subscriptions the vaults keep for the business's live grants, dead ones included."""
    return sum(
        vn.access.subscriptions(g.grant_id)
        for vn in nodes
        for g in vn.grants.live_grants(requester=business)
    )


# -- a business worker: reads (sync), then holds subscriptions ----------------------------------

#: Reads in flight at once per worker process (a business syncing thousands bounds this too).
IN_FLIGHT = 32


async def read_all(biz: Any, grants: list[str]) -> int:
    """One full read of every grant, :data:`IN_FLIGHT` at a time; how many failed."""
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(grant_id: str) -> bool:
        async with sem:
            try:
                await biz.read(grant_id)
                return True
            except Exception:  # counted: a failed sync is not a sync
                return False

    return sum(not ok for ok in await asyncio.gather(*(one(g) for g in grants)))


async def sync_worker(home: Path, store: str | None, name: str, rounds: int) -> None:
    from protocol.listen import LOOPBACK
    from vault.business.holder import SubscriptionHolder
    from vault.requester import Requester

    async with await Requester.open(
        home, BIZ, listen=LOOPBACK, retention_interval=None, store=store
    ) as biz:
        if store is not None:
            share = await biz.join_workers(name, ttl=600)
            for _ in range(12):  # settle: every worker has joined within these ticks
                await asyncio.sleep(0.25)
                await share.tick()
        mine = [r.grant_id for r in biz.book.grants() if biz.local.owns(r.vault_peer)]
        await read_all(biz, mine)  # connect and warm up
        say({"ready": len(mine)})
        await read_command()  # go
        t = time.perf_counter()
        failed = 0
        for _ in range(rounds):
            failed += await read_all(biz, mine)
        say({"syncs": len(mine) * rounds - failed, "failed": failed,
             "seconds": time.perf_counter() - t})  # fmt: skip
        cmd = await read_command()
        if cmd["cmd"] != "hold":
            return
        before = rss_bytes()
        holder = SubscriptionHolder(biz)
        t = time.perf_counter()
        await holder.start()
        while len(holder.held()) < len(mine) and time.perf_counter() - t < cmd["timeout"]:
            await asyncio.sleep(0.1)
        took = time.perf_counter() - t
        await asyncio.sleep(2.0)  # the subscribe round trips settle
        say({"held": len(holder.held()), "rss_before": before, "rss_after": rss_bytes(),
             "seconds": took})  # fmt: skip
        await read_command()
        await holder.aclose()


# -- a business node among workers (failover) -------------------------------------------------


async def node_worker(home: Path, store: str, name: str, ttl: float) -> None:
    from protocol.listen import LOOPBACK
    from vault.business import BusinessNode

    # why a subscription is not held: one stderr line each (the child's log, tallied below)
    for quiet in ("vault.business.holder", "vault.requester._resubscribe"):
        logging.getLogger(quiet).setLevel(logging.INFO)
    logging.basicConfig(stream=sys.stderr, format="%(name)s %(message)s")
    async with await BusinessNode.start(
        home, BIZ, listen=LOOPBACK, control_port=None, store=store, worker=name,
        worker_ttl=ttl, retention_interval=None,
    ) as node:  # fmt: skip
        share = node.biz.share
        assert share is not None
        stop = asyncio.create_task(read_command())  # quit, or stdin closed
        while not stop.done():  # the coordinator reads the last line
            holder = node.holder
            tasks = sum(holder.holding(i.grant_id) for i in node.biz.grants())
            say({"t": time.time(), "held": len(holder.held()), "tasks": tasks,
                 "shards": len(share.leases.owned), "rss": rss_bytes()})  # fmt: skip
            await asyncio.wait([stop], timeout=0.05)


# -- the coordinator ----------------------------------------------------------------------------


class Proc:
    """A child process speaking JSON lines; its last line is kept by a reader thread."""

    #: Where the children's stderr goes (libp2p's noise at shutdown; a crash's traceback).
    logs: Path = Path(tempfile.gettempdir())

    def __init__(self, *args: str) -> None:
        self.log = Proc.logs / f"child-{len(list(Proc.logs.glob('child-*')))}.log"
        with open(self.log, "wb") as err:
            self.p = subprocess.Popen(
                [sys.executable, __file__, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=REPO,
            )
        self.lines: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(json.loads(line))
                self.cond.notify_all()
        with self.cond:
            self.lines.append({"eof": True})
            self.cond.notify_all()

    @property
    def last(self) -> dict[str, Any]:
        with self.cond:
            got = self.lines[-1] if self.lines else {}
        if "eof" in got:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"a child process died: {tail}")
        return got

    async def reply(self, timeout: float, seen: int | None = None) -> dict[str, Any]:
        """The next line after the ``seen`` first ones (default: all so far)."""
        start = len(self.lines) if seen is None else seen

        def wait() -> dict[str, Any]:
            with self.cond:
                if not self.cond.wait_for(lambda: len(self.lines) > start, timeout):
                    raise TimeoutError("a child did not answer in time")
                got = self.lines[start]
                if "eof" in got:
                    tail = self.log.read_text(errors="replace").strip().splitlines()[-1:]
                    raise RuntimeError(f"a child process died: {tail}")
                return got

        return await asyncio.to_thread(wait)

    async def ask(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a command and wait for the line that answers it."""
        seen = len(self.lines)
        self.send(obj)
        return await self.reply(timeout, seen)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def stop(self, timeout: float = 60) -> None:
        if self.p.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.p.stdin.close()  # type: ignore[union-attr]
                self.p.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.p.kill()
                self.p.wait(timeout=30)

    def kill9(self) -> None:
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=30)


def why_lost(group: list[Proc]) -> dict[str, int]:
    """Tally the holders' and the SDK's "lost (X)" / "broke (X)" log lines of ``group``."""
    import re

    tally: dict[str, int] = {}
    for p in group:
        text = p.log.read_text(errors="replace") if p.log.exists() else ""
        for kind, exc in re.findall(r"subscription (?:\S+ )?(lost|broke) \((\w+)\)", text):
            tally[f"{kind} {exc}"] = tally.get(f"{kind} {exc}", 0) + 1
        tally["ADDCONN_DENY"] = tally.get("ADDCONN_DENY", 0) + text.count("ADDCONN_DENY")
    return tally


def copy_home(first: Path, home: Path) -> Path:
    home.mkdir(mode=0o700, parents=True)
    shutil.copy2(first / "keyfile.json", home / "keyfile.json")
    return home


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


MB = 1024 * 1024


async def sync_run(homes: list[Path], store: str | None, rounds: int, timeout: float,
                   procs: list[Proc]) -> tuple[float, list[int], list[Proc]]:  # fmt: skip
    """Start the workers, wait until warm, say go; vaults/s, vaults each, the workers."""
    mine = [Proc("--sync-worker", str(h), store or "-", f"w{i}", str(rounds))
            for i, h in enumerate(homes)]  # fmt: skip
    procs.extend(mine)
    ready = [(await p.reply(timeout, 0))["ready"] for p in mine]
    t = time.perf_counter()
    for p in mine:
        p.send({"cmd": "go"})
    done = [await p.reply(timeout, 1) for p in mine]
    wall = time.perf_counter() - t
    if failed := sum(d["failed"] for d in done):
        print(f"    ({failed} reads failed and are not counted)")
    return sum(d["syncs"] for d in done) / wall, ready, mine


async def ask_all(biz: Any, addrs: list[str], timeout: float) -> int:
    """One access request per vault, 25 at a time; how many were approved."""
    sem = asyncio.Semaphore(25)

    async def one(addr: str) -> bool:
        async with sem:
            pending = await biz.request(
                addr, fields=sorted(FIELDS), purpose="ServiceProvision", days=30
            )
            await pending.decision(timeout=timeout)
            return True

    return sum(await asyncio.gather(*(one(a) for a in addrs)))


async def coordinate(args: argparse.Namespace, tmp: Path, url: str) -> None:
    from protocol.listen import LOOPBACK
    from vault.requester import Requester

    t0 = time.monotonic()
    Proc.logs = tmp

    def left() -> float:
        remaining = args.deadline - (time.monotonic() - t0)
        if remaining <= 0:
            raise TimeoutError(f"--deadline {args.deadline:.0f}s reached")
        return remaining

    procs: list[Proc] = []
    hosts: list[Proc] = []
    try:
        per = -(-args.vaults // args.hosts)
        print(f"load: {args.vaults} vault nodes in {args.hosts} processes, "
              f"{len(FIELDS)} granted fields each, KLUIS_TEST_FAST_KDF=1; "
              f"{os.cpu_count()} cores shared with other work", flush=True)  # fmt: skip
        t = time.monotonic()
        for h in range(args.hosts):
            count = min(per, args.vaults - h * per)
            hosts.append(Proc("--vault-host", str(tmp / "vaults"), str(h * per), str(count)))
        procs.extend(hosts)
        started = [await p.reply(left(), 0) for p in hosts]
        addrs = [a for s in started for a in s["addrs"]]
        marginal = [(s["rss"] - s["first_rss"]) / (len(s["addrs"]) - 1) for s in started]
        fixed = [s["first_rss"] - (s["rss"] - s["first_rss"]) / (len(s["addrs"]) - 1)
                 for s in started]  # fmt: skip
        node_mb = sum(marginal) / len(marginal) / MB
        fixed_mb = sum(fixed) / len(fixed) / MB
        total_mb = sum(s["rss"] for s in started) / MB
        fit = int(24 * 1024 / (node_mb + fixed_mb / per))
        print(f"\n1. vault nodes: {len(addrs)} started in {time.monotonic() - t:.0f} s, "
              f"{total_mb:.0f} MB RSS in all")  # fmt: skip
        print(
            f"   RSS per vault node {node_mb:.1f} MB (measured: each node after the first "
            f"in its process), plus {fixed_mb:.0f} MB per process (interpreter, libraries)"
        )
        print(f"   extrapolated, not measured: about {fit} vault nodes in 24 GB "
              f"at {per} per process (RSS only, idle nodes)", flush=True)  # fmt: skip

        t = time.monotonic()
        async with await Requester.create(
            tmp / "sqlite-biz", BIZ, listen=LOOPBACK, retention_interval=None
        ) as biz:
            approved = await ask_all(biz, addrs, left())
        async with await Requester.create(
            tmp / "pg-biz", BIZ, listen=LOOPBACK, retention_interval=None, store=url
        ) as biz:
            approved += await ask_all(biz, addrs, left())
            pg_peer = biz.peer_id
        print(f"   {approved} grants made in {time.monotonic() - t:.0f} s", flush=True)

        print(f"\n2. full sync, {args.rounds} rounds of every vault, {IN_FLIGHT} reads in flight")
        rate_a, _, ws = await sync_run([tmp / "sqlite-biz"], None, args.rounds, left(), procs)
        print(f"(a) SQLite, 1 process (baseline)      {rate_a:8.1f} vaults/s", flush=True)
        for w in ws:
            w.stop()
        one = [copy_home(tmp / "pg-biz", tmp / "one" / "w0")]
        rate_b, _, (w1,) = await sync_run(one, url, args.rounds, left(), procs)
        print(f"(b) PostgreSQL, 1 worker              {rate_b:8.1f} vaults/s   "
              f"{rate_b / rate_a:5.2f}x (a)", flush=True)  # fmt: skip

        print("\n3. memory per held subscription (the 1-worker process of (b), every grant)")
        vault_before = [(await h.ask({"cmd": "rss"}, left()))["rss"] for h in hosts]
        w1.send({"cmd": "hold", "timeout": min(300.0, left())})
        held = await w1.reply(left(), 2)
        vault_after = [(await h.ask({"cmd": "rss"}, left()))["rss"] for h in hosts]
        n = max(1, held["held"])
        biz_kb = (held["rss_after"] - held["rss_before"]) / n / 1024
        vault_kb = (sum(vault_after) - sum(vault_before)) / n / 1024
        print(f"   {held['held']} subscriptions held in {held['seconds']:.1f} s")
        print(
            f"   business side: {biz_kb:6.1f} KB RSS per held subscription "
            f"(worker {held['rss_before'] / MB:.0f} -> {held['rss_after'] / MB:.0f} MB)"
        )
        print(f"   vault side:    {vault_kb:6.1f} KB RSS per held subscription", flush=True)
        w1.stop()

        homes = [copy_home(tmp / "pg-biz", tmp / "four" / f"w{i}") for i in range(4)]
        rate_c, split, ws = await sync_run(homes, url, args.rounds, left(), procs)
        print(f"(c) PostgreSQL, 4 worker processes    {rate_c:8.1f} vaults/s   "
              f"{rate_c / rate_a:5.2f}x (a)   {rate_c / rate_b:5.2f}x (b)   "
              f"vaults per worker {split}", flush=True)  # fmt: skip
        for w in ws:
            w.stop()

        print(f"\n4. failover: 4 business nodes (workers, lease ttl {FAILOVER_TTL:.0f} s) "
              "hold every subscription; one is killed with kill -9")  # fmt: skip
        homes = [copy_home(tmp / "pg-biz", tmp / "nodes" / f"n{i}") for i in range(4)]
        nodes = [Proc("--node-worker", str(h), url, f"n{i}", str(FAILOVER_TTL))
                 for i, h in enumerate(homes)]  # fmt: skip
        procs.extend(nodes)
        t = time.monotonic()

        def settled(group: list[Proc]) -> bool:
            states = [p.last for p in group]
            return (
                all(st.get("shards") for st in states)
                and sum(st["shards"] for st in states) == 64
                and sum(st["held"] for st in states) >= args.vaults
            )

        async def at_vaults() -> int:
            answers = await asyncio.gather(
                *(h.ask({"cmd": "subs", "business": pg_peer}, left()) for h in hosts)
            )
            return sum(a["subs"] for a in answers)

        seen = 0
        while time.monotonic() - t < 180:  # bounded: the figure says how far it got
            left()
            seen = await at_vaults()
            if settled(nodes) and seen >= args.vaults:
                break
            await asyncio.sleep(0.25)
        print(f"   {seen} of {args.vaults} subscribed at the vaults after "
              f"{time.monotonic() - t:.1f} s: held {[p.last['held'] for p in nodes]}, "
              f"shards {[p.last['shards'] for p in nodes]}")  # fmt: skip
        books = await asyncio.gather(
            *(h.ask({"cmd": "subs", "business": pg_peer}, left()) for h in hosts)
        )
        print(f"   subscriptions on the vaults' books: {sum(a['books'] for a in books)}")

        async def revokes(count: int, label: str) -> None:
            each = -(-count // args.hosts)
            asked = {"cmd": "revoke", "business": pg_peer, "count": each, "interval": 0.05,
                     "timeout": 60.0}  # fmt: skip
            answers = await asyncio.gather(*(h.ask(asked, left()) for h in hosts))
            got: list[float | None] = [x for a in answers for x in a["latencies"]]
            ok = [g for g in got if g is not None]
            shown = (f"p50 {pct(ok, 50) * 1000:.0f} ms, p99 {pct(ok, 99) * 1000:.0f} ms, "
                     f"max {max(ok) * 1000:.0f} ms" if ok else "none")  # fmt: skip
            print(f"   {label}: {len(ok)} receipts of {len(got)} within 60 s: {shown}", flush=True)

        print(f"\n5a. revoke -> deletion receipt, 4 workers holding {args.vaults} subscriptions")
        await revokes(args.revokes // 2, "steady state")
        live = args.vaults - args.revokes // 2
        await asyncio.sleep(FAILOVER_TTL)
        victim = max(nodes, key=lambda p: p.last["held"])
        rest = [p for p in nodes if p is not victim]
        lost = victim.last["held"]
        t = time.monotonic()
        victim.kill9()
        shards_at = held_at = vault_at = None
        while vault_at is None and time.monotonic() - t < 120:
            left()
            await asyncio.sleep(0.1)
            now = time.monotonic() - t
            if shards_at is None and sum(p.last["shards"] for p in rest) == 64:
                shards_at = now
            if held_at is None and sum(p.last["held"] for p in rest) >= live:
                held_at = now
            if shards_at is not None and await at_vaults() >= live:
                vault_at = time.monotonic() - t
        print(f"\n4. kill -9 of a worker holding {lost} subscriptions ({live} live grants)")

        def secs(x: float | None) -> str:
            return "not within 120 s" if x is None else f"{x:5.1f} s"

        print(f"   its shards leased by the others after      {secs(shards_at)} "
              f"(bound ttl + ttl/3 = {FAILOVER_TTL * 4 / 3:.0f} s)")  # fmt: skip
        print(f"   survivors hold every subscription after    {secs(held_at)} "
              f"(acknowledged by the vault): {[p.last['held'] for p in rest]}")  # fmt: skip
        print(f"   holding tasks (held or retrying) of the survivors: "
              f"{[p.last['tasks'] for p in rest]}")  # fmt: skip
        print(f"   every vault sees its subscription after    {secs(vault_at)} "
              f"({await at_vaults()} of {live})")  # fmt: skip
        books = await asyncio.gather(
            *(h.ask({"cmd": "subs", "business": pg_peer}, left()) for h in hosts)
        )
        print(f"   subscriptions on the vaults' books          {sum(a['books'] for a in books)} "
              f"(dead ones are forgotten when their stream ends, D50)")  # fmt: skip
        rss = [p.last["rss"] / MB for p in rest]
        print(f"   survivors' RSS {', '.join(f'{r:.0f}' for r in rss)} MB", flush=True)
        print(f"   why the survivors' subscriptions broke or were lost: {why_lost(rest + hosts)}")
        print(f"\n5b. revoke -> deletion receipt, after the failover, 3 workers holding {live}")
        await revokes(args.revokes - args.revokes // 2, "after failover")
        for p in rest:
            p.stop(timeout=30)
    finally:
        for p in reversed(procs):
            p.stop(timeout=60)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vaults", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=5, help="processes the vault nodes share")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--revokes", type=int, default=100)
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds for the run")
    parser.add_argument("--vault-host", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--sync-worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--node-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.vault_host:
        root, first, count = args.vault_host
        asyncio.run(vault_host(Path(root), int(first), int(count)))
        return
    if args.sync_worker:
        home, store, name, rounds = args.sync_worker
        asyncio.run(sync_worker(Path(home), None if store == "-" else store, name, int(rounds)))
        return
    if args.node_worker:
        home, store, name, ttl = args.node_worker
        asyncio.run(node_worker(Path(home), store, name, float(ttl)))
        return
    from tests.pg.server import Server, bindir

    found = bindir()
    if found is None:
        sys.exit("no PostgreSQL server binaries (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="kluis-bench-pgdata-"))
    with tempfile.TemporaryDirectory(prefix="kluis-bench-scale-") as tmp:
        server = Server(found, root)
        server.start(fsync=True)  # durable commits, like the SQLite baseline's
        try:
            subprocess.run(
                [str(found / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "kluis",
                 "bench"],
                check=True,
            )  # fmt: skip
            asyncio.run(coordinate(args, Path(tmp), server.url("bench")))
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run()
