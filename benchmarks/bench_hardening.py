"""Costs of the store hardening (issue 13 §3, §6), each beside a baseline from the same run.

Run: ``python benchmarks/bench_hardening.py`` (about a minute). It prints figures;
it is not a test. Everything happens in a temporary folder.

* the rollback check at open (``AuditLog.check_floor``) against the whole open;
* raising the high-water mark after a durable commit against the commit itself;
* the epoch sealer against plain AES-GCM under one fixed key;
* the grant book's trail replay at load, from its checkpoint and from scratch;
* ``kluis rekey`` throughput against just decrypting every row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.services.trail import Trail
from vault.store.crypto import KdfParams, Sealer, SecretKey, derive_kek
from vault.store.highwater import HighWaterMark
from vault.store.vault import Vault

PASSPHRASE = "benchmark passphrase"


def _median(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _build(home: Path, fields: int, entries: int) -> None:
    with Vault.create(home, PASSPHRASE) as v:
        with v.transaction():
            for i in range(fields):
                v.profile.set(f"custom.f{i}", f"value {i}")
        batch = 5000
        for start in range(0, entries, batch):
            with v.transaction():
                for i in range(start, min(entries, start + batch)):
                    v.audit.append("access.read", {"grant_id": "g" * 32, "fields": ["x"], "i": i})


def bench_open_check(home: Path, rounds: int) -> None:
    params = KdfParams.fresh()
    kdf = _median(lambda: derive_kek(PASSPHRASE, params), rounds)
    total = _median(lambda: Vault.open(home, PASSPHRASE).close(), rounds)
    with Vault.open(home, PASSPHRASE) as v:
        check = _median(v.audit.check_floor, rounds * 20)
    rest = total - kdf
    print(
        f"open: total {total * 1e3:.1f} ms (Argon2id {kdf * 1e3:.1f} ms, "
        f"m={params.memory_cost} KiB t={params.iterations} p={params.lanes}); "
        f"rollback check {check * 1e6:.0f} us = "
        f"{check / total:.2%} of the open, {check / rest:.2%} of the open without Argon2id"
    )


def bench_mark(home: Path, rounds: int) -> None:
    with Vault.open(home, PASSPHRASE) as v:
        seq, digest = v.audit.head()
        mark = HighWaterMark(home.parent / "bench.hwm", v._keyring.hwm_key)  # not the vault's
        mark.create(seq, digest)
        marks = iter(range(seq + 1, seq + 1 + rounds * 10))
        advance = _median(lambda: mark.advance(next(marks), digest), rounds * 10)
        values = iter(range(10**9))
        commit = _median(lambda: v.profile.set("custom.bench", f"v{next(values)}"), rounds)
    print(
        f"mark: raise after a durable commit {advance * 1e6:.0f} us; a durable profile.set "
        f"{commit * 1e3:.2f} ms (mark = {advance / commit:.1%} of it)"
    )


def bench_sealer(rounds: int) -> None:
    key = SecretKey(os.urandom(32))
    sealer, plain_aead = Sealer(key), AESGCM(key.raw())
    msg, ad, n = os.urandom(200), b"kluis-record-v1\x00profile\x00" + os.urandom(32), 20_000

    def plain_seal() -> None:
        for _ in range(n):
            nonce = os.urandom(12)
            plain_aead.encrypt(nonce, msg, ad)

    def epoch_seal() -> None:
        for _ in range(n):
            sealer.seal(msg, ad)

    blob = sealer.seal(msg, ad)
    nonce = os.urandom(12)
    old = nonce + plain_aead.encrypt(nonce, msg, ad)
    a = _median(plain_seal, rounds) / n
    b = _median(epoch_seal, rounds) / n
    c = _median(lambda: [plain_aead.decrypt(old[:12], old[12:], ad) for _ in range(n)], rounds) / n
    d = _median(lambda: [sealer.open(blob, ad) for _ in range(n)], rounds) / n
    print(
        f"seal: epoch sealer {b * 1e6:.2f} us vs plain AES-GCM {a * 1e6:.2f} us ({b / a:.2f}x); "
        f"open {d * 1e6:.2f} us vs {c * 1e6:.2f} us ({d / c:.2f}x); +18 bytes per blob"
    )


def bench_trail(home: Path, entries: int) -> None:
    with Vault.open(home, PASSPHRASE) as v:
        t0 = time.perf_counter()
        trail = Trail.load(v)
        scratch = time.perf_counter() - t0
        trail.save(v)
        t0 = time.perf_counter()
        Trail.load(v)
        checkpointed = time.perf_counter() - t0
    print(
        f"trail: replay of {trail.replayed} entries at load {scratch * 1e3:.0f} ms "
        f"({trail.replayed / scratch:,.0f} entries/s); "
        f"from a checkpoint {checkpointed * 1e3:.1f} ms "
        f"({scratch / checkpointed:.0f}x less)"
    )


def bench_rekey(home: Path) -> None:
    with Vault.open(home, PASSPHRASE) as v:
        t0 = time.perf_counter()
        rows = sum(1 for _ in v.audit.entries()) + len(v.store.items("profile"))
        decrypt = time.perf_counter() - t0
        params = KdfParams.fresh()
        kdf = _median(lambda: derive_kek(PASSPHRASE, params), 1)
        t0 = time.perf_counter()
        counts = v.rekey(PASSPHRASE)
        total = time.perf_counter() - t0
    moved = counts.records + counts.audit_entries
    work = total - 2 * kdf  # rekey runs Argon2id twice: check the passphrase, wrap the new key
    print(
        f"rekey: {moved:,} rows in {total:.2f} s ({work:.2f} s without its two Argon2id runs): "
        f"{moved / work:,.0f} rows/s; decrypting {rows:,} rows alone: {rows / decrypt:,.0f} rows/s "
        f"(rekey = {decrypt / rows / (work / moved):.2f}x that rate)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fields", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kluis-bench-") as tmp:
        home = Path(tmp) / "vault"
        _build(home, args.fields, args.entries)
        bench_open_check(home, args.rounds)
        bench_mark(home, args.rounds)
        bench_sealer(args.rounds)
        bench_trail(home, args.entries)
        bench_rekey(home)


if __name__ == "__main__":
    main()
