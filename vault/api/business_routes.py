"""Control-API routes for the businesses that asked this vault: who they are, petnames, changes.

=======  ==============================  =============================================
GET      /businesses                     every business: label, profile, domain check
GET      /businesses/{peer}              one business (and its previous profile, if changed)
POST     /businesses/{peer}/petname      ``{"petname": "my bike shop"}`` (null or "" removes)
POST     /businesses/{peer}/seen         the owner has seen the latest profile: unflag it
POST     /businesses/{peer}/verify       check the business's domain now
=======  ==============================  =============================================

The routes use the running node's :class:`~vault.services.identity.BusinessBook`
(``owner.businesses``). Errors go through the control API's middleware
(unknown business → 404 ``not_found``; a bad petname → 400). Importing this
module adds the operations to the OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from protocol import PublicIdentity, SignatureError
from vault.api import spec as api_spec
from vault.services.grantbook import NotFound
from vault.services.identity import BusinessBook, BusinessLabel

__all__ = ["BUSINESS_OPERATIONS", "BusinessView", "register_business_routes"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class BusinessView(_Out):
    """What the owner sees for a business; ``text`` is the one-line label."""

    peer_id: str
    name: str
    text: str
    petname: str | None
    display_name: str | None
    legal_name: str | None
    website: str | None
    privacy_policy_url: str | None
    contact_email: str | None
    jurisdiction: str | None
    domain: str | None
    verification: str  # verified | unverified | checking
    verification_reason: str
    changed: bool
    flags: list[str]
    warnings: list[str]
    previous: dict[str, Any] | None = None

    @classmethod
    def of(cls, label: BusinessLabel, previous: Any = None) -> BusinessView:
        prev = None
        if previous is not None:
            prev = previous.model_dump(mode="json", exclude={"sig", "type"})
        return cls(**label.to_json(), previous=prev)


class BusinessList(_Out):
    businesses: list[BusinessView]


class PetnameBody(_In):
    petname: Annotated[str, Field(max_length=64)] | None = None


class EmptyBody(_In):
    pass


BUSINESS_OPERATIONS = (
    api_spec.Operation(
        "GET", "/businesses", "list_businesses", "Businesses that asked: who they are",
        "businesses", BusinessList, errors=(),
    ),
    api_spec.Operation(
        "GET", "/businesses/{id}", "get_business", "One business (and what changed)",
        "businesses", BusinessView, errors=(400, 404),
    ),
    api_spec.Operation(
        "POST", "/businesses/{id}/petname", "set_petname", "Give a business your own name",
        "businesses", BusinessView, body=PetnameBody, errors=(400, 404),
    ),
    api_spec.Operation(
        "POST", "/businesses/{id}/seen", "mark_seen", "Mark a changed profile as seen",
        "businesses", BusinessView, body=EmptyBody, errors=(400, 404),
    ),
    api_spec.Operation(
        "POST", "/businesses/{id}/verify", "verify_domain", "Check the business's domain now",
        "businesses", BusinessView, body=EmptyBody, errors=(400, 404),
    ),
)  # fmt: skip
api_spec.register(*BUSINESS_OPERATIONS)


class _BusinessRoutes:
    def __init__(self, owner: Callable[[], Any]) -> None:
        self._owner = owner

    @property
    def book(self) -> BusinessBook:
        book: BusinessBook = self._owner().businesses
        return book

    def _peer(self, request: web.Request) -> str:
        peer = request.match_info["id"]
        try:
            PublicIdentity.from_peer_id(peer)
        except SignatureError:
            raise NotFound("no business with that peer id has asked this vault") from None
        return peer

    def _view(self, peer: str) -> web.Response:
        view = BusinessView.of(self.book.label(peer), self.book.previous(peer))
        return web.json_response(view.model_dump(mode="json"))

    async def list_businesses(self, request: web.Request) -> web.Response:
        views = [BusinessView.of(lb) for lb in self.book.businesses()]
        return web.json_response(BusinessList(businesses=views).model_dump(mode="json"))

    async def get_business(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        if peer not in {b.peer_id for b in self.book.businesses()}:
            raise NotFound("no business with that peer id has asked this vault")
        return self._view(peer)

    async def set_petname(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        body = PetnameBody.model_validate(await _body(request))
        self.book.set_petname(peer, body.petname)
        return self._view(peer)

    async def mark_seen(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        EmptyBody.model_validate(await _body(request))
        self.book.mark_seen(peer)
        return self._view(peer)

    async def verify_domain(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        EmptyBody.model_validate(await _body(request))
        if peer not in {b.peer_id for b in self.book.businesses()}:
            raise NotFound("no business with that peer id has asked this vault")
        await self.book.refresh(peer)
        return self._view(peer)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(reason="the body is not valid JSON") from None


def register_business_routes(app: web.Application, prefix: str, owner: Callable[[], Any]) -> None:
    """Mount the routes under ``prefix``; ``owner()`` gives the running node when called."""
    routes = _BusinessRoutes(owner)
    for op in BUSINESS_OPERATIONS:
        app.router.add_route(op.method, prefix + op.path, getattr(routes, op.handler))
