"""What the business profile costs on the access path, and what a domain check takes.

Run: ``python benchmarks/bench_business_identity.py [--n 2000]``. Loopback only.

Baselines are measured in the same run, and every figure is also given as a ratio:

(a) an ``access_request`` frame without a profile: bytes, and parse + verify per frame
    (what the vault does for every request: strict pydantic, Ed25519);
(b) the same with a signed ``business_profile`` inside (a second signature to check);
(c) ``BusinessBook.label`` (what every listing calls per row) with 500 known businesses;
(d) one domain check against a local HTTPS server (throwaway CA, 127.0.0.1), next to a
    plain HTTPS GET of the same file with a fresh client (the floor for a cold check).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol import Identity, dump_message, parse_message, verify
from protocol.business import well_known_document
from tests.protocol.business_helpers import profile
from tests.vault.access_helpers import ManualClock, access_request
from tests.vault.https_helpers import https_server
from vault.services.domain_check import DomainVerifier
from vault.services.grantbook import GrantBook
from vault.services.identity import BusinessBook
from vault.store.vault import Vault


def per_op_us(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    best = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best.append((time.perf_counter() - t0) / n * 1e6)
    return min(best)


def bench_frames(n: int) -> None:
    biz, vault = Identity.generate(), Identity.generate()
    bare = dump_message(access_request(biz, vault.peer_id))
    full = dump_message(access_request(biz, vault.peer_id, business=profile(biz)))

    def check(raw: bytes) -> None:
        verify(parse_message(raw), biz.peer_id)  # type: ignore[arg-type]

    a = per_op_us(lambda: check(bare), n)
    b = per_op_us(lambda: check(full), n)
    print(f"(a) request frame, no profile:   {len(bare):5d} B  parse+verify {a:7.1f} µs")
    print(f"(b) request frame, with profile: {len(full):5d} B  parse+verify {b:7.1f} µs")
    print(f"    ratio b/a: {len(full) / len(bare):.2f}x bytes, {b / a:.2f}x time")


def bench_labels(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault.create(Path(tmp) / "v", "benchmark passphrase", clock=ManualClock())
        grants = GrantBook(vault)
        book = BusinessBook(vault, grants)
        peers = []
        for i in range(500):
            who = Identity.generate()
            req = access_request(
                who, vault.peer_id, business=profile(who, display_name=f"Shop {i}")
            )
            grants.submit(req)
            peers.append(who.peer_id)
        c = per_op_us(lambda: book.label(peers[123]), n)
        base = per_op_us(lambda: grants.request(next(iter(grants._requests))), n)
        print(
            f"(c) label() with 500 businesses: {c:7.1f} µs  (a grant-book lookup: {base:.2f} µs;"
            f" {c / base:.0f}x)"
        )
        vault.close()


async def bench_domain(rounds: int) -> None:
    biz = Identity.generate()
    async with https_server() as srv:
        srv.publish("despaak.nl", well_known_document(biz.peer_id))
        checks, plain = [], []
        for _ in range(rounds):
            v = DomainVerifier(ManualClock(), ssl_context=srv.client_ssl, resolver=srv.resolver())
            t0 = time.perf_counter()
            out = await v.check(biz.peer_id, "despaak.nl")
            checks.append(time.perf_counter() - t0)
            assert out.status == "verified"
            await v.aclose()
            t0 = time.perf_counter()
            conn = aiohttp.TCPConnector(ssl=srv.client_ssl)
            async with aiohttp.ClientSession(connector=conn) as s:
                async with s.get(
                    f"https://127.0.0.1:{srv.port}/",
                    headers={"Host": "despaak.nl"},
                    server_hostname="despaak.nl",
                ) as r:
                    await r.read()
            plain.append(time.perf_counter() - t0)
        c, p = statistics.median(checks) * 1000, statistics.median(plain) * 1000
        print(
            f"(d) domain check, cold client:   {c:7.2f} ms  (plain HTTPS GET: {p:.2f} ms;"
            f" {c / p:.2f}x)"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    bench_frames(args.n)
    bench_labels(args.n)
    asyncio.run(bench_domain(20))


if __name__ == "__main__":
    main()
