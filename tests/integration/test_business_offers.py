"""The business node answers intents from offer rules (TOML) or an agent module."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, PASSPHRASE
from tests.integration.test_agents_vault import INTENT
from vault.business import BusinessNode
from vault.business.offer_rules import OfferRulesError, load_agent, load_rules
from vault.business.views import deals
from vault.cli.client import ControlClient
from vault.cli.main import app
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.services.agent_service import AgentService
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(90)

RULES = """
[[offer]]
category = "phone"
strategy = "agents.default_strategy:DefaultStrategy"
reservation = 0.1

[offer.issues.price]
weight = 0.5
low = 1000
high = 3000
[offer.issues.months]
weight = 0.3
low = 12
high = 24
[offer.issues.data]
weight = 0.1
values = { "1GB" = 5, "5GB" = 3, "20GB" = 1 }
[offer.issues.shared]
weight = 0.1
fields = { "contact.email" = 1.0, "address.home.city" = 1.0 }
"""


@pytest.fixture
async def offering(tmp_path: Path) -> AsyncIterator[BusinessNode]:
    rules = tmp_path / "offers.toml"
    rules.write_text(RULES, encoding="utf-8")
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    async with await BusinessNode.start(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None, offers=rules
    ) as node:
        yield node


async def test_offer_rules_win_an_intent_and_the_grant_is_held(
    offering: BusinessNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
    async with await VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn:
        svc = AgentService(
            vn.vault, vn.grants, vault_addrs=lambda: vn.addrs, bootstrap=[offering.addrs[0]]
        )
        spec, mandate = svc.parse_intent(INTENT)
        outcome = await svc.send_intent(spec, mandate, expect_sessions=1)
        assert outcome.status == "agreed", [c.state for c in outcome.candidates]
        assert outcome.agreement is not None and outcome.grant is not None
        assert offering.offer_categories == ["phone"]
        assert [a.agreement_id for a in deals(offering)] == [outcome.agreement.agreement_id]
        # the control API and `kluis business deals --json` list it (the CLI is the API's client)
        listed = await asyncio.to_thread(ControlClient.from_home(offering.home).get, "deals")
        assert listed["answering"] == ["phone"]
        [deal] = listed["deals"]
        agreed = outcome.agreement
        assert (deal["agreement_id"], deal["vault"], deal["category"]) == (
            agreed.agreement_id, vn.peer_id, "phone",
        )  # fmt: skip
        assert deal["value_cents"] == agreed.value_cents and set(deal["fields"]) == set(
            agreed.fields
        )
        assert "business_sig" not in deal and "vault_sig" not in deal
        monkeypatch.setenv("KLUIS_BUSINESS_HOME", str(offering.home))
        monkeypatch.delenv("KLUIS_BUSINESS_PASSPHRASE", raising=False)
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["business", "deals", "--json"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == listed
        offering.holder.refresh()  # (the node also looks every few seconds)
        assert offering.holder.holding(outcome.grant.grant_id)
        values = await offering.biz.read(outcome.grant.grant_id)
        assert values["contact.email"] == "alice@example.org"
        await svc.aclose()


def test_offer_rules_mistakes_are_one_line(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    cases = {
        "not toml [": "not valid TOML",
        "x = 1": "[[offer]]",
        '[[offer]]\ncategory = "phone"': "at least one issue",
        '[[offer]]\ncategory = "phone"\n[offer.issues.price]\nweight = 1\nlow = 1\nhigh = 1': (
            "low and high"
        ),
        '[[offer]]\ncategory = "a b"\n[offer.issues.p]\nweight = 1\nlow = 0\nhigh = 1': (
            "category"
        ),
    }
    for text, said in cases.items():
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(OfferRulesError, match=said.replace("[", r"\[")):
            load_rules(bad)
    with pytest.raises(OfferRulesError, match="no file"):
        load_agent(str(tmp_path / "missing.py") + ":plan")
    with pytest.raises(OfferRulesError, match="MODULE:NAME"):
        load_agent("nocolon")


def test_an_agent_module_names_its_plan(tmp_path: Path):
    script = tmp_path / "bids.py"
    script.write_text(
        "from vault.business.offer_rules import OfferPlan\n"
        "def plan():\n"
        "    return OfferPlan(categories=['phone'], preferences=lambda intent: None)\n",
        encoding="utf-8",
    )
    plan = load_agent(f"{script}:plan")
    assert list(plan.categories) == ["phone"]
    script.write_text("plan = 3\n", encoding="utf-8")
    with pytest.raises(OfferRulesError, match="not an OfferPlan"):
        load_agent(f"{script}:plan")


async def test_deals_without_a_running_node_and_with_no_agreements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    pf = tmp_path / "pass"
    pf.write_text(BIZ_PASSPHRASE, encoding="utf-8")
    monkeypatch.setenv("KLUIS_BUSINESS_HOME", str(home))
    runner = CliRunner()
    args = ["business", "deals", "--json", "--passphrase-file", str(pf)]
    result = await asyncio.to_thread(runner.invoke, app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"answering": [], "deals": []}
    table = await asyncio.to_thread(runner.invoke, app, args[:2] + args[3:])
    assert table.exit_code == 0 and "(none)" in table.stdout
