"""Control-API routes of the customer's agents (under ``/api/v1``).

=======  ==============================  =============================================
POST     /agents/intents                 an intent file's content (JSON) → ``IntentRef``
                                         (202); the agent negotiates in the background
GET      /agents/intents                 intents sent since the node started, with outcome
GET      /agents/deals[?all=1]           deals awaiting the owner's confirmation
POST     /agents/deals/{id}/confirm      confirm (the agent then closes the deal)
POST     /agents/deals/{id}/reject       reject
GET      /agents/agreements              stored agreements (both signatures checked)
=======  ==============================  =============================================

The routes use ``owner.agents``, the :class:`~vault.services.agent_service.AgentService`
of the running :class:`~vault.node.boss.VaultNode`; without one they answer 404.
:func:`register_agent_routes` mounts them; importing this module adds them to the
OpenAPI document (:func:`vault.api.spec.register`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from protocol import new_id
from vault.api import spec as api_spec
from vault.services.agent_service import AgentService

__all__ = ["AGENT_OPERATIONS", "register_agent_routes"]

MAX_INTENTS_KEPT = 100


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class IntentBody(BaseModel):
    """An intent file's content (see docs/agents.md, "Intent files")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str = Field(max_length=64)
    issues: list[dict[str, Any]] = Field(max_length=16)
    wanted: str = Field(default="", max_length=280)
    purpose: str = Field(default="dpv:ServiceProvision", max_length=80)
    duration_days: int = 30
    window_seconds: float = 5
    rounds: int = 20
    reservation: float = 0.0
    domain: str | None = None
    price_issue: str | None = None
    may_share: list[str] = Field(default_factory=list, max_length=32)
    mandate: dict[str, Any] = Field(default_factory=dict)


class IntentRef(_Out):
    ref: str
    category: str
    status: str  # negotiating, agreed, no_deal, not_confirmed, failed, cancelled
    intent_id: str | None = None
    sessions: int | None = None
    agreement_id: str | None = None
    grant_id: str | None = None
    business: str | None = None
    value_cents: int | None = None
    error: str | None = None


class IntentList(_Out):
    intents: list[IntentRef]


class DealView(_Out):
    deal_id: str
    intent_id: str
    category: str
    business: str
    bid: dict[str, Any]
    value_cents: int
    status: str
    created_at: int


class DealList(_Out):
    deals: list[DealView]


class AgreementList(_Out):
    agreements: list[dict[str, Any]]


_BOOL = {"type": "string", "enum": ["0", "1"]}
AGENT_OPERATIONS = (
    api_spec.Operation(
        "POST", "/agents/intents", "send_intent", "Cast an intent; the agent negotiates it",
        "agents", IntentRef, body=IntentBody, status=202, errors=(400, 404),
    ),
    api_spec.Operation(
        "GET", "/agents/intents", "list_intents", "Intents sent, with their outcome", "agents",
        IntentList, errors=(404,),
    ),
    api_spec.Operation(
        "GET", "/agents/deals", "list_deals", "Deals awaiting the owner's confirmation",
        "agents", DealList, query=(api_spec.Query("all", dict(_BOOL), "also decided deals"),),
        errors=(400, 404),
    ),
    api_spec.Operation(
        "POST", "/agents/deals/{id}/confirm", "confirm_deal", "Confirm a deal", "agents",
        DealView, errors=(400, 404),
    ),
    api_spec.Operation(
        "POST", "/agents/deals/{id}/reject", "reject_deal", "Reject a deal", "agents",
        DealView, errors=(400, 404),
    ),
    api_spec.Operation(
        "GET", "/agents/agreements", "list_agreements", "Agreements (signed by both sides)",
        "agents", AgreementList, errors=(404,),
    ),
)  # fmt: skip
api_spec.register(*AGENT_OPERATIONS)


def _err(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


class _AgentRoutes:
    def __init__(self, owner: Callable[[], Any]) -> None:
        self._owner = owner
        self.intents: dict[str, dict[str, Any]] = {}

    @property
    def svc(self) -> AgentService:
        svc = getattr(self._owner(), "agents", None)
        if not isinstance(svc, AgentService):
            raise web.HTTPNotFound(reason="the agents are not running on this node")
        return svc

    async def send_intent(self, request: web.Request) -> web.Response:
        svc = self.svc
        raw = await request.read()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return _err(400, "bad_json", "the body is not valid JSON")
        body = IntentBody.model_validate(data)  # ValidationError → 400 invalid_body
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
        return _json(IntentRef(**entry), status=202)

    async def list_intents(self, request: web.Request) -> web.Response:
        self.svc  # noqa: B018 - 404 without the agents
        return _json(IntentList(intents=[IntentRef(**e) for e in self.intents.values()]))

    async def list_deals(self, request: web.Request) -> web.Response:
        svc = self.svc
        values = request.query.getall("all", [])
        if len(values) > 1 or (values and values[0] not in ("0", "1")):
            return _err(400, "bad_query", "all is 0 or 1")
        status = None if values == ["1"] else "awaiting confirmation"
        return _json(DealList(deals=[DealView(**d.to_json()) for d in svc.deals(status)]))

    async def confirm_deal(self, request: web.Request) -> web.Response:
        return _json(DealView(**self.svc.confirm(request.match_info["id"]).to_json()))

    async def reject_deal(self, request: web.Request) -> web.Response:
        return _json(DealView(**self.svc.reject(request.match_info["id"]).to_json()))

    async def list_agreements(self, request: web.Request) -> web.Response:
        return _json(AgreementList(agreements=[a.to_json() for a in self.svc.agreements()]))


def register_agent_routes(app: web.Application, prefix: str, owner: Callable[[], Any]) -> None:
    """Mount the agent routes under ``prefix`` (the control server's ``/api/v1``)."""
    routes = _AgentRoutes(owner)
    for op in AGENT_OPERATIONS:
        app.router.add_route(op.method, prefix + op.path, getattr(routes, op.handler))
