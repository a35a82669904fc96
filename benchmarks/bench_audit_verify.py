"""An honest read's latency while the audit chain is verified, and a stranger's flood.

Issue 13 §1: ``GET /audit?verify=1`` over 12,400 entries took 4.3 s on the
event loop and an honest read waited for it; four peers with no grant wrote 371
audit entries a second. This prints, in one run on this machine:

* p50 / p95 of an honest read (the access handler's sync path, audited) when
  idle, and while a full verification of N entries runs in its worker thread,
  as a ratio (the issue's bar: p50 within 3x of idle);
* the time of that full walk, and of the incremental one after a few more
  entries (from the sealed checkpoint);
* the audit entries written for 4 strangers x F junk frames (before D29: one
  per frame).

    python benchmarks/bench_audit_verify.py            # N = 100,000
    python benchmarks/bench_audit_verify.py -n 20000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from protocol import (
    AccessRequest,
    Error,
    Message,
    Offer,
    Purpose,
    Read,
    ReadResult,
    ReplayGuard,
    Scope,
    new_id,
    new_nonce,
    sign,
)
from protocol.clock import now_ms
from protocol.purposes import PurposeCode
from protocol.signing import Identity
from vault.services.access import AccessService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.store.vault import Vault

PASSPHRASE = "benchmark passphrase, not a secret"
#: Honest reads are paced (about 1,000 a second at most), idle and during the walk alike.
PACE_S = 0.001


class Link:
    """The part of a stream the access handler uses (no network: the handler's own cost)."""

    def __init__(self, peer: str, size: int = 300) -> None:
        self.remote_peer_id, self.frame_size, self.closed = peer, size, False

    async def send(self, event: Message) -> None:  # reads reply synchronously
        raise AssertionError("not used")

    async def close(self) -> None:
        self.closed = True


def fill(vault: Vault, n: int) -> float:
    started = time.perf_counter()
    done = 0
    while done < n:
        step = min(5000, n - done)
        with vault._db.transaction(durable=False):
            for i in range(step):
                vault.audit.append("access.read", {"i": done + i, "fields": ["x"]}, durable=False)
        done += step
    return time.perf_counter() - started


def read_once(svc: AccessService, who: Identity, grant_id: str) -> float:
    msg = sign(
        Read(
            grant_id=grant_id,
            requester=who.peer_id,
            fields=("contact.email",),
            nonce=new_nonce(),
            ts=now_ms(),
        ),
        who,
    )
    t0 = time.perf_counter()
    reply = svc.handle(Link(who.peer_id), msg)
    took = time.perf_counter() - t0
    assert isinstance(reply, ReadResult), reply
    return took


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def run(n: int, frames: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault.create(Path(tmp) / "home", PASSPHRASE)
        try:
            vault.profile.set("contact.email", "alice@example.org")
            print(f"filling {n:,} audit entries ...", flush=True)
            print(f"  {fill(vault, n):.1f} s")
            grants = GrantBook(vault)
            svc = AccessService(
                vault,
                grants,
                limiter=RateLimiter(rate=1e6, burst=1e6),  # the handler's cost, not its limits
                replay=ReplayGuard(max_nonces=10**7, max_nonces_per_peer=10**7),
            )
            await svc.start()
            alice = Identity.generate()
            req = sign(
                AccessRequest(
                    request_id=new_id(),
                    requester=alice.peer_id,
                    vault=vault.peer_id,
                    scope=Scope.of(["contact.email"], ["read"]),
                    purpose=Purpose(code=PurposeCode.SERVICE_PROVISION, text="bench"),
                    duration_days=30,
                    retention_days=0,
                    offer=Offer(description="", value_cents=0),
                    nonce=new_nonce(),
                    ts=now_ms(),
                ),
                alice,
            )
            svc.handle(Link(alice.peer_id), req)
            grant = grants.approve(req.request_id)

            idle = []
            for _ in range(500):
                idle.append(read_once(svc, alice, grant.grant_id))
                await asyncio.sleep(PACE_S)

            t0 = time.perf_counter()
            task = asyncio.create_task(vault.audit.verify_off_loop(full=True))
            during = []
            while not task.done():
                during.append(read_once(svc, alice, grant.grant_id))
                await asyncio.sleep(PACE_S)
            report = await task
            walk = time.perf_counter() - t0
            assert report.ok, report

            t0 = time.perf_counter()
            assert vault.audit.verify().ok  # the old way: on the loop, the whole chain
            stall = time.perf_counter() - t0

            for _ in range(100):
                read_once(svc, alice, grant.grant_id)
            t0 = time.perf_counter()
            inc = await vault.audit.verify_off_loop()
            inc_s = time.perf_counter() - t0
            assert inc.ok

            before = len(vault.audit)
            strangers = [Identity.generate() for _ in range(4)]
            for _ in range(frames):
                for who in strangers:  # signed reads under a grant they do not hold
                    msg = sign(
                        Read(
                            grant_id=grant.grant_id,
                            requester=who.peer_id,
                            fields=("contact.email",),
                            nonce=new_nonce(),
                            ts=now_ms(),
                        ),
                        who,
                    )
                    assert isinstance(svc.handle(Link(who.peer_id), msg), Error)
            junk_entries = len(vault.audit) - before
            svc.strangers.flush_all(grants.now())
            flushed = len(vault.audit) - before
            await svc.aclose()
        finally:
            vault.close()

    p50_idle, p50_during = statistics.median(idle) * 1000, statistics.median(during) * 1000
    print(f"honest read, idle:            p50 {p50_idle:.3f} ms  p95 {pct(idle, 0.95):.3f} ms")
    print(
        f"honest read, during verify:   p50 {p50_during:.3f} ms  p95 {pct(during, 0.95):.3f} ms"
        f"  ({len(during):,} reads served during the walk)"
    )
    print(f"ratio p50 during / idle:      {p50_during / p50_idle:.2f}x  (bar: 3x)")
    print(f"full verification of {report.checked:,} entries: {walk:.2f} s (worker thread)")
    print(f"the same walk on the loop (before D29): {stall:.2f} s that no read was served")
    print(
        f"incremental verification after 100 more reads: {inc_s * 1000:.1f} ms "
        f"({inc.checked - inc.skipped} walked, {inc.skipped:,} from the checkpoint)"
    )
    print(
        f"4 strangers x {frames:,} junk frames: {junk_entries} audit entries during the window, "
        f"{flushed} after it closed (was {4 * frames:,})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("-n", type=int, default=100_000, help="audit entries to verify")
    ap.add_argument("--frames", type=int, default=1000, help="junk frames per stranger")
    args = ap.parse_args()
    asyncio.run(run(args.n, args.frames))


if __name__ == "__main__":
    main()
