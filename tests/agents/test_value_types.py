"""Real value types: Decimal prices, booleans, irregular numeric sets; the wire stays float-free."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import (
    Agreement,
    BooleanIssue,
    CategoricalIssue,
    Deadline,
    DefaultStrategy,
    DiscreteEvaluator,
    Domain,
    DomainError,
    InvalidBid,
    LinearAdditiveUtility,
    NegotiationSession,
    NumericEvaluator,
    NumericIssue,
    Preferences,
    Side,
    dump_move,
    parse_move,
    simulate,
)
from agents.domain import price_cents
from agents.intents import domain_from_spec, domain_to_spec
from agents.pool import POOL
from protocol import Identity, PurposeCode, canonical_dumps, new_id

EUR = NumericIssue("price", Decimal("9.99"), Decimal("29.99"), step=Decimal("0.50"), unit="EUR")
MONTHS = NumericIssue.of_points("months", (24, 1, 12))
INSURED = BooleanIssue("insurance")
PLAN = CategoricalIssue("plan", ("basic", "plus"))


def contract() -> Domain:
    return Domain("contract", (EUR, MONTHS, INSURED, PLAN))


def test_decimal_prices_are_exact_and_travel_as_scaled_integers() -> None:
    assert EUR.places == 2 and EUR.size == 41
    assert EUR.contains(Decimal("19.99")) and EUR.contains(Decimal("19.990"))
    assert not EUR.contains(Decimal("19.98"))  # off the 0.50 grid
    assert not EUR.contains(19.99) and not EUR.contains(True)
    assert EUR.to_wire(Decimal("19.99")) == 1999  # euros with 2 places: integer cents
    assert EUR.from_wire(1999) == Decimal("19.99")
    assert str(EUR.from_wire(999)) == "9.99"
    for bad in (1998, 19.99, "19.99", True, 2**60):
        with pytest.raises(InvalidBid):
            EUR.from_wire(bad)
    assert price_cents(Decimal("19.99")) == 1999 and price_cents(1999) == 1999
    assert price_cents(Decimal("0.001")) is None and price_cents(True) is None


def test_floats_are_refused_with_a_hint() -> None:
    with pytest.raises(DomainError, match=r"Decimal\('19.99'\)"):
        NumericIssue("price", 9.99, 29.99)  # type: ignore[arg-type]
    with pytest.raises(DomainError, match="decimal places"):
        NumericIssue("x", Decimal("0.0000001"), Decimal(1))
    with pytest.raises(DomainError, match="end points"):
        NumericIssue("x", 0, 30, points=(1, 12, 24))


def test_irregular_numeric_sets_and_booleans() -> None:
    assert list(MONTHS.values()) == [1, 12, 24] and MONTHS.size == 3
    assert MONTHS.contains(12) and not MONTHS.contains(6)
    assert MONTHS.to_wire(12) == 12 and MONTHS.from_wire(24) == 24
    with pytest.raises(InvalidBid):
        MONTHS.from_wire(6)
    assert list(INSURED.values()) == [False, True]
    assert INSURED.to_wire(True) is True and INSURED.from_wire(False) is False
    for bad in (1, 0, "true", None):
        with pytest.raises(InvalidBid):
            INSURED.from_wire(bad)


def test_a_bid_with_every_type_round_trips_the_wire_and_signs() -> None:
    d = contract()
    bid = d.bid(price=Decimal("19.99"), months=12, insurance=True, plan="plus")
    wire = d.bid_to_wire(bid)
    assert wire == {"price": 1999, "months": 12, "insurance": True, "plan": "plus"}
    canonical_dumps(wire)  # no floats: one canonical encoding
    assert d.bid_from_wire(wire) == bid
    # through a session's wire moves
    a = NegotiationSession(d, Side.INITIATOR, Deadline(rounds=5), session_id="s")
    b = NegotiationSession(d, Side.RESPONDER, Deadline(rounds=5), session_id="s")
    b.receive(parse_move(dump_move(a.offer(bid))))
    assert b.on_table == bid and b.on_table["insurance"] is True
    # and into a signed agreement
    biz, vault = Identity.generate(), Identity.generate()
    agreement = Agreement(
        agreement_id=new_id(), intent_id=new_id(), session="s", category="phone",
        domain="contract", bid=wire, fields=[], purpose=PurposeCode.SERVICE_PROVISION,
        duration_days=30, value_cents=price_cents(bid["price"]) or 0, business=biz.peer_id,
        vault=vault.peer_id, vault_addrs=[], created_at=1_700_000_000_000,
    )  # fmt: skip
    signed = agreement.sign_business(biz).sign_vault(vault)
    signed.verify()
    assert d.bid_from_wire(signed.bid) == bid and signed.value_cents == 1999


def test_every_issue_kind_round_trips_through_the_intent_spec() -> None:
    d = contract()
    assert domain_from_spec(domain_to_spec(d)) == d
    spec = domain_to_spec(d).model_dump(mode="json")
    canonical_dumps(spec)  # the intent's domain holds no floats either
    assert spec["issues"][0]["low"] == 999 and spec["issues"][0]["places"] == 2
    assert spec["issues"][1]["points"] == [1, 12, 24]


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(-10_000, 10_000),
    span=st.integers(0, 40),
    step=st.integers(1, 500),
    places=st.integers(0, 4),
)
def test_decimal_grids_round_trip_every_value(low: int, span: int, step: int, places: int) -> None:
    scale = Decimal(1).scaleb(-places)
    lo, st_ = Decimal(low) * scale, Decimal(step) * scale
    issue = NumericIssue("x", lo, lo + st_ * span, step=st_)
    values = list(issue.values())
    assert len(values) == issue.size == span + 1
    for value in values:
        assert issue.contains(value)
        assert issue.from_wire(issue.to_wire(value)) == value


def test_strategies_negotiate_over_every_value_type() -> None:
    d = contract()
    buyer = Preferences(LinearAdditiveUtility(
        {"price": 0.5, "months": 0.2, "insurance": 0.2, "plan": 0.1},
        {"price": NumericEvaluator(Decimal("9.99"), Decimal("29.99"), increasing=False),
         "months": DiscreteEvaluator({1: 1, 12: 3, 24: 2}),
         "insurance": DiscreteEvaluator({True: 1, False: 0.2}),
         "plan": DiscreteEvaluator({"basic": 1, "plus": 2})},
    ))  # fmt: skip
    seller = Preferences(LinearAdditiveUtility(
        {"price": 0.6, "months": 0.3, "insurance": 0.05, "plan": 0.05},
        {"price": NumericEvaluator(Decimal("9.99"), Decimal("29.99")),
         "months": DiscreteEvaluator({1: 1, 12: 2, 24: 4}),
         "insurance": DiscreteEvaluator({True: 0.5, False: 1}),
         "plan": DiscreteEvaluator({"basic": 1, "plus": 1})},
    ))  # fmt: skip
    for seed, opponent in enumerate(("micro", "tb-linear", "hybrid")):
        r = simulate(d, DefaultStrategy(), buyer, POOL[opponent](), seller,
                     deadline=Deadline(rounds=40), seed=seed)  # fmt: skip
        assert r.agreed, opponent
        assert r.agreement is not None and d.contains(r.agreement)
        assert isinstance(r.agreement["price"], Decimal)
