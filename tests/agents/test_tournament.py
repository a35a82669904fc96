from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.pool import POOL
from agents.strategy_loader import StrategyLoadError, load_strategy
from agents.tournament import STRATEGIES, default_domains_dir, main, run_tournament

from .conftest import ANAC, REPO

needs_anac = pytest.mark.skipif(not ANAC.is_dir(), reason="shared ANAC scenarios not present")

MINE = '''
from agents import Accept, Counter, NegotiationContext, SessionView
from agents.strategy import BaseStrategy


class Stubborn(BaseStrategy):
    """Bids its best every time; accepts only its best."""

    name = "stubborn"

    def propose(self, state: SessionView):
        return self.space.best

    def respond(self, state: SessionView, offer):
        return Accept() if self.u(offer) >= self.space.max_utility else Counter(self.space.best)


def make():
    return Stubborn()


NOT_A_STRATEGY = 42


class Empty:
    pass
'''


def test_default_domains_dir_is_the_shared_folder() -> None:
    assert default_domains_dir() == (REPO.parent / "shared" / "scenarios" / "anac").resolve()


@needs_anac
def test_main_against_the_pool_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--scenarios", str(ANAC), "--only", "Laptop,NiceOrDie", "--rounds", "10",
               "--strategies", "default,conceder"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "against the pool" in out and "2 domains" in out
    assert "per opponent" in out and "per domain" in out
    for opponent in POOL:
        assert opponent in out  # a row per opponent
    assert "NiceOrDie" in out and "agreed" in out


@needs_anac
def test_main_self_play_is_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--scenarios", str(ANAC), "--only", "Laptop", "--rounds", "10", "--against", "self",
               "--strategies", "default,conceder,tit-for-tat", "--no-breakdown"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "self-play" in out and "tit-for-tat" in out and "micro" not in out


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("kluis agents tournament: error: "), err
    return err


def test_main_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scenarios", str(tmp_path / "missing")]) == 2
    assert "no scenario folder" in _one_error_line(capsys)
    assert main(["--scenarios", str(tmp_path)]) == 2
    assert "no scenarios" in _one_error_line(capsys)
    assert main(["--only", "NiceOrDie"]) == 2  # an ANAC name without --scenarios
    assert "no scenario named NiceOrDie; choose from data-for-discount" in _one_error_line(capsys)
    assert main(["--scenarios", str(tmp_path), "--strategies", "nope,default"]) == 2
    assert "unknown strategy 'nope'" in _one_error_line(capsys)
    assert main(["--scenarios", str(tmp_path), "--rounds", "0"]) == 2
    _one_error_line(capsys)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("nosuchmodule_xyz:Thing", "no module named 'nosuchmodule_xyz'"),
        ("mine:Nope", "mine has no 'Nope'"),
        ("mine:NOT_A_STRATEGY", "is not callable"),
        ("mine:Empty", "has no start/propose/respond"),
        ("broken:Thing", "raised SyntaxError"),
        ("mine", "expected MODULE:CLASS"),
        ("mine:", "expected MODULE:CLASS"),
        ("missing.py:Thing", "no file missing.py"),
    ],
)
def test_a_strategy_that_cannot_load_is_one_clear_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spec: str,
    why: str,
) -> None:
    (tmp_path / "mine.py").write_text(MINE)
    (tmp_path / "broken.py").write_text("def oops(:\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("mine", "broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(StrategyLoadError, match=r"expected|cannot load") as info:
        load_strategy(spec)
    assert why in str(info.value) and "\n" not in str(info.value)
    assert main(["--scenarios", str(tmp_path), "--strategy", spec]) == 2
    assert why in _one_error_line(capsys)


@needs_anac
def test_your_strategy_joins_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.py").write_text(MINE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "mine", raising=False)
    rc = main(["--scenarios", str(ANAC), "--only", "Laptop", "--rounds", "10",
               "--strategies", "default", "--strategy", "mine:Stubborn",
               "--strategy", f"{tmp_path / 'mine.py'}:make"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Stubborn" in out and "yours" in out and "make" in out


@needs_anac
def test_against_the_pool_covers_both_roles_and_profiles() -> None:
    from agents import load_scenarios

    scenarios = [s for s in load_scenarios(ANAC) if s.name == "Laptop"]
    chosen = {k: STRATEGIES[k] for k in ("default", "boulware")}
    opponents = {k: POOL[k] for k in ("micro", "hybrid", "random")}
    result = run_tournament(scenarios, chosen, opponents=opponents, rounds=10)
    assert len(result.matches) == 2 * 3 * 2 * 2  # strategies × opponents × roles × profiles
    assert set(result.stats) == {"default", "boulware"}  # opponents are not scored
    for stat in result.stats.values():
        assert stat.sessions == 3 * 2 * 2
        assert all(0.0 <= u <= 1.0 for u in stat.own_utility)
    roles = {(m.initiator, m.responder, m.swapped_profiles) for m in result.matches}
    assert ("default", "micro", True) in roles and ("micro", "default", False) in roles


@needs_anac
def test_reference_rows_never_play_themselves_and_reruns_are_identical() -> None:
    from agents import load_scenarios

    scenarios = [s for s in load_scenarios(ANAC) if s.name == "Laptop"]
    pool = {k: POOL[k] for k in ("micro", "random")}
    one = run_tournament(
        scenarios, pool, opponents=pool, rounds=10, families=dict.fromkeys(pool, "pool")
    )
    assert all(m.initiator != m.responder for m in one.matches)
    assert one.stats["micro"].family == "pool" and one.stats["micro"].sessions == 4
    two = run_tournament(scenarios, pool, opponents=pool, rounds=10)
    assert [m.result.agreement for m in one.matches] == [m.result.agreement for m in two.matches]


@needs_anac
def test_self_play_round_robin() -> None:
    from agents import load_scenarios

    scenarios = [s for s in load_scenarios(ANAC) if s.name == "Laptop"]
    chosen = {k: STRATEGIES[k] for k in ("default", "boulware", "linear")}
    result = run_tournament(scenarios, chosen, rounds=20)
    assert len(result.matches) == 3 * 2 * 2  # ordered pairs × profile orders
    for stat in result.stats.values():
        assert stat.sessions == 8


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agents.tournament", "--only", "phone-contract", "--rounds", "5",
         "--strategies", "default,linear", "--no-breakdown"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "default" in proc.stdout and not proc.stderr
