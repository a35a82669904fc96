"""Every agents example runs as a script and exits 0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO

EXAMPLES = {
    "agent_phone_contract.py": "the agreement is inside the mandate",
    "agent_business_margin.py": "every deal kept its margin",
    "agent_custom_strategy.py": "never below its reservation value",
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXAMPLES.items()))
def test_example_runs(name: str, expected: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / name)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert expected in proc.stdout
