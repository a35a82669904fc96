"""A business's agent that can never sell below cost plus a minimum margin.

The business answers a customer's intent for a phone contract. Its costs are
€14.00 a month and its board wants at least €3.00 margin, so the floor is
€17.00. The floor is not left to the sales strategy: it goes into a mandate
the business node signs, and a ``MandatedAgent`` enforces it. To show why, the
business runs a deliberately desperate sales strategy — it accepts anything
and offers the cheapest price — and still never signs a deal under the floor:
each attempt is blocked, audited and replaced by an in-mandate move.

Run:  python examples/agent_business_margin.py
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from agents import (
    Accept,
    Bid,
    Boulware,
    Deadline,
    DefaultStrategy,
    Domain,
    Linear,
    Mandate,
    MandatedAgent,
    MandateEvent,
    NegotiationContext,
    NumericIssue,
    OrdinalIssue,
    Response,
    SessionView,
    Strategy,
    TitForTat,
    simulate,
)
from agents.utility import DiscreteEvaluator, LinearAdditiveUtility, NumericEvaluator, Preferences
from protocol import Identity

COST_CENTS = 1400
MIN_MARGIN_CENTS = 300
FLOOR_CENTS = COST_CENTS + MIN_MARGIN_CENTS


def domain() -> Domain:
    return Domain(
        "sim-only",
        (
            NumericIssue("price_per_month", 1000, 3000, step=100, unit="cents"),
            NumericIssue("contract_months", 1, 24, unit="months"),
            OrdinalIssue("data", ("5GB", "20GB", "unlimited")),
        ),
    )


def business(d: Domain) -> Preferences:
    return Preferences(
        LinearAdditiveUtility(
            {"price_per_month": 0.6, "contract_months": 0.3, "data": 0.1},
            {
                "price_per_month": NumericEvaluator(1000, 3000),
                "contract_months": NumericEvaluator(1, 24),
                "data": DiscreteEvaluator({"5GB": 3, "20GB": 2, "unlimited": 1}),
            },
        ),
        name="business",
    )


def customer(d: Domain) -> Preferences:
    return Preferences(
        LinearAdditiveUtility(
            {"price_per_month": 0.6, "contract_months": 0.2, "data": 0.2},
            {
                "price_per_month": NumericEvaluator(1000, 3000, increasing=False),
                "contract_months": NumericEvaluator(1, 24, increasing=False),
                "data": DiscreteEvaluator({"5GB": 1, "20GB": 2, "unlimited": 3}),
            },
        ),
        name="customer",
    )


class Desperate:
    """Sells at any price: offers the cheapest contract, accepts every offer."""

    name = "desperate"

    def start(self, ctx: NegotiationContext) -> None:
        self.domain = ctx.domain

    def propose(self, state: SessionView) -> Bid:
        return self.domain.bid(price_per_month=1000, contract_months=1, data="unlimited")

    def respond(self, state: SessionView, offer: Bid) -> Response:
        return Accept()


def main() -> int:
    d = domain()
    node = Identity.generate()  # the business's node identity signs its own sales mandate
    mandate = Mandate(
        owner=node.peer_id,
        mandate_id="sim-only-floor",
        domain=d.name,
        price_issue="price_per_month",
        min_price_cents=FLOOR_CENTS,
    ).sign(node)

    blocked: list[MandateEvent] = []
    table = Table(title=f"desperate seller, floor €{FLOOR_CENTS / 100:.2f} (cost + margin)")
    for col in ("customer strategy", "deal", "price", "margin", "blocked moves"):
        table.add_column(col)
    opponents: dict[str, Callable[[], Strategy]] = {
        "default": DefaultStrategy,
        "boulware": Boulware,
        "linear": Linear,
        "tit-for-tat": TitForTat,
    }
    for name, make in opponents.items():
        events: list[MandateEvent] = []
        seller = MandatedAgent(Desperate(), mandate, audit=events.append, max_violations=100)
        r = simulate(d, make(), customer(d), seller, business(d), deadline=Deadline(rounds=40))
        blocked += events
        if r.agreement is None:
            table.add_row(name, "no", "—", "—", str(len(events)))
            continue
        price = r.agreement["price_per_month"]
        assert isinstance(price, int)
        assert price >= FLOOR_CENTS, "the guard let a deal under the floor through"
        table.add_row(
            name,
            "yes",
            f"€{price / 100:.2f}",
            f"€{(price - COST_CENTS) / 100:.2f}",
            str(len(events)),
        )
    Console().print(table)
    assert blocked, "the desperate seller should have been stopped at least once"
    print(f"{len(blocked)} moves under the floor were blocked; every deal kept its margin")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
