from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import (
    Accept,
    Bid,
    Boulware,
    Conceder,
    Deadline,
    DefaultStrategy,
    Domain,
    End,
    Linear,
    Mandate,
    MandatedAgent,
    MandateEvent,
    MandateViolation,
    NegotiationContext,
    NumericIssue,
    Preferences,
    Response,
    SessionView,
    Side,
    TermLimit,
    TitForTat,
    simulate,
)
from protocol import AccessDenied, Identity, LocalProtocolError, SignatureError

from .conftest import FIELDS, business_prefs, customer_prefs, phone_domain

OWNER = Identity(bytes(range(32)))
OTHER = Identity(bytes(range(1, 33)))


def mandate(**kw: Any) -> Mandate:
    base: dict[str, Any] = {
        "owner": OWNER.peer_id,
        "mandate_id": "m1",
        "domain": "phone",
        "price_issue": "price",
        "max_price_cents": 2000,
        "fields_issue": "shared",
        "may_share": ["contact.email", "address.city"],
        "terms": {"months": TermLimit(allowed=[12])},
    }
    base.update(kw)
    return Mandate(**base).sign(OWNER)


class GiveAway:
    """Hostile: offers every field at the highest price on the longest contract; accepts all."""

    name = "give-away"

    def start(self, ctx: NegotiationContext) -> None:
        self.domain = ctx.domain

    def propose(self, state: SessionView) -> Bid:
        return self.domain.bid(price=3000, months=24, data="1GB", shared=set(FIELDS))

    def respond(self, state: SessionView, offer: Bid) -> Response:
        return Accept()


class RandomBidder:
    """Proposes random bids, accepts at random: a fuzzing opponent of the guard."""

    name = "random"

    def start(self, ctx: NegotiationContext) -> None:
        self.ctx = ctx

    def propose(self, state: SessionView) -> Bid:
        return self.ctx.domain.random_bid(self.ctx.rng)

    def respond(self, state: SessionView, offer: Bid) -> Response:
        from agents import Counter

        return Accept() if self.ctx.rng.random() < 0.3 else Counter(self.propose(state))


def test_sign_and_verify() -> None:
    m = mandate()
    m.verify()
    m.verify(OWNER.peer_id)
    assert len(m.sig) == 128
    again = Mandate.from_json(m.model_dump(mode="json"))
    again.verify(OWNER.peer_id)


@pytest.mark.parametrize(
    "change",
    [
        {"max_price_cents": 3000},
        {"may_share": list(FIELDS)},
        {"terms": {}},
        {"confirm_above_cents": 1},
        {"expires_at_ms": 1},
        {"domain": "other"},
        {"mandate_id": "m2"},
        {"owner": OTHER.peer_id},
    ],
)
def test_tampering_breaks_the_signature(change: dict[str, Any]) -> None:
    tampered = mandate().model_copy(update=change)
    with pytest.raises(SignatureError):
        tampered.verify()
    with pytest.raises(SignatureError):
        MandatedAgent(DefaultStrategy(), tampered)


def test_wrong_owner_and_wrong_signer() -> None:
    with pytest.raises(SignatureError):
        mandate().verify(OTHER.peer_id)
    with pytest.raises(LocalProtocolError):
        Mandate(owner=OWNER.peer_id, mandate_id="x", domain="phone").sign(OTHER)
    unsigned = Mandate(owner=OWNER.peer_id, mandate_id="x", domain="phone")
    with pytest.raises(SignatureError):
        unsigned.verify()
    forged = Mandate(owner=OWNER.peer_id, mandate_id="x", domain="phone")
    forged = forged.model_copy(update={"sig": "00" * 64})
    with pytest.raises(SignatureError):
        forged.verify()


def test_violations_are_explained(domain: Domain) -> None:
    m = mandate()
    ok = domain.bid(price=2000, months=12, data="1GB", shared={"contact.email"})
    assert m.permits(ok)
    bad = domain.bid(price=2250, months=24, data="1GB", shared={"contact.email", "profile.age"})
    reasons = m.violations(bad)
    assert any("maximum price" in r for r in reasons)
    assert any("outside the mandate" in r for r in reasons)
    assert any(r.startswith("months") for r in reasons)
    assert not any("profile.age" in r for r in reasons)  # names issues, not values
    floor = mandate(max_price_cents=None, min_price_cents=2500)
    assert floor.violations(ok) == ["price: below the minimum price"]
    assert TermLimit(low=1, high=3).check(4) == "value above the bound"
    assert TermLimit(low=1).check("x") == "value is not a number"
    assert TermLimit(low=1).check(True) == "value is not a number"
    assert TermLimit(high=24).check(Decimal("23.50")) is None
    assert TermLimit(high=24).check(Decimal("24.5")) == "value above the bound"


def test_a_decimal_price_is_checked_in_cents() -> None:
    """A price in euros (Decimal) is bounded by the mandate's integer cents."""
    euros = Domain("phone", (NumericIssue("price", Decimal("9.99"), Decimal("29.99"),
                                          step=Decimal("0.50"), unit="EUR"),))  # fmt: skip
    m = mandate(domain="phone", fields_issue=None, may_share=None, terms={},
                max_price_cents=1999)  # fmt: skip
    assert m.permits(euros.bid(price=Decimal("19.99")))
    assert m.violations(euros.bid(price=Decimal("20.49"))) == ["price: above the maximum price"]
    assert m.price_of(euros.bid(price=Decimal("19.99"))) == 1999


def test_mandate_must_fit_the_domain(domain: Domain, customer: Preferences) -> None:
    agent = MandatedAgent(DefaultStrategy(), mandate(domain="other"))
    with pytest.raises(MandateViolation) as info:
        agent.start(NegotiationContext(domain, customer, Deadline(rounds=5), Side.INITIATOR))
    assert isinstance(info.value, AccessDenied)
    agent = MandatedAgent(DefaultStrategy(), mandate(terms={"color": TermLimit(allowed=["x"])}))
    with pytest.raises(MandateViolation):
        agent.start(NegotiationContext(domain, customer, Deadline(rounds=5), Side.INITIATOR))


@pytest.mark.parametrize("opponent", [DefaultStrategy, Boulware, Linear, Conceder, TitForTat])
@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_hostile_strategy_cannot_exceed_the_mandate(
    domain: Domain, customer: Preferences, business: Preferences, opponent: type, side: str
) -> None:
    events: list[MandateEvent] = []
    m = mandate()
    agent = MandatedAgent(
        GiveAway(), m, owner=OWNER.peer_id, audit=events.append, max_violations=1000
    )
    if side == "initiator":
        r = simulate(domain, agent, customer, opponent(), business, deadline=Deadline(rounds=30))
        ours = {s.bid for s in r.trace if s.by is Side.INITIATOR and s.bid is not None}
    else:
        r = simulate(domain, opponent(), business, agent, customer, deadline=Deadline(rounds=30))
        ours = {s.bid for s in r.trace if s.by is Side.RESPONDER and s.bid is not None}
    if r.agreement is not None:
        assert m.permits(r.agreement)
    # nothing it put on the table was outside the mandate either
    assert all(m.permits(b) for b in ours if b is not None)
    assert events and all(e.mandate_id == "m1" for e in events)
    assert {e.kind for e in events} & {"blocked_proposal", "blocked_accept"}
    assert all(e.reasons for e in events if e.kind.startswith("blocked"))


def test_repeat_offender_is_stopped(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    events: list[MandateEvent] = []
    agent = MandatedAgent(GiveAway(), mandate(), audit=events.append, max_violations=3)
    r = simulate(domain, agent, customer, Boulware(), business, deadline=Deadline(rounds=50))
    assert not r.agreed and r.ended_by is Side.INITIATOR
    assert "mandate guard" in r.reason
    kinds = [e.kind for e in events]
    assert kinds.count("blocked_proposal") + kinds.count("blocked_accept") == 3
    assert kinds[-1] == "ended"


def test_no_bid_inside_the_mandate_ends_at_once(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    impossible = mandate(max_price_cents=500)  # below the cheapest price on offer
    agent = MandatedAgent(DefaultStrategy(), impossible)
    r = simulate(domain, agent, customer, Boulware(), business, deadline=Deadline(rounds=10))
    assert not r.agreed and r.turns == 1 and r.ended_by is Side.INITIATOR


def test_confirmation_threshold(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    m = mandate(max_price_cents=3000, confirm_above_cents=1500, terms={}, may_share=list(FIELDS))
    asked: list[Bid] = []

    def refuse(bid: Bid) -> bool:
        asked.append(bid)
        return False

    events: list[MandateEvent] = []
    agent = MandatedAgent(GiveAway(), m, confirm=refuse, audit=events.append, max_violations=1000)
    r = simulate(domain, agent, customer, Boulware(), business, deadline=Deadline(rounds=20))
    assert asked and any(e.kind == "confirmation_refused" for e in events)
    if r.agreement is not None:
        price = r.agreement["price"]
        assert isinstance(price, int) and price <= 1500

    agent = MandatedAgent(GiveAway(), m, confirm=lambda bid: True, audit=events.append)
    r = simulate(domain, agent, customer, Boulware(), business, deadline=Deadline(rounds=20))
    assert r.agreed and r.agreement is not None and r.agreement["price"] == 3000
    assert any(e.kind == "confirmed" for e in events)


def test_expired_mandate_walks_away(
    domain: Domain, customer: Preferences, business: Preferences
) -> None:
    events: list[MandateEvent] = []
    agent = MandatedAgent(
        DefaultStrategy(), mandate(expires_at_ms=1_000), clock=lambda: 5_000, audit=events.append
    )
    r = simulate(domain, Boulware(), business, agent, customer, deadline=Deadline(rounds=10))
    assert not r.agreed and r.ended_by is Side.RESPONDER
    assert events[0].kind == "expired"
    agent = MandatedAgent(DefaultStrategy(), mandate(max_rounds=2), audit=events.append)
    r = simulate(domain, agent, customer, Boulware(), business, deadline=Deadline(rounds=50))
    assert not r.agreed and r.turns <= 6


def test_reject_passes_through(domain: Domain, customer: Preferences) -> None:
    class Quitter(GiveAway):
        def respond(self, state: SessionView, offer: Bid) -> Response:
            return End("bored")

    agent = MandatedAgent(Quitter(), mandate())
    agent.start(NegotiationContext(domain, customer, Deadline(rounds=5), Side.RESPONDER))
    offer = domain.bid(price=1000, months=12, data="1GB", shared={"contact.email"})
    assert agent.respond(SessionView(Side.RESPONDER, 1, 0.1, (), (offer,)), offer) == End("bored")


_DOMAIN = phone_domain()
_CUSTOMER = customer_prefs(_DOMAIN)
_BUSINESS = business_prefs(_DOMAIN)
_OPPONENTS = [DefaultStrategy, Boulware, Conceder, TitForTat, RandomBidder, GiveAway]
_INNER = [GiveAway, RandomBidder, DefaultStrategy, Conceder]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_price=st.integers(800, 3200),
    share=st.sets(st.sampled_from(FIELDS)),
    months=st.sets(st.sampled_from([12, 24]), min_size=1),
    data=st.sets(st.sampled_from(["1GB", "5GB", "20GB"]), min_size=1),
    inner=st.sampled_from(_INNER),
    opponent=st.sampled_from(_OPPONENTS),
    we_open=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_any_agreement_under_a_mandate_satisfies_it(
    max_price: int,
    share: set[str],
    months: set[int],
    data: set[str],
    inner: type,
    opponent: type,
    we_open: bool,
    seed: int,
) -> None:
    m = mandate(
        max_price_cents=max_price,
        may_share=sorted(share),
        terms={
            "months": TermLimit(allowed=sorted(months)),
            "data": TermLimit(allowed=sorted(data)),
        },
    )
    agent = MandatedAgent(inner(), m, max_violations=random.Random(seed).randint(1, 50))
    if we_open:
        r = simulate(
            _DOMAIN,
            agent,
            _CUSTOMER,
            opponent(),
            _BUSINESS,
            deadline=Deadline(rounds=15),
            seed=seed,
            metrics=False,
            wire=False,
        )
    else:
        r = simulate(
            _DOMAIN,
            opponent(),
            _BUSINESS,
            agent,
            _CUSTOMER,
            deadline=Deadline(rounds=15),
            seed=seed,
            metrics=False,
            wire=False,
        )
    if r.agreement is not None:
        assert m.permits(r.agreement), (m.violations(r.agreement), r.agreement)
