"""examples/owner_policy.py runs, and every step in it behaves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "owner_policy.py"


def test_owner_policy_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all steps behaved" in result.stdout
    assert "FAILED" not in result.stdout
    assert result.stdout.count("decided_by=rule:") == 2
