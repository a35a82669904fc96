"""The domains kluis ships (agents/domains/*.toml): they load, are well formed, have
something to negotiate, and the tournament plays them without ../shared."""

from __future__ import annotations

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from agents import (
    BooleanIssue,
    CategoricalIssue,
    NumericIssue,
    OrdinalIssue,
)
from agents.domains import DomainFileError, load_domain_file, parse_domain_file, shipped_scenarios
from agents.metrics import OutcomeAnalysis
from agents.tournament import main, render_table, run_tournament
from agents.tournament_tables import render_breakdown

from .conftest import REPO

DEALS = {"data-for-discount", "delivery-terms", "insurance-quote", "phone-contract"}


def test_the_four_deals_ship_as_package_data() -> None:
    scenarios = shipped_scenarios()
    assert {s.name for s in scenarios} == DEALS
    files = sorted(p.name for p in (REPO / "agents" / "domains").glob("*.toml"))
    assert len(files) == len(scenarios)


@pytest.mark.parametrize("scenario", shipped_scenarios(), ids=lambda s: s.name)
def test_a_shipped_domain_is_well_formed(scenario) -> None:  # type: ignore[no-untyped-def]
    domain = scenario.domain
    customer, business = scenario.profiles
    assert customer.name != business.name
    assert 2 <= len(domain.issues) and 10 <= domain.size <= 10_000  # a quick tournament
    for prefs in (customer, business):
        assert 0.0 < prefs.reservation < 1.0
        best = prefs.utility.best_bid(domain)  # type: ignore[attr-defined]
        assert prefs(best) == pytest.approx(1.0)
        for bid in domain.outcomes():
            assert 0.0 <= prefs(bid) <= 1.0 + 1e-9
            domain.validate(domain.bid_from_wire(domain.bid_to_wire(bid)))
    # the two profiles oppose each other: each one's best bid is poor for the other
    assert business(customer.utility.best_bid(domain)) < 0.5  # type: ignore[attr-defined]
    assert customer(business.utility.best_bid(domain)) < 0.5  # type: ignore[attr-defined]
    analysis = OutcomeAnalysis.of(
        domain, customer, business, (customer.reservation, business.reservation)
    )
    assert len(analysis.frontier) >= 3  # real trade-offs, not one obvious deal
    assert analysis.nash is not None
    assert min(analysis.nash) > max(customer.reservation, business.reservation)


def test_the_set_covers_every_kind_of_issue() -> None:
    issues = [i for s in shipped_scenarios() for i in s.domain.issues]
    kinds = {type(i) for i in issues}
    assert {NumericIssue, OrdinalIssue, CategoricalIssue, BooleanIssue} <= kinds
    numeric = [i for i in issues if isinstance(i, NumericIssue)]
    assert any(isinstance(i.low, Decimal) and i.places == 2 for i in numeric)  # money
    assert any(i.points for i in numeric)  # a non-grid set (months 1/12/24)
    phone = next(s for s in shipped_scenarios() if s.name == "phone-contract").domain
    assert phone.issue("months").points == (1, 12, 24)  # type: ignore[attr-defined]
    assert Decimal("9.99") in set(phone.issue("price").values())


GOOD = """
name = "tiny"
[[issues]]
name = "price"
kind = "numeric"
low = "1.00"
high = "2.00"
step = "0.50"
[[issues]]
name = "gift"
kind = "boolean"
[[profiles]]
name = "a"
weights = { price = 1, gift = 1 }
prefer = { price = "low" }
scores.gift = { "true" = 1, "false" = 0 }
[[profiles]]
name = "b"
weights = { price = 1, gift = 1 }
prefer = { price = "high" }
scores.gift = { "true" = 0, "false" = 1 }
"""


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ('low = "1.00"', "low = 1.0", "decimal as a string"),
        ('low = "1.00"', 'low = "cheap"', "not a number"),
        ('kind = "boolean"', 'kind = "fuzzy"', "kind is numeric"),
        ('prefer = { price = "low" }', "", "either prefer or scores"),
        ('"true" = 1, "false" = 0', '"true" = 1', "every value exactly once"),
        ("weights = { price = 1, gift = 1 }\nprefer", "weights = { price = 1 }\nprefer", "cover"),
        ('name = "a"', 'name = "a"\nreservation = 2.0', "reservation"),
        ('[[profiles]]\nname = "b"', '[[nothing]]\nname = "b"', "exactly two"),
        ('name = "tiny"', "name = ", "not valid TOML"),
    ],
)
def test_a_broken_domain_file_is_one_clear_error(old: str, new: str, why: str) -> None:
    parse_domain_file(GOOD, Path("tiny.toml"))  # the base case is fine
    broken = GOOD.replace(old, new, 1)
    assert broken != GOOD
    with pytest.raises(DomainFileError, match=r"^tiny\.toml: ") as info:
        parse_domain_file(broken, Path("tiny.toml"))
    assert why in str(info.value) and "\n" not in str(info.value)


def test_a_domain_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD)
    assert load_domain_file(path).domain.size == 3 * 2
    with pytest.raises(DomainFileError, match="cannot read"):
        load_domain_file(tmp_path / "missing.toml")


def test_the_tournament_plays_every_shipped_domain() -> None:
    from agents.tournament import STRATEGIES

    chosen = {k: STRATEGIES[k] for k in ("default", "conceder")}
    result = run_tournament(shipped_scenarios(), chosen, rounds=20)
    assert set(result.scenarios) == DEALS
    assert len(result.matches) == len(DEALS) * 2 * 2  # two orders of play, two profile orders
    assert any(m.result.agreed for m in result.matches)
    # a result prints as a table, not as <rich.table.Table object at 0x…>
    text = str(render_table(result))
    assert "rich.table" not in text and "default" in text and "4 domains" in text
    assert "phone-contract" in str(render_breakdown(result)[1])


def test_the_command_plays_the_shipped_domains_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(["--only", "phone-contract,insurance-quote", "--rounds", "10",
               "--strategies", "default", "--no-breakdown"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "2 domains" in out and "against the pool" in out


def test_the_tournament_runs_without_the_shared_folder(tmp_path: Path) -> None:
    """A copy of the packages far from ../shared (as a wheel installs them) plays its
    shipped domains; pointing it at the ANAC folder it does not have is one clear line."""
    site = tmp_path / "site"
    for package in ("agents", "protocol"):
        shutil.copytree(
            REPO / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    assert not (tmp_path.parent / "shared").exists()
    script = (
        "import sys, agents; assert agents.__file__.startswith(sys.argv[1]), agents.__file__\n"
        "from agents.tournament import main\n"
        "sys.exit(main(sys.argv[2:]))\n"
    )
    run = [sys.executable, "-c", script, str(site)]
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    args = ["--only", "delivery-terms", "--rounds", "10", "--strategies", "default"]
    played = subprocess.run(
        [*run, *args, "--no-breakdown"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert played.returncode == 0, played.stderr
    assert "1 domain," in played.stdout and "default" in played.stdout
    missing = subprocess.run(
        [*run, "--scenarios", str(tmp_path / "anac")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("kluis agents tournament: error: no scenario folder")
