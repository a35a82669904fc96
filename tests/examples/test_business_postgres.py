"""The PostgreSQL business example runs end to end against a throwaway server and exits 0.

Skips with a one-line reason where no PostgreSQL server can start (tests/pg/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pg.conftest import pg_server, pg_url  # noqa: F401 - fixtures

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "business_postgres.py"


def test_business_postgres_example(pg_url: str) -> None:  # noqa: F811 - the fixture
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUIS_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), pg_url],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "FAILED" not in out and "all steps behaved" in out
    for text in ("the 64 shards are divided 32/32", "holds the subscription",
                 "reason=revoked", "revoked, copy gone"):  # fmt: skip
        assert text in out, text
