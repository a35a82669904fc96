"""Agents over the network: intent → first offers, and negotiation sessions per second.

Run: ``python benchmarks/bench_agents_network.py [--businesses 20] [--trials 5]
[--clients 8] [--seconds 5]``. Every node listens on 127.0.0.1. It prints
figures; it is not a test.

1. **Intent → first offers.** ``--businesses`` business nodes with gossipsub
   form a mesh (each dials the first node and one random earlier node). A customer
   agent on its own ephemeral node bootstraps to one of them and publishes an
   intent; every business that gets it opens a negotiation stream and makes its
   opening offer. We time, from the publish call: the first offer received, the
   median business, and the last of them (= the intent reached everybody and
   everybody dialled back). Repeated ``--trials`` times with a fresh intent.
2. **Sessions per second.** ``--clients`` business tasks each run sessions back
   to back (Boulware business vs the customer's DefaultStrategy under a mandate,
   20 rounds, phone domain) against one agent node for ``--seconds``; every move is
   a frame on a libp2p stream (dial once, one stream per session).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from agents import (
    Boulware,
    DiscreteEvaluator,
    Domain,
    FieldsEvaluator,
    FieldsIssue,
    LinearAdditiveUtility,
    Mandate,
    NumericEvaluator,
    NumericIssue,
    OrdinalIssue,
    Preferences,
)
from agents.agreements import Agreement
from agents.intents import Intent, intent_topic, intent_validator, parse_intent
from agents.network import Candidate, CustomerAgent, IntentSpec, negotiate_intent, wall_ms
from protocol import AccessRequest, Grant, Identity
from protocol.runtime import Node
from protocol.runtime.pubsub import PubSub

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]
FIELDS = ("contact.email", "contact.phone", "address.city", "name.given")


def domain() -> Domain:
    return Domain("phone", (
        NumericIssue("price", 1000, 3000, step=250, unit="cents"),
        NumericIssue("months", 12, 24, step=12),
        OrdinalIssue("data", ("1GB", "5GB", "20GB")),
        FieldsIssue("shared", FIELDS, required=frozenset({"contact.email"})),
    ))  # fmt: skip


def prefs(customer: bool) -> Preferences:
    if customer:
        w = {"price": 0.5, "months": 0.1, "data": 0.2, "shared": 0.2}
        ev: dict[str, Any] = {
            "price": NumericEvaluator(1000, 3000, increasing=False),
            "months": NumericEvaluator(12, 24, increasing=False),
            "data": DiscreteEvaluator({"1GB": 1, "5GB": 3, "20GB": 5}),
            "shared": FieldsEvaluator(dict.fromkeys(FIELDS, 1.0), sharing_is_cost=True),
        }
    else:
        w = {"price": 0.5, "months": 0.3, "data": 0.1, "shared": 0.1}
        ev = {
            "price": NumericEvaluator(1000, 3000),
            "months": NumericEvaluator(12, 24),
            "data": DiscreteEvaluator({"1GB": 5, "5GB": 3, "20GB": 1}),
            "shared": FieldsEvaluator(dict.fromkeys(FIELDS, 1.0), sharing_is_cost=False),
        }
    return Preferences(LinearAdditiveUtility(w, ev), 0.1)


class NoCloser:
    """The bench never closes a deal: it measures negotiation, not grant creation."""

    def __init__(self, vault: Identity) -> None:
        self.vault = vault

    @property
    def vault_peer(self) -> str:
        return self.vault.peer_id

    @property
    def vault_addrs(self) -> list[str]:
        return []

    async def confirm(self, candidate: Candidate, intent: Intent) -> bool:
        return False

    async def close(self, agreement: Agreement, request: AccessRequest) -> tuple[Agreement, Grant]:
        raise RuntimeError("not in the benchmark")


def agent(window_ms: int, bootstrap: list[str], expect: int | None) -> CustomerAgent:
    owner = Identity.generate()
    mandate = Mandate(owner=owner.peer_id, mandate_id="bench", domain="phone",
                      price_issue="price", max_price_cents=2500, fields_issue="shared",
                      may_share=["contact.email", "address.city"]).sign(owner)  # fmt: skip
    spec = IntentSpec(category="phone", domain=domain(), preferences=prefs(True),
                      purpose="dpv:ServiceProvision", duration_days=30, window_ms=window_ms,
                      rounds=20, fields_issue="shared", price_issue="price",
                      may_share=["contact.email", "address.city"])  # fmt: skip
    return CustomerAgent(spec, mandate, NoCloser(owner), bootstrap=bootstrap,
                         expect_sessions=expect)  # fmt: skip


async def first_offers(n: int, trials: int) -> list[tuple[float, float, float, float, int]]:
    rng = random.Random(0)
    nodes: list[Node] = []
    tasks: list[asyncio.Task[None]] = []
    sessions: set[asyncio.Future[Any]] = set()
    received: list[int] = []
    pubsubs: list[PubSub] = []
    try:
        for _ in range(n):
            node = await Node.start(Identity.generate(), LOOPBACK)
            ps = await PubSub.attach(node)
            pubsubs.append(ps)
            sub = await ps.subscribe(intent_topic("phone"), validator=intent_validator(wall_ms))
            nodes.append(node)

            async def serve(node: Node = node, sub: Any = sub) -> None:
                async for msg in sub:
                    intent = parse_intent(msg.data, now_ms=wall_ms(), publisher=msg.from_peer)
                    received.append(wall_ms())
                    fut = asyncio.ensure_future(
                        negotiate_intent(
                            node, intent, Boulware(), prefs(False), _never, await_award=False
                        )
                    )
                    sessions.add(fut)
                    fut.add_done_callback(sessions.discard)

            tasks.append(asyncio.create_task(serve()))
        for i, node in enumerate(nodes[1:], start=1):
            await node.connect(nodes[0].addrs[0])
            if i > 1:
                await node.connect(nodes[rng.randrange(1, i)].addrs[0])
        for node_ps in pubsubs:  # let the gossipsub mesh form (heartbeat 1 s)
            await node_ps.wait_for_mesh(intent_topic("phone"), 1, timeout=10)
        out = []
        for t in range(trials):
            a = agent(3000, [nodes[(t * 7) % n].addrs[0]], expect=n)
            received.clear()
            outcome = await a.run()
            reach = sorted(r - outcome.published_ms for r in received)
            firsts = sorted(
                c.first_offer_ms - outcome.published_ms
                for c in outcome.candidates
                if c.first_offer_ms is not None
            )
            if firsts:
                out.append((reach[-1] if reach else -1, firsts[0], statistics.median(firsts),
                            firsts[-1], len(firsts)))  # fmt: skip
            await asyncio.sleep(0.3)
        return out
    finally:
        for task in [*tasks, *sessions]:
            task.cancel()
        await asyncio.gather(*tasks, *sessions, return_exceptions=True)
        for node in nodes:
            await node.close()


async def _never(draft: Agreement) -> tuple[Agreement, AccessRequest]:
    raise RuntimeError("no award in the benchmark")


async def sessions_per_second(clients: int, seconds: float) -> tuple[int, float, int, int]:
    a = agent(int((seconds + 30) * 1000), [], expect=None)
    a.max_sessions = 1_000_000  # one agent serves every session of the run
    a.min_subscribers = 0
    run = asyncio.create_task(a.run())
    while a.intent is None:
        await asyncio.sleep(0.01)
    intent = a.intent
    nodes = [await Node.start(Identity.generate(), LOOPBACK) for _ in range(clients)]
    done = agreed = moves = 0
    stop = time.perf_counter() + seconds

    async def client(node: Node) -> None:
        nonlocal done, agreed, moves
        while time.perf_counter() < stop:
            o = await negotiate_intent(node, intent, Boulware(), prefs(False), _never,
                                       await_award=False)  # fmt: skip
            done += 1
            agreed += o.state == "agreed"
            moves += o.rounds

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(client(n) for n in nodes))
        elapsed = time.perf_counter() - t0
    finally:
        run.cancel()
        for node in nodes:
            await node.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await run
    return done, elapsed, agreed, moves


async def main_async(args: argparse.Namespace) -> None:
    console = Console()
    console.print(f"[bold]Intent → first offers[/bold], {args.businesses} business nodes")
    rows = await first_offers(args.businesses, args.trials)
    table = Table("trial", "intent at all ms", "first offer ms", "median offer ms",
                  "last offer ms", "offers")  # fmt: skip
    for i, (reach, first, med, last, count) in enumerate(rows, 1):
        table.add_row(str(i), f"{reach:.0f}", f"{first:.0f}", f"{med:.0f}", f"{last:.0f}",
                      str(count))  # fmt: skip
    if rows:
        table.add_row("median", *(f"{statistics.median(r[k] for r in rows):.0f}"
                                  for k in range(4)), "")  # fmt: skip
    console.print(table)
    console.print(f"[bold]Sessions per second[/bold], {args.clients} clients, {args.seconds}s")
    done, elapsed, agreed, moves = await sessions_per_second(args.clients, args.seconds)
    console.print(
        f"{done} sessions in {elapsed:.1f}s = [bold]{done / elapsed:.1f} sessions/s[/bold] "
        f"({agreed} agreed, {moves / max(done, 1):.1f} moves each, {moves / elapsed:.0f} moves/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--businesses", type=int, default=20)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
