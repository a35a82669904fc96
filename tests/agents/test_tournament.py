from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.tournament import STRATEGIES, default_domains_dir, main, run_tournament

from .conftest import ANAC, REPO


def test_default_domains_dir_is_the_shared_folder() -> None:
    assert default_domains_dir() == (REPO.parent / "shared" / "scenarios" / "anac").resolve()


@pytest.mark.skipif(not ANAC.is_dir(), reason="shared ANAC scenarios not present")
def test_main_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "--domains",
            str(ANAC),
            "--only",
            "Laptop,NiceOrDie",
            "--rounds",
            "20",
            "--strategies",
            "default,conceder,tit-for-tat",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "default" in out and "conceder" in out and "agreed" in out
    assert "2 ANAC domains" in out


def test_main_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--domains", str(tmp_path / "missing")]) == 2
    assert main(["--domains", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["--domains", str(tmp_path), "--strategies", "nope,default"])


@pytest.mark.skipif(not ANAC.is_dir(), reason="shared ANAC scenarios not present")
def test_round_robin_covers_both_roles_and_profiles() -> None:
    from agents import load_scenarios

    scenarios = [s for s in load_scenarios(ANAC) if s.name == "Laptop"]
    chosen = {k: STRATEGIES[k] for k in ("default", "boulware", "linear")}
    result = run_tournament(scenarios, chosen, rounds=20)
    assert len(result.matches) == 3 * 2 * 2  # ordered pairs × profile orders
    pairs = {(m.initiator, m.responder, m.swapped_profiles) for m in result.matches}
    assert len(pairs) == 12
    for stat in result.stats.values():
        assert stat.sessions == 8
        assert all(0.0 <= u <= 1.0 for u in stat.own_utility)


@pytest.mark.skipif(not ANAC.is_dir(), reason="shared ANAC scenarios not present")
def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agents.tournament",
            "--only",
            "NiceOrDie",
            "--rounds",
            "5",
            "--strategies",
            "default,linear",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "default" in proc.stdout and not proc.stderr
