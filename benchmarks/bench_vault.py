"""Vault benchmarks: unlock (KDF vs the rest), set/get throughput, open time and RSS at scale.

Run: ``python benchmarks/bench_vault.py`` (about a minute). It prints figures;
it is not a test. Everything happens in a temporary folder.

The large fixture has 10,000 profile fields and 100,000 audit entries. Open
time and memory are measured in a fresh subprocess, so the RSS is that of a
process that only opened the vault, not of the one that built it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vault.store.crypto import KdfParams, derive_kek
from vault.store.profile import decode_field
from vault.store.vault import Vault

PASSPHRASE = "benchmark passphrase"
FIELDS = 10_000
AUDIT_ENTRIES = 100_000


def _rss_mib() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_unlock(home: Path, rounds: int = 5) -> None:
    kdf, total = [], []
    params = KdfParams.fresh()
    for _ in range(rounds):
        t0 = time.perf_counter()
        derive_kek(PASSPHRASE, params)
        kdf.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        Vault.open(home, PASSPHRASE).close()
        total.append(time.perf_counter() - t0)
    k, t = statistics.median(kdf), statistics.median(total)
    print(
        f"unlock: total {t * 1000:.1f} ms = Argon2id {k * 1000:.1f} ms "
        f"+ rest {(t - k) * 1000:.1f} ms  (median of {rounds}; "
        f"m={params.memory_cost} KiB, t={params.iterations}, p={params.lanes})"
    )


def bench_set_get(home: Path, n_set: int = 1000, n_get: int = 5000) -> None:
    with Vault.open(home, PASSPHRASE) as v:
        t0 = time.perf_counter()
        for i in range(n_set):
            v.profile.set(f"custom.bench.f{i % 200}", f"value {i}")
        dt_set = time.perf_counter() - t0
        t0 = time.perf_counter()
        with v.transaction():
            for i in range(n_set):
                v.profile.set(f"custom.batch.f{i % 200}", f"value {i}")
        dt_batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(n_get):
            v.profile.get(f"custom.bench.f{i % 200}")
        dt_get = time.perf_counter() - t0
        # the same reads from the sealed store: SQLite row, AES-GCM open, decode
        t0 = time.perf_counter()
        for i in range(n_get):
            decode_field("x", v.store.get("profile", f"custom.bench.f{i % 200}") or b"")
        dt_raw = time.perf_counter() - t0
    print(f"set: {n_set / dt_set:,.0f} ops/s (one fsync'd commit each, with its audit entry)")
    print(f"set: {n_set / dt_batch:,.0f} ops/s (batched in one transaction)")
    print(f"get: {n_get / dt_get:,.0f} ops/s (from the decrypted snapshot a process keeps)")
    print(f"get: {n_get / dt_raw:,.0f} ops/s (from the sealed store: row, AES-GCM, decode)")


def build_large(home: Path) -> None:
    t0 = time.perf_counter()
    with Vault.create(home, PASSPHRASE) as v:
        with v.transaction():
            for i in range(FIELDS):
                v.profile.set(f"custom.big.f{i:05d}", f"value number {i}")
        with v.transaction():
            for i in range(AUDIT_ENTRIES - len(v.audit)):
                v.audit.append("bench.event", {"i": i})
        n = len(v.audit)
    size = sum(p.stat().st_size for p in home.iterdir()) / 2**20
    print(
        f"fixture: {FIELDS:,} fields, {n:,} audit entries, {size:.1f} MiB on disk, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )


def open_only(home: Path) -> None:
    """Child process: report open time and memory as JSON."""
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    v = Vault.open(home, PASSPHRASE)
    dt_open = time.perf_counter() - t0
    rss1 = _rss_mib()
    t0 = time.perf_counter()
    fields = v.profile.fields()
    dt_show = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = v.audit.verify()
    dt_verify = time.perf_counter() - t0
    v.close()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "open_s": dt_open,
                "rss_before": rss0,
                "rss_after_open": rss1,
                "maxrss": maxrss,
                "fields": len(fields),
                "list_fields_s": dt_show,
                "verify_s": dt_verify,
                "verified": report.checked,
                "ok": report.ok,
            }
        )
    )


def bench_large(home: Path) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--open-only", str(home)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out)
    print(
        f"open (10k fields, 100k audit): {r['open_s'] * 1000:.0f} ms, RSS "
        f"{r['rss_before']:.0f} -> {r['rss_after_open']:.0f} MiB after open"
    )
    print(f"  list all {r['fields']:,} fields (decrypt each): {r['list_fields_s'] * 1000:.0f} ms")
    print(
        f"  verify {r['verified']:,} audit entries: {r['verify_s']:.1f} s (ok={r['ok']}); "
        f"peak RSS {r['maxrss']:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--open-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.open_only:
        open_only(args.open_only)
        return
    with tempfile.TemporaryDirectory(prefix="kluis-bench-") as tmp:
        small = Path(tmp) / "small"
        Vault.create(small, PASSPHRASE).close()
        bench_unlock(small)
        bench_set_get(small)
        large = Path(tmp) / "large"
        build_large(large)
        bench_large(large)


if __name__ == "__main__":
    main()
