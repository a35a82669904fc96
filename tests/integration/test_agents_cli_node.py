"""`kluis intent send / deals / confirm / agreements` through a running node's control API.

The vault node and three business offer agents run on an event loop in a thread,
as `kluis start` and the businesses would in other processes; the CLI talks to
the node through its control API, as it does for real.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents import Boulware, Conceder, DefaultStrategy
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.cli.exits import EXIT_ERROR
from vault.cli.main import app
from vault.demo.agents_act import DEMO_INTENT, _business_preferences
from vault.node.boss import VaultNode
from vault.requester import OfferAgent, Requester
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(90)


class World:
    """A vault node and three businesses on their own loop in a thread."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "vault"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.node: VaultNode | None = None
        self.bizs: list[tuple[Requester, OfferAgent]] = []

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _start(self) -> None:
        for i, strategy in enumerate((Boulware, Conceder, DefaultStrategy)):
            biz = await Requester.ephemeral(self.tmp / f"biz{i}", listen=LOOPBACK,
                                            retention_interval=None)  # fmt: skip
            boot = [self.bizs[0][0].addrs[0]] if self.bizs else []
            agent = await OfferAgent.start(biz, ["phone"], strategy=strategy,
                                           preferences=_business_preferences(),
                                           bootstrap=boot)  # fmt: skip
            self.bizs.append((biz, agent))
        for _, agent in self.bizs[1:]:
            await agent.pubsub.wait_for_mesh("/kluis/intents/1/phone", 1, timeout=10)
        self.node = await VaultNode.start(self.home, PASSPHRASE, listen=LOOPBACK,
                                          bootstrap=[self.bizs[0][0].addrs[0]])  # fmt: skip

    async def _stop(self) -> None:
        if self.node is not None:
            await self.node.close()
        for biz, agent in self.bizs:
            await agent.close()
            await biz.close()

    def __enter__(self) -> World:
        with Vault.create(self.home, PASSPHRASE) as v:
            v.profile.set("contact.email", "anna@example.org")
            v.profile.set("address.home.city", "Amsterdam")
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _cli(args: list[str], home: Path) -> Any:
    return CliRunner().invoke(app, args, env={"KLUIS_HOME": str(home)})


def test_cli_through_the_running_node(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        home = world.home
        assert "no deals awaiting confirmation" in _cli(["deals"], home).output
        assert "no agreements yet" in _cli(["agreements"], home).output

        # a deal above the threshold waits for `kluis confirm`
        intent = tmp_path / "intent.json"
        body = {**DEMO_INTENT, "window_seconds": 4,
                "mandate": {**DEMO_INTENT["mandate"], "confirm_above_cents": 999}}  # fmt: skip
        intent.write_text(json.dumps(body), encoding="utf-8")
        sent = _cli(["intent", "send", str(intent), "--no-wait", "--json"], home)
        assert sent.exit_code == 0, sent.output
        assert json.loads(sent.output)["status"] == "negotiating"
        deals: list[Any] = []
        for _ in range(200):
            listed = _cli(["deals", "--json"], home)
            assert listed.exit_code == 0, listed.output
            deals = json.loads(listed.output)
            if deals:
                break
            time.sleep(0.05)
        assert len(deals) == 1 and deals[0]["status"] == "awaiting confirmation"
        table = _cli(["deals"], home).output
        assert deals[0]["deal_id"] in table
        confirmed = _cli(["confirm", deals[0]["deal_id"]], home)
        assert confirmed.exit_code == 0 and "confirmed" in confirmed.output

        agreements: list[Any] = []
        for _ in range(200):
            agreements = json.loads(_cli(["agreements", "--json"], home).output)
            if agreements:
                break
            time.sleep(0.05)
        assert len(agreements) == 1
        assert agreements[0]["value_cents"] == deals[0]["value_cents"]
        assert "phone" in _cli(["agreements"], home).output

        again = _cli(["confirm", deals[0]["deal_id"]], home)
        assert again.exit_code == EXIT_ERROR and "not awaiting confirmation" in again.output
        missing = _cli(["confirm", "nope"], home)
        assert missing.exit_code == EXIT_ERROR and "no deal" in missing.output

        # without a threshold, `intent send` waits for the outcome and prints it
        plain = tmp_path / "plain.json"
        plain.write_text(json.dumps({**DEMO_INTENT, "window_seconds": 4}), encoding="utf-8")
        waited = _cli(["intent", "send", str(plain)], home)
        assert waited.exit_code == 0, waited.output
        assert ": agreed" in waited.output and "grant:" in waited.output
        assert len(json.loads(_cli(["agreements", "--json"], home).output)) == 2
