"""The business example runs end to end in a subprocess and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "business_requester.py"


def test_business_requester_example() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUIS_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "FAILED" not in out and "all steps behaved" in out
    for text in ("update: address.home.city = Deventer", "refused: revoked", "reason=revoked"):
        assert text in out, text
