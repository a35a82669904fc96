"""The agents part of ``kluis demo``: one vault, three businesses, one phone contract.

:func:`run_agents_story` runs on real libp2p nodes on 127.0.0.1, in a fresh
temporary folder: the vault's agent casts an intent for a phone contract on
gossipsub (signed by a key made for that intent only); three businesses with
different strategies answer and negotiate in parallel; the best deal inside the
mandate wins, the others are told no; the agreement is signed by both sides and
creates the grant; the winner reads the shared field under it. Each step prints
a mark and the function returns True only if every step behaved.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents import (
    Boulware,
    Conceder,
    DefaultStrategy,
    DiscreteEvaluator,
    FieldsEvaluator,
    LinearAdditiveUtility,
    NumericEvaluator,
    Preferences,
    Strategy,
)
from agents.intents import intent_topic
from protocol import KluisError
from protocol.listen import LOOPBACK
from vault.demo.steps import Steps

__all__ = ["DEMO_INTENT", "run_agents_story"]

_PASSPHRASE = "correct horse battery staple"  # noqa: S105 (a throwaway demo vault)
_FIELDS = ["contact.email", "contact.phone", "address.home.city", "name.given"]

#: The customer's intent, as ``kluis intent send`` reads it from TOML/JSON.
DEMO_INTENT: dict[str, Any] = {
    "category": "phone",
    "wanted": "a SIM-only phone contract",
    "purpose": "dpv:ServiceProvision",
    "duration_days": 365,
    "window_seconds": 3,
    "rounds": 20,
    "reservation": 0.2,
    "issues": [
        {"name": "price", "kind": "numeric", "low": 1000, "high": 3000, "step": 250,
         "unit": "cents", "weight": 0.5, "prefer": "low"},
        {"name": "months", "kind": "numeric", "low": 12, "high": 24, "step": 12,
         "weight": 0.1, "prefer": "low"},
        {"name": "data", "kind": "ordinal", "levels": ["1GB", "5GB", "20GB"], "weight": 0.2},
        {"name": "shared", "kind": "fields", "fields": _FIELDS, "required": ["contact.email"],
         "weight": 0.2},
    ],
    "mandate": {"max_price_cents": 2500, "may_share": ["contact.email", "address.home.city"]},
}  # fmt: skip

_BUSINESSES: tuple[tuple[str, Callable[[], Strategy]], ...] = (
    ("Boulware Mobile", Boulware),
    ("Conceder Telecom", Conceder),
    ("Default Networks", DefaultStrategy),
)


def _business_preferences() -> Preferences:
    return Preferences(
        LinearAdditiveUtility(
            {"price": 0.5, "months": 0.3, "data": 0.1, "shared": 0.1},
            {
                "price": NumericEvaluator(1000, 3000),
                "months": NumericEvaluator(12, 24),
                "data": DiscreteEvaluator({"1GB": 5, "5GB": 3, "20GB": 1}),
                "shared": FieldsEvaluator(dict.fromkeys(_FIELDS, 1.0), sharing_is_cost=False),
            },
        ),
        0.1,
        name="business",
    )


async def run_agents_story(console: Console, steps: Steps | None = None) -> bool:
    """Run the story (see the module docstring); True only if every step behaved.

    ``steps`` is the demo's own tally, so each check here counts once in the
    demo's total; alone (as in the tests) the story keeps a tally of its own.
    """
    steps = steps or Steps(console)
    with tempfile.TemporaryDirectory(prefix="kluis-agents-demo-") as tmp:
        try:
            return await _story(console, steps, Path(tmp))
        except (KluisError, TimeoutError, OSError) as exc:
            steps.check("the agents story ran to the end", False, f"{type(exc).__name__}: {exc}")
            return False


async def _story(console: Console, steps: Steps, tmp: Path) -> bool:
    from vault.node.boss import VaultNode
    from vault.requester import OfferAgent, Requester
    from vault.services.agent_service import AgentService
    from vault.store.vault import Vault

    ok = True

    def check(title: str, passed: bool, detail: str = "") -> bool:
        nonlocal ok
        ok &= steps.check(title, passed, detail)
        return passed

    console.rule("Preference agents: a phone contract")
    home = tmp / "vault"
    with Vault.create(home, _PASSPHRASE) as v:
        v.profile.set("contact.email", "anna.devries@example.org")
        v.profile.set("contact.phone", "+31 20 123 4567")
        v.profile.set("address.home.city", "Amsterdam")
    names: dict[str, str] = {}
    bizs: list[tuple[Requester, OfferAgent]] = []
    async with contextlib.AsyncExitStack() as stack:
        vn = await VaultNode.start(home, _PASSPHRASE, listen=LOOPBACK, control_port=None)
        stack.push_async_callback(vn.close)
        for i, (name, strategy) in enumerate(_BUSINESSES):
            biz = await Requester.ephemeral(tmp / f"biz{i}", listen=LOOPBACK,
                                            retention_interval=None)  # fmt: skip
            stack.push_async_callback(biz.close)
            boot = [bizs[0][0].addrs[0]] if bizs else []
            agent = await OfferAgent.start(biz, ["phone"], strategy=strategy,
                                           preferences=_business_preferences(),
                                           bootstrap=boot)  # fmt: skip
            stack.push_async_callback(agent.close)
            bizs.append((biz, agent))
            names[biz.peer_id] = name
        for _, agent in bizs[1:]:  # gossipsub heartbeats graft the mesh
            await agent.pubsub.wait_for_mesh(intent_topic("phone"), 1, timeout=10)
        check("three businesses subscribed to the 'phone' intents topic",
              len(bizs) == 3, ", ".join(n for n, _ in _BUSINESSES))  # fmt: skip

        svc = AgentService(vn.vault, vn.grants, vault_addrs=lambda: vn.addrs,
                           bootstrap=[bizs[0][0].addrs[0]])  # fmt: skip
        spec, mandate = svc.parse_intent(DEMO_INTENT)
        console.print(
            f"  the agent casts: [bold]{spec.wanted}[/bold], at most "
            f"{(mandate.max_price_cents or 0) / 100:.2f} a month, sharing at most "
            f"{', '.join(mandate.may_share or [])}"
        )
        outcome = await svc.send_intent(spec, mandate, expect_sessions=3)
        intent = outcome.intent
        check("the intent is signed by a key for this intent only, not the vault's",
              intent.signer != vn.peer_id and vn.peer_id.encode() not in intent.to_bytes(),
              f"signer {intent.signer}")  # fmt: skip
        check("every business received it on the network's publish/subscribe channel "
              "(libp2p gossipsub)",
              all(len(a.intents) == 1 for _, a in bizs))  # fmt: skip
        check("three negotiations ran in parallel", len(outcome.candidates) == 3)

        table = Table("business", "moves", "result", "price", "months", "data", "shares")
        for cand in outcome.candidates:
            bid: dict[str, Any] = dict(cand.bid or {})
            shared = bid.get("shared", frozenset())
            price = bid.get("price")
            table.add_row(
                names.get(cand.business, cand.business), str(cand.rounds), cand.state,
                f"{price / 100:.2f}" if isinstance(price, int) else "-",
                str(bid.get("months", "-")), str(bid.get("data", "-")),
                ", ".join(sorted(shared)) if isinstance(shared, frozenset) else "-",
            )  # fmt: skip
        console.print(table)

        agreement, grant = outcome.agreement, outcome.grant
        if not check("the best acceptable deal won", outcome.status == "agreed", outcome.status):
            return False
        assert agreement is not None and grant is not None and outcome.winner is not None
        winner_name = names.get(agreement.business, "?")
        check("it is inside the mandate: the limits Anna signed for her agent",
              outcome.winner.bid is not None and mandate.permits(outcome.winner.bid),
              f"{winner_name}, {agreement.value_cents / 100:.2f} a month")  # fmt: skip
        try:
            agreement.verify()
            signed = True
        except KluisError:
            signed = False
        check("the agreement is signed by the business and the vault", signed)
        state = vn.grants.grant(grant.grant_id)
        check("accepting it created the matching grant in the vault",
              sorted(state.grant.scope.fields) == sorted(agreement.fields)
              and state.grant.requester == agreement.business,
              f"grant {grant.grant_id}: {', '.join(agreement.fields)}")  # fmt: skip
        winner = next(((b, a) for b, a in bizs if b.peer_id == agreement.business), None)
        assert winner is not None
        biz, agent = winner
        won = await agent.next_win(timeout=5)
        check("the winner stored the same agreement", won.agreement == agreement)
        losers = [o for b, a in bizs if b is not biz for o in a.outcomes]
        check("the others were told no",
              all(o.state in ("declined", "no_deal") for o in losers),
              ", ".join(sorted({o.state for o in losers})))  # fmt: skip
        values = await biz.read(grant.grant_id)
        check("the winner reads the shared field under the grant",
              values.get("contact.email") == "anna.devries@example.org",
              ", ".join(f"{k}={v}" for k, v in sorted(values.items())))  # fmt: skip
        check("the vault lists the agreement",
              [a.agreement_id for a in svc.agreements()] == [agreement.agreement_id])  # fmt: skip
    return ok
