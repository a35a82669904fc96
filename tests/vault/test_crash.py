"""A write reported as done survives SIGKILL; the audit chain still verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import PASSPHRASE
from vault.store.vault import Vault

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from vault.store.vault import Vault

    vault = Vault.open(Path(sys.argv[1]), sys.argv[2])
    i = 0
    while True:
        vault.profile.set(f"custom.crash.f{i % 50}", f"value-{i}")
        print(i, flush=True)  # only after the commit returned
        i += 1
""")


def test_reported_writes_survive_sigkill(home: Path) -> None:
    Vault.create(home, PASSPHRASE).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), PASSPHRASE],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    reported: list[int] = []
    deadline = time.monotonic() + 20
    while len(reported) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        reported.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reported += [int(line) for line in proc.stdout.read().split()]  # lines already written
    assert len(reported) >= 150, "writer too slow or died"

    with Vault.open(home, PASSPHRASE) as vault:
        last = reported[-1]
        for i in range(max(0, last - 49), last + 1):
            rec = vault.profile.record(f"custom.crash.f{i % 50}")
            assert rec is not None and rec.value in (f"value-{i}", f"value-{i + 50}")
            assert rec.version >= i // 50 + 1
        report = vault.audit.verify()
        assert report.ok, report
        assert report.checked >= len(reported) + 2
