from __future__ import annotations

import random

import pytest

from agents import (
    Bid,
    CategoricalIssue,
    Deadline,
    DiscreteEvaluator,
    Domain,
    DomainError,
    FieldsEvaluator,
    FieldsIssue,
    InvalidBid,
    LinearAdditiveUtility,
    NumericEvaluator,
    NumericIssue,
    OrdinalIssue,
    OutcomeSpace,
    Preferences,
)
from protocol import MalformedFrame, canonical_dumps


def test_numeric_issue_is_integers_only() -> None:
    issue = NumericIssue("price", 100, 200, step=50)
    assert list(issue.values()) == [100, 150, 200]
    assert issue.size == 3
    assert issue.contains(150)
    assert not issue.contains(125)
    assert not issue.contains(150.0)
    assert not issue.contains(True)
    with pytest.raises(DomainError):
        NumericIssue("price", 1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        NumericIssue("price", 5, 1)


def test_ordinal_and_categorical() -> None:
    data = OrdinalIssue("data", ("1GB", "5GB"))
    assert data.rank("5GB") == 1
    assert data.contains("1GB") and not data.contains("2GB")
    net = CategoricalIssue("net", ("4G", "5G"))
    assert list(net.values()) == ["4G", "5G"]
    with pytest.raises(DomainError):
        CategoricalIssue("net", ("4G", "4G"))
    with pytest.raises(DomainError):
        OrdinalIssue("data", ())


def test_fields_issue_subsets() -> None:
    issue = FieldsIssue("shared", ("b.x", "a.y", "c.z"), required=frozenset({"a.y"}))
    assert issue.fields == ("a.y", "b.x", "c.z")
    values = list(issue.values())
    assert len(values) == issue.size == 4
    assert all("a.y" in v for v in values)
    capped = FieldsIssue("shared", ("a", "b", "c"), max_shared=1)
    assert capped.size == 4 == len(list(capped.values()))
    assert not capped.contains(frozenset({"a", "b"}))
    with pytest.raises(DomainError):
        FieldsIssue("shared", ("Not A Path",))
    with pytest.raises(DomainError):
        FieldsIssue("shared", ("a",), required=frozenset({"b"}))


def test_bid_is_a_frozen_hashable_mapping() -> None:
    a = Bid({"x": 1, "y": "a", "z": {"p.q"}})
    b = Bid([("z", frozenset({"p.q"})), ("y", "a"), ("x", 1)])
    assert a == b and hash(a) == hash(b)
    assert a == {"x": 1, "y": "a", "z": frozenset({"p.q"})}
    assert len({a, b}) == 1
    assert a.with_value("x", 2)["x"] == 2 and a["x"] == 1
    with pytest.raises(TypeError):
        a["x"] = 3  # type: ignore[index]


def test_domain_outcomes_and_cap(domain: Domain) -> None:
    assert domain.size == 9 * 2 * 3 * 8
    outcomes = list(domain.outcomes())
    assert len(outcomes) == len(set(outcomes)) == domain.size
    assert all(domain.contains(b) for b in outcomes)
    with pytest.raises(DomainError):
        list(domain.outcomes(cap=10))
    with pytest.raises(DomainError):
        Domain("dup", (NumericIssue("a", 0, 1), NumericIssue("a", 0, 1)))


def test_bid_wire_roundtrip_has_no_floats(domain: Domain) -> None:
    rng = random.Random(1)
    for _ in range(50):
        bid = domain.random_bid(rng)
        wire = domain.bid_to_wire(bid)
        canonical_dumps(wire)  # no floats, canonical-safe
        assert isinstance(wire["shared"], list) and wire["shared"] == sorted(wire["shared"])
        assert domain.bid_from_wire(wire) == bid


@pytest.mark.parametrize(
    "change",
    [
        {"price": 1100},
        {"price": "1000"},
        {"price": True},
        {"data": "2GB"},
        {"shared": ["contact.phone"]},  # misses the required email
        {"shared": ["contact.phone", "contact.email"]},  # not sorted
        {"shared": "contact.email"},
        {"extra": 1},
    ],
)
def test_bid_from_wire_refuses_bad_values(domain: Domain, change: dict[str, object]) -> None:
    wire: dict[str, object] = {
        "price": 1000,
        "months": 12,
        "data": "1GB",
        "shared": ["contact.email"],
    }
    wire.update(change)
    with pytest.raises(InvalidBid) as info:
        domain.bid_from_wire(wire)
    assert isinstance(info.value, MalformedFrame)


def test_linear_additive_utility(domain: Domain) -> None:
    u = LinearAdditiveUtility(
        {"price": 2, "months": 1, "data": 1, "shared": 0},
        {
            "price": NumericEvaluator(1000, 3000, increasing=False),
            "months": NumericEvaluator(12, 24),
            "data": DiscreteEvaluator({"1GB": 0, "5GB": 1, "20GB": 2}),
            "shared": FieldsEvaluator({"contact.email": 1}),
        },
    )
    assert sum(u.weights.values()) == pytest.approx(1.0)
    bid = domain.bid(price=1000, months=24, data="20GB", shared={"contact.email"})
    assert u(bid) == pytest.approx(1.0)
    assert u(bid.with_value("data", "5GB")) == pytest.approx(0.75 + 0.25 * 0.5)
    assert u.best_bid(domain) == bid.with_value("shared", frozenset({"contact.email"}))
    with pytest.raises(DomainError):
        LinearAdditiveUtility({"a": 1}, {})
    with pytest.raises(DomainError):
        DiscreteEvaluator({"a": 0})


def test_any_callable_is_a_utility(domain: Domain) -> None:
    def cheap(bid: Bid) -> float:
        price = bid["price"]
        assert isinstance(price, int)
        return 1.0 - (price - 1000) / 2000

    prefs = Preferences(cheap, reservation=0.2)
    space = OutcomeSpace.of(domain, prefs.utility)
    assert space.max_utility == pytest.approx(1.0)
    assert space.best["price"] == 1000
    assert prefs.discounted(space.best, 1.0) == pytest.approx(1.0)
    with pytest.raises(DomainError):
        Preferences(cheap, reservation=1.5)


def test_outcome_space_windows(domain: Domain, customer: Preferences) -> None:
    space = OutcomeSpace.of(domain, customer.utility)
    assert space.complete and len(space) == domain.size
    assert space.utils == sorted(space.utils, reverse=True)
    n = space.at_least(0.5)
    assert all(u >= 0.5 - 1e-9 for u in space.utils[:n])
    assert all(u < 0.5 for u in space.utils[n:])
    window = space.window(0.4, 0.6)
    assert window and all(0.4 - 1e-9 <= customer(b) <= 0.6 + 1e-9 for b in window)
    assert customer(space.closest(0.5)) >= 0.5 - 1e-9
    assert OutcomeSpace.of(domain, customer.utility) is space  # cached


def test_outcome_space_samples_huge_domains() -> None:
    big = Domain("big", tuple(NumericIssue(f"i{k}", 0, 99) for k in range(4)))
    u = LinearAdditiveUtility(
        {f"i{k}": 1.0 for k in range(4)}, {f"i{k}": NumericEvaluator(0, 99) for k in range(4)}
    )
    space = OutcomeSpace.of(big, u, sample=500)
    assert not space.complete and len(space) <= 501
    assert space.max_utility == pytest.approx(1.0)  # the best bid is always included


def test_deadline() -> None:
    d = Deadline(rounds=10, ms=1000)
    assert d.max_moves == 20
    assert d.progress(10, 0) == pytest.approx(0.5)
    assert d.progress(2, 900) == pytest.approx(0.9)
    assert not d.expired(19, 999)
    assert d.expired(20, 0) and d.expired(0, 1000)
    with pytest.raises(DomainError):
        Deadline()
    with pytest.raises(DomainError):
        Deadline(rounds=0)
