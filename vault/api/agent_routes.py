"""Control-API routes of the customer's agents: intents, deals, agreements (under ``/api/v1``).

The routes, their bodies and answers are declared in :data:`vault.api.spec.OPERATIONS`
(tag ``agents``); this module holds their handlers. They use ``owner.agents``, the
:class:`~vault.services.agent_service.AgentService` of the running
:class:`~vault.node.boss.VaultNode`. A node started without the network has no
agents, and these routes then answer 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from protocol import new_id
from vault.api.answers import ok
from vault.api.inputs import flag, read_model
from vault.api.models import AgreementList, DealList, DealView, IntentBody, IntentList, IntentRef
from vault.services.agent_service import AgentService
from vault.services.owner import Owner

__all__ = ["MAX_INTENTS_KEPT", "AgentRoutes"]

MAX_INTENTS_KEPT = 100


class AgentRoutes:
    """The handlers of the ``agents`` operations, for one running node."""

    def __init__(self, owner: Owner) -> None:
        self._owner = owner
        self.intents: dict[str, dict[str, Any]] = {}

    @property
    def svc(self) -> AgentService:
        svc = self._owner.agents
        if svc is None:
            raise web.HTTPNotFound(reason="the agents are not running on this node (no network)")
        return svc

    async def send_intent(self, request: web.Request) -> web.Response:
        svc = self.svc
        body = await read_model(request, IntentBody)
        spec, mandate = svc.parse_intent(body.model_dump(exclude_none=True))
        ref = new_id()[:12]
        entry: dict[str, Any] = {"ref": ref, "category": spec.category, "status": "negotiating"}
        self.intents[ref] = entry
        while len(self.intents) > MAX_INTENTS_KEPT:
            self.intents.pop(next(iter(self.intents)))
        task = svc.start_intent(spec, mandate)

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled():
                entry["status"] = "cancelled"
                return
            exc = t.exception()
            if exc is not None:
                entry["status"], entry["error"] = "failed", str(exc)[:200]
                return
            outcome = t.result()
            agreement, grant = outcome.agreement, outcome.grant
            entry.update(
                status=outcome.status,
                intent_id=outcome.intent.intent_id,
                sessions=len(outcome.candidates),
                agreement_id=agreement.agreement_id if agreement else None,
                grant_id=grant.grant_id if grant else None,
                business=agreement.business if agreement else None,
                value_cents=agreement.value_cents if agreement else None,
            )

        task.add_done_callback(done)
        return ok(IntentRef(**entry), status=202)

    async def list_intents(self, request: web.Request) -> web.Response:
        self.svc  # noqa: B018 - 404 without the agents
        return ok(IntentList(intents=[IntentRef(**e) for e in self.intents.values()]))

    async def list_deals(self, request: web.Request) -> web.Response:
        svc = self.svc
        status = None if flag(request, "all") else "awaiting confirmation"
        return ok(DealList(deals=[DealView(**d.to_json()) for d in svc.deals(status)]))

    async def confirm_deal(self, request: web.Request) -> web.Response:
        return ok(DealView(**self.svc.confirm(request.match_info["id"]).to_json()))

    async def reject_deal(self, request: web.Request) -> web.Response:
        return ok(DealView(**self.svc.reject(request.match_info["id"]).to_json()))

    async def list_agreements(self, request: web.Request) -> web.Response:
        return ok(AgreementList(agreements=[a.to_json() for a in self.svc.agreements()]))
