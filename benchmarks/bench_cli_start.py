"""How fast the ``kluis`` command answers (issue 14 §2: "a CLI that answers in a blink").

Run: ``python benchmarks/bench_cli_start.py [--runs 7]`` (a minute or two). It prints
figures; it is not a test. Each figure is the median wall time of ``--runs`` fresh
processes, next to ``python -c pass`` measured in the same run, and the ratio to
it: on a loaded machine the ratios are the figures to compare.

Goals: ``kluis --help`` ≤ 0.3 s; ``kluis get FIELD`` ≤ 0.4 s, KDF included;
``kluis start`` to serving ≤ 1.0 s plus the KDF. ``get`` and ``start`` unlock the
vault, so they are measured twice: on a vault made with the default KDF (Argon2id,
64 MiB, t=3) and on one made with ``KLUIS_TEST_FAST_KDF=1`` (OWASP's floor,
19 MiB, t=2; what the tests use). The KDF alone is measured in this process.
Everything happens in a temporary folder; ``start`` listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vault.store.crypto import ENV_TEST_FAST_KDF, KdfParams, derive_kek
from vault.store.vault import Vault

PASSPHRASE = "benchmark passphrase"
PY = sys.executable
KLUIS = [PY, "-m", "vault"]  # the `kluis` entry point runs exactly this (vault.cli.main:main)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV_TEST_FAST_KDF}
    return {**env, **extra}


def _median(runs: int, once: Callable[[], float]) -> float:
    once()  # warm the page cache and the .pyc files: the figure is a warm start
    return statistics.median(once() for _ in range(runs))


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _until_serving(home: Path, env: dict[str, str]) -> float:
    """Spawn ``kluis start``; seconds until it prints "press Ctrl-C to stop" (the
    control API and the libp2p host are up); then stop it (SIGTERM) and wait."""
    cmd = [*KLUIS, "start", "--listen", "/ip4/127.0.0.1/tcp/0", "--control-port", "0"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, "--no-mdns"], env={**env, "KLUIS_HOME": str(home)}, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)  # a hung start ends the benchmark, not the shell
    watchdog.start()
    try:
        for line in proc.stdout:
            if b"press Ctrl-C to stop" in line:
                return time.perf_counter() - t0
        raise RuntimeError(f"kluis start exited with {proc.wait()} before serving")
    finally:
        watchdog.cancel()
        proc.terminate()
        proc.wait(timeout=30)


def _kdf(fast: bool) -> float:
    saved = os.environ.pop(ENV_TEST_FAST_KDF, None)
    if fast:
        os.environ[ENV_TEST_FAST_KDF] = "1"
    try:
        params = KdfParams.fresh()
    finally:
        os.environ.pop(ENV_TEST_FAST_KDF, None)
        if saved is not None:
            os.environ[ENV_TEST_FAST_KDF] = saved

    def once() -> float:
        t0 = time.perf_counter()
        derive_kek(PASSPHRASE, params)
        return time.perf_counter() - t0

    return _median(3, once)


def _vault(folder: Path, fast: bool) -> Path:
    """A vault with one field set, made with the default or the fast KDF."""
    os.environ.pop(ENV_TEST_FAST_KDF, None)
    if fast:
        os.environ[ENV_TEST_FAST_KDF] = "1"
    try:
        with Vault.create(folder, PASSPHRASE) as vault:
            vault.profile.set("name.given", "Ada")
    finally:
        os.environ.pop(ENV_TEST_FAST_KDF, None)
    return folder


def _row(label: str, seconds: float, base: float, goal: str = "") -> None:
    print(f"  {label:<42} {seconds * 1000:7.0f} ms  {seconds / base:5.1f}x  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per figure (median)")
    parser.add_argument("--no-start", action="store_true", help="skip `kluis start`")
    args = parser.parse_args()
    runs = args.runs
    env = _env()

    base = _median(runs, lambda: _timed([PY, "-c", "pass"], env))
    print(f"kluis CLI start-up, median of {runs} fresh processes; ratio to `python -c pass`")
    print(f"  {'python -c pass':<42} {base * 1000:7.0f} ms  {1:5.1f}x")
    imp = _median(runs, lambda: _timed([PY, "-c", "import vault.cli.main"], env))
    _row("python -c 'import vault.cli.main'", imp, base)
    _row("kluis --help", _median(runs, lambda: _timed([*KLUIS, "--help"], env)), base, "goal ≤ 300")
    _row("kluis --version", _median(runs, lambda: _timed([*KLUIS, "--version"], env)), base)

    with tempfile.TemporaryDirectory(prefix="kluis-bench-cli-") as tmp:
        for fast, name in ((False, "default KDF: Argon2id 64 MiB t=3"), (True, "fast KDF")):
            kdf = _kdf(fast)
            home = _vault(Path(tmp) / ("fast" if fast else "default"), fast)
            venv = _env(KLUIS_HOME=str(home), KLUIS_PASSPHRASE=PASSPHRASE)
            print(f"{name}{' (KLUIS_TEST_FAST_KDF=1: 19 MiB t=2)' if fast else ''}")
            _row("KDF alone (in process)", kdf, base)
            get = _median(runs, lambda v=venv: _timed([*KLUIS, "get", "name.given"], v))
            _row("kluis get name.given", get, base, "goal ≤ 400 incl. KDF")
            _row("  of which not the KDF", get - kdf, base)
            if not args.no_start:
                start_env = _env(KLUIS_PASSPHRASE=PASSPHRASE)
                serve = _median(max(3, runs // 2), lambda h=home, e=start_env: _until_serving(h, e))
                _row("kluis start, to serving", serve, base, "goal ≤ 1000 + KDF")
                _row("  of which not the KDF", serve - kdf, base)
            shutil.rmtree(home)


if __name__ == "__main__":
    main()
