"""A customer's agent negotiates a phone contract, inside a mandate the owner signed.

The domain is built in code: monthly price (integer cents), contract length,
data bundle (ordinal), and which profile fields the customer shares. The owner
signs a mandate — at most €25.00 a month, at most a 12-month contract, share
only e-mail and city — and the agent (the default strategy wrapped in a
``MandatedAgent``) negotiates in the local simulator against a business
strategy. Every blocked move is printed from the audit callback.

Run:  python examples/agent_phone_contract.py
"""

from __future__ import annotations

from decimal import Decimal

from agents import (
    BooleanIssue,
    Boulware,
    Deadline,
    DefaultStrategy,
    DiscreteEvaluator,
    Domain,
    FieldsEvaluator,
    FieldsIssue,
    LinearAdditiveUtility,
    Mandate,
    MandatedAgent,
    MandateEvent,
    NumericEvaluator,
    NumericIssue,
    OrdinalIssue,
    Preferences,
    TermLimit,
    simulate,
)
from protocol import Identity

FIELDS = ("contact.email", "contact.phone", "address.city", "profile.birth_year")


def phone_domain() -> Domain:
    return Domain(
        "phone-contract",
        (
            # a price in euros, exact: Decimal, never float (on the wire: integer cents)
            NumericIssue(
                "price_per_month",
                Decimal("14.99"),
                Decimal("44.99"),
                step=Decimal("2.50"),
                unit="EUR",
            ),
            NumericIssue.of_points("contract_months", (1, 12, 24), unit="months"),
            BooleanIssue("insurance"),
            OrdinalIssue("data", ("5GB", "20GB", "unlimited")),
            FieldsIssue("shared_fields", FIELDS, required=frozenset({"contact.email"})),
        ),
    )


def customer(domain: Domain) -> Preferences:
    return Preferences(
        LinearAdditiveUtility(
            {
                "price_per_month": 0.4,
                "contract_months": 0.15,
                "insurance": 0.05,
                "data": 0.2,
                "shared_fields": 0.2,
            },
            {
                "price_per_month": NumericEvaluator(
                    Decimal("14.99"), Decimal("44.99"), increasing=False
                ),
                "contract_months": DiscreteEvaluator({1: 3, 12: 4, 24: 1}),
                "insurance": DiscreteEvaluator({True: 1, False: 0.5}),
                "data": DiscreteEvaluator({"5GB": 1, "20GB": 3, "unlimited": 4}),
                "shared_fields": FieldsEvaluator(
                    {
                        "contact.email": 1,
                        "contact.phone": 3,
                        "address.city": 1,
                        "profile.birth_year": 2,
                    }
                ),
            },
        ),
        reservation=0.3,
        name="customer",
    )


def business(domain: Domain) -> Preferences:
    return Preferences(
        LinearAdditiveUtility(
            {
                "price_per_month": 0.5,
                "contract_months": 0.25,
                "insurance": 0.05,
                "data": 0.1,
                "shared_fields": 0.1,
            },
            {
                "price_per_month": NumericEvaluator(Decimal("14.99"), Decimal("44.99")),
                "contract_months": DiscreteEvaluator({1: 1, 12: 2, 24: 4}),
                "insurance": DiscreteEvaluator({True: 1, False: 0.2}),
                "data": DiscreteEvaluator({"5GB": 4, "20GB": 2, "unlimited": 1}),
                "shared_fields": FieldsEvaluator(dict.fromkeys(FIELDS, 1.0), sharing_is_cost=False),
            },
        ),
        reservation=0.2,
        name="business",
    )


def main() -> int:
    domain = phone_domain()
    owner = Identity.generate()  # in a real node: the vault's libp2p identity
    mandate = Mandate(
        owner=owner.peer_id,
        mandate_id="phone-2025",
        domain=domain.name,
        price_issue="price_per_month",
        max_price_cents=2500,  # €25.00: mandates count money in integer cents
        fields_issue="shared_fields",
        may_share=["address.city", "contact.email"],
        terms={"contract_months": TermLimit(high=12)},
        confirm_above_cents=2250,
    ).sign(owner)

    def audit(event: MandateEvent) -> None:
        print(f"  audit: {event.kind:<22} turn {event.turn:>3}  {'; '.join(event.reasons)}")

    def confirm(bid: object) -> bool:
        print("  owner asked to confirm a deal above €22.50 — approved")
        return True

    agent = MandatedAgent(
        DefaultStrategy(), mandate, owner=owner.peer_id, audit=audit, confirm=confirm
    )
    print(f"customer agent under mandate {mandate.mandate_id} (signed by {owner.peer_id[:16]}…)")
    result = simulate(
        domain,
        agent,
        customer(domain),
        Boulware(),
        business(domain),
        deadline=Deadline(rounds=60),
        seed=1,
    )
    print(f"state: {result.state.value} after {result.turns} moves")
    if result.agreement is None:
        print("no agreement")
        return 0
    deal = result.agreement
    print(f"agreement: {deal}")
    price = deal["price_per_month"]
    assert isinstance(price, Decimal)
    insured = "with" if deal["insurance"] else "without"
    print(f"  price €{price}/month, {deal['contract_months']} months, {deal['data']}, "
          f"{insured} insurance")  # fmt: skip
    print(f"  on the wire: {domain.bid_to_wire(deal)}")
    print(
        f"  utility customer {result.utility_a:.3f}, business {result.utility_b:.3f}, "
        f"Nash distance {result.nash_distance:.3f}"
    )
    assert mandate.permits(deal), mandate.violations(deal)
    print("the agreement is inside the mandate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
