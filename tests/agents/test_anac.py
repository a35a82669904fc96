from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from agents import (
    AnacError,
    CategoricalIssue,
    LinearAdditiveUtility,
    NumericIssue,
    load_domain,
    load_preferences,
    load_scenario,
    load_scenarios,
)

from .conftest import ANAC

needs_anac = pytest.mark.skipif(not ANAC.is_dir(), reason="shared ANAC scenarios not present")

EXPECTED_ISSUES = {
    "Amsterdam": 6,
    "Camera": 6,
    "Car": 6,
    "Energy": 8,
    "Grocery": 5,
    "IS_BT_Acquisition": 5,
    "Laptop": 3,
    "NiceOrDie": 1,
    "CameraA": 6,
}


def _raw_weights(path: Path) -> list[float]:
    root = ET.parse(path).getroot()  # test-only: trusted fixture files
    objective = root.find(".//objective")
    assert objective is not None
    return [float(w.get("value", "nan")) for w in objective.findall("weight")]


@needs_anac
def test_every_shared_scenario_loads() -> None:
    scenarios = {s.name: s for s in load_scenarios(ANAC)}
    folders = {p.parent.name for p in ANAC.rglob("*.xml")}
    assert set(scenarios) == folders == set(EXPECTED_ISSUES)
    for name, sc in scenarios.items():
        assert len(sc.domain.issues) == EXPECTED_ISSUES[name], name
        for prefs, path in zip(sc.profiles, sc.files[1:], strict=True):
            assert abs(sum(_raw_weights(path)) - 1.0) < 0.011, (name, path.name)
            u = prefs.utility
            assert isinstance(u, LinearAdditiveUtility)
            assert sum(u.weights.values()) == pytest.approx(1.0)
            assert set(u.weights) == set(sc.domain.issue_names)
            best = u.best_bid(sc.domain)
            assert u(best) == pytest.approx(1.0)  # evaluations normalised per issue
            assert 0.0 <= prefs.reservation <= 1.0 and 0.0 < prefs.discount <= 1.0


@needs_anac
def test_pairing_and_details() -> None:
    scenarios = {s.name: s for s in load_scenarios(ANAC)}
    car = scenarios["Car"]
    assert car.files[0].name == "adg.xml"
    cd = car.domain.issue("CD player")
    assert isinstance(cd, CategoricalIssue) and len(cd.options) == 5  # no similarity items
    assert scenarios["CameraA"].profiles[0].reservation == pytest.approx(0.5)
    assert scenarios["Grocery"].profiles[0].discount == pytest.approx(0.805562132)
    assert scenarios["Energy"].domain.size == 5**8
    laptop = scenarios["Laptop"]
    buyer = laptop.profiles[0].utility
    assert isinstance(buyer, LinearAdditiveUtility)
    assert buyer.weights["Laptop"] == pytest.approx(0.4452125771655631, rel=1e-3)


@needs_anac
def test_single_files() -> None:
    folder = ANAC / "y2011" / "Laptop"
    domain = load_domain(folder / "laptop_domain.xml")
    assert domain.issue_names == ("Laptop", "Harddisk", "External Monitor")
    prefs = load_preferences(folder / "laptop_seller_utility.xml", folder / "laptop_domain.xml")
    assert isinstance(prefs.utility, LinearAdditiveUtility)


DOMAIN_XML = """<negotiation_template><utility_space number_of_issues="2">
<objective index="0" name="root" type="objective" etype="objective">
  <issue index="1" name="qty" type="integer" etype="integer" lowerbound="1" upperbound="5"/>
  <issue index="2" name="ratio" type="real" etype="real">
    <range lowerbound="0.0" upperbound="2.0"/></issue>
</objective></utility_space></negotiation_template>"""
PROFILE_XML = """<utility_space><objective index="0" name="root" type="objective">
  <issue index="1" name="qty" type="integer" etype="integer" lowerbound="1" upperbound="5">
    <evaluator ftype="linear" slope="0.25" offset="-0.25"/></issue>
  <issue index="2" name="ratio" type="real" etype="real">
    <evaluator ftype="linear" parameter0="1.0" parameter1="-0.5"/></issue>
  <weight index="1" value="0.6"/><weight index="2" value="0.4"/>
</objective><reservation value="0.25"/><discount_factor value="0.9"/></utility_space>"""


def test_integer_and_real_issues(tmp_path: Path) -> None:
    (tmp_path / "d.xml").write_text(DOMAIN_XML)
    (tmp_path / "p1.xml").write_text(PROFILE_XML)
    (tmp_path / "p2.xml").write_text(PROFILE_XML)
    sc = load_scenario(tmp_path)
    qty, ratio = sc.domain.issues
    assert isinstance(qty, NumericIssue) and (qty.low, qty.high) == (1, 5)
    # a real issue stays numeric: exact decimals from 0.0 to 2.0 in 20 steps
    assert isinstance(ratio, NumericIssue) and ratio.low == Decimal("0.0")
    assert ratio.high == Decimal("2.0") and ratio.step == Decimal("0.1") and ratio.size == 21
    assert Decimal("1.3") in set(ratio.values()) and ratio.places == 1
    prefs = sc.profiles[0]
    assert prefs.reservation == 0.25 and prefs.discount == 0.9
    best = sc.domain.bid(qty=5, ratio=Decimal("0.0"))  # qty: 0.25*5-0.25 = 1; ratio 0 → 1.0
    assert prefs(best) == pytest.approx(1.0)
    worst = sc.domain.bid(qty=1, ratio=Decimal("2.0"))  # 0 and 1 - 0.5*2 = 0
    assert prefs(worst) == pytest.approx(0.0)
    half = sc.domain.bid(qty=1, ratio=Decimal("1.0"))  # 1 - 0.5*1 = 0.5, weight 0.4
    assert prefs(half) == pytest.approx(0.2)
    assert sc.domain.bid_to_wire(half) == {"qty": 1, "ratio": 10}  # scaled by 10**places
    assert sc.domain.bid_from_wire({"qty": 1, "ratio": 10}) == half


def test_unsafe_or_broken_xml_is_refused(tmp_path: Path) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><negotiation_template/>'
    (tmp_path / "bomb.xml").write_text(bomb)
    with pytest.raises(AnacError):
        load_domain(tmp_path / "bomb.xml")
    (tmp_path / "broken.xml").write_text("<negotiation_template>")
    with pytest.raises(AnacError):
        load_domain(tmp_path / "broken.xml")
    # a folder without two profiles is skipped, or refused in strict mode
    assert load_scenarios(tmp_path) == []
    with pytest.raises(AnacError):
        load_scenarios(tmp_path, strict=True)


LAUGH = """<?xml version="1.0" encoding="UTF-16"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<negotiation_template><utility_space><objective index="0" name="&lol3;">
<issue index="1" name="a" type="discrete"><item index="1" value="x"/></issue>
</objective></utility_space></negotiation_template>"""


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8"])
def test_entity_expansion_is_refused_in_any_encoding(tmp_path: Path, encoding: str) -> None:
    """A UTF-16 file hides ``<!DOCTYPE`` from a byte screen; the parser must still refuse it."""
    text = LAUGH if encoding != "utf-8" else LAUGH.replace("UTF-16", "UTF-8")
    data = text.encode(encoding)
    if encoding.endswith(("-le", "-be")):
        data = ("\ufeff".encode(encoding)) + data  # a byte-order mark, as editors write it
    assert b"<!DOCTYPE" not in data or encoding == "utf-8"
    (tmp_path / "lol.xml").write_bytes(data)
    with pytest.raises(AnacError, match="DTDs, entities and external references are not allowed"):
        load_domain(tmp_path / "lol.xml")
