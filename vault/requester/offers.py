"""The business offer agent: answer customers' intents, negotiate, receive the grant.

::

    biz = await Requester.ephemeral(tmp)                  # or Requester.open(home, passphrase)
    agent = await OfferAgent.start(
        biz, ["phone"],
        strategy=Boulware,                                 # a factory: one strategy per session
        preferences=lambda intent: my_prefs,               # None = do not bid on this intent
        bootstrap=[peer_addr],
    )
    won = await agent.next_win(timeout=30)                 # BusinessOutcome with .agreement, .grant
    print(await biz.read(won.grant.grant_id))              # the ordinary Requester read
    await agent.close()

Attach the offer agent **before** the requester connects to anyone (open the
requester without ``bootstrap`` and pass it here): gossipsub must see the
connections. Every intent received is validated (size, signature by its
per-intent key, publisher, expiry; :func:`agents.intents.parse_intent`) before
``preferences`` (and ``decide``) see it; invalid ones are dropped silently.

When the customer's agent awards the deal, the offer agent signs the agreement
with the business identity and an access request for exactly the agreed terms
(scope = the shared fields, purpose, duration, value); the vault answers with
its countersignature and the grant, which is recorded as if the vault had
approved the request (:meth:`Requester.grants`, :meth:`Requester.read`). The
agreement is stored sealed in the business store (kind ``agreement``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from agents import Preferences, Strategy
from agents.agreements import Agreement
from agents.intents import Intent, intent_topic, intent_validator, parse_intent
from agents.network import BusinessOutcome, negotiate_intent
from protocol import AccessRequest, Decision, DecisionStatus, KluisError, Offer
from protocol.clock import now_ms
from protocol.lifecycle import Background
from vault.requester._requester import Requester

__all__ = ["AGREEMENT_KIND", "OfferAgent", "stored_agreements"]

log = logging.getLogger(__name__)

AGREEMENT_KIND = "agreement"


def stored_agreements(requester: Requester) -> list[Agreement]:
    """The agreements this business signed, oldest first (with or without a running agent)."""
    out = []
    for _name, raw in requester.vault.store.items(AGREEMENT_KIND, errors=[]):
        with contextlib.suppress(KluisError):
            out.append(Agreement.from_json(raw))
    return sorted(out, key=lambda a: (a.created_at, a.agreement_id))


MAX_CONCURRENT_SESSIONS = 16


class OfferAgent:
    """Subscribes a :class:`Requester` to intent categories and bids on them."""

    def __init__(
        self,
        requester: Requester,
        strategy: Callable[[], Strategy],
        preferences: Callable[[Intent], Preferences | None],
        *,
        retention_days: int = 0,
        max_sessions: int = MAX_CONCURRENT_SESSIONS,
        seed: int | None = None,
    ) -> None:
        self.requester = requester
        self.strategy = strategy
        self.preferences = preferences
        self.retention_days = retention_days
        self._slots = asyncio.Semaphore(max_sessions)
        self._rng = random.Random(seed)
        self.pubsub: Any = None
        self.intents: list[Intent] = []
        self.outcomes: list[BusinessOutcome] = []
        self._wins: asyncio.Queue[BusinessOutcome] = asyncio.Queue()
        #: One listener per category and one task per negotiation, in one task group.
        self._tasks = Background("offer agent")
        self._subs: list[Any] = []
        self._seen: set[str] = set()
        self._pending_requests: dict[str, str] = {}  # agreement id -> access request id
        self._closed = False

    @classmethod
    async def start(
        cls,
        requester: Requester,
        categories: Sequence[str],
        *,
        strategy: Callable[[], Strategy],
        preferences: Callable[[Intent], Preferences | None] | Preferences,
        bootstrap: Sequence[str] = (),
        **kw: Any,
    ) -> OfferAgent:
        """Attach gossipsub to ``requester``'s node, subscribe, then dial ``bootstrap``."""
        from protocol.runtime.pubsub import PubSub

        node = requester.node
        if node is None:
            raise KluisError("the offer agent needs a requester with the network on")
        prefs = preferences
        decide = (
            prefs
            if callable(prefs) and not isinstance(prefs, Preferences)
            else (lambda intent: prefs)
        )
        self = cls(requester, strategy, decide, **kw)
        await self._tasks.start()
        self.pubsub = await PubSub.attach(node)
        for category in categories:
            await self.subscribe(category)
        for addr in bootstrap:
            try:
                await node.connect(addr)
            except KluisError as exc:
                log.warning("bootstrap peer unreachable: %s", type(exc).__name__)
        return self

    async def subscribe(self, category: str) -> None:
        sub = await self.pubsub.subscribe(
            intent_topic(category), validator=intent_validator(now_ms)
        )
        self._subs.append(sub)
        self._tasks.spawn(self._listen(sub), name=f"intents: {category}")

    async def _listen(self, sub: Any) -> None:
        async for msg in sub:
            try:
                intent = parse_intent(msg.data, now_ms=now_ms(), publisher=msg.from_peer)
            except KluisError:
                continue  # the validator already dropped these; belt and braces
            if intent.intent_id in self._seen:
                continue
            self._seen.add(intent.intent_id)
            self.intents.append(intent)
            try:
                prefs = self.preferences(intent)
            except Exception:
                log.exception("the offer agent's preferences callback failed")
                continue
            if prefs is None:
                continue
            self._tasks.spawn(self._negotiate(intent, prefs), name=f"negotiate {intent.intent_id}")

    async def _negotiate(self, intent: Intent, prefs: Preferences) -> None:
        async with self._slots:
            outcome = await negotiate_intent(
                self.requester.node, intent, self.strategy(), prefs, self._on_award,
                rng=random.Random(self._rng.random()),
            )  # fmt: skip
        if outcome.state == "won" and outcome.agreement is not None and outcome.grant is not None:
            try:
                self._record_win(outcome.agreement, outcome.grant)
            except KluisError as exc:
                outcome.state, outcome.reason = "failed", f"grant not recorded: {exc.message}"
        self.outcomes.append(outcome)
        if outcome.state == "won":
            self._wins.put_nowait(outcome)

    async def _on_award(self, draft: Agreement) -> tuple[Agreement, AccessRequest]:
        biz = self.requester
        if not draft.vault_addrs:
            raise KluisError("the award names no vault address")
        request = biz.asking.record(
            draft.vault_addrs[0],
            draft.fields,
            draft.purpose,
            draft.purpose_text,
            days=draft.duration_days,
            retention_days=self.retention_days,
            offer=Offer(description=f"agreement {draft.agreement_id}"[:200],
                        value_cents=draft.value_cents),
        )  # fmt: skip
        self._pending_requests[draft.agreement_id] = request.request_id
        return draft.sign_business(biz.identity), request

    def _record_win(self, agreement: Agreement, grant: Any) -> None:
        biz = self.requester
        request_id = self._pending_requests.pop(agreement.agreement_id, None)
        if request_id is None or grant.request_id != request_id:
            raise KluisError("the grant answers another request")
        biz.asking.apply_decision(
            request_id, Decision(request_id=request_id, status=DecisionStatus.APPROVED, grant=grant)
        )
        with biz.vault.transaction():
            biz.vault.store.put(AGREEMENT_KIND, agreement.agreement_id, agreement.to_bytes())
            biz.vault.audit.append(
                "requester.agreement",
                {"agreement_id": agreement.agreement_id, "grant_id": grant.grant_id,
                 "vault": agreement.vault, "value_cents": agreement.value_cents},
            )  # fmt: skip

    # -- results ----------------------------------------------------------------------------

    async def next_win(self, timeout: float = 30.0) -> BusinessOutcome:
        """The next won deal (its grant is already recorded in the requester)."""
        return await asyncio.wait_for(self._wins.get(), timeout)

    def agreements(self) -> list[Agreement]:
        return stored_agreements(self.requester)

    async def close(self) -> None:
        """Stop listening and negotiating (the requester stays open). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.close()
        await self._tasks.aclose()
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                await self.pubsub.close()
