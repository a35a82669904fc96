"""Control-API handlers for the businesses that asked this vault: who they are, petnames, changes.

The operations (``/businesses``, ``/businesses/{id}``, ``.../petname``,
``.../seen``, ``.../verify``) are lines of :data:`vault.api.spec.OPERATIONS`
like every other route; :class:`BusinessRoutes` holds their handlers. They use
the running node's :class:`~vault.services.identity.BusinessBook`
(``owner.businesses``). An unknown business is 404 ``not_found``; a bad petname 400.
"""

from __future__ import annotations

from aiohttp import web

from protocol import PublicIdentity, SignatureError
from vault.api import models as m
from vault.api.answers import ok
from vault.api.inputs import read_model
from vault.services.grantbook import NotFound
from vault.services.identity import BusinessBook
from vault.services.owner import Owner

__all__ = ["BusinessRoutes"]


class BusinessRoutes:
    """The handlers of the ``businesses`` operations, for one running node."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    @property
    def book(self) -> BusinessBook:
        return self.owner.businesses

    def _peer(self, request: web.Request, *, known: bool = False) -> str:
        peer = request.match_info["id"]
        try:
            PublicIdentity.from_peer_id(peer)
        except SignatureError:
            raise NotFound("no business with that peer id has asked this vault") from None
        if known and peer not in {b.peer_id for b in self.book.businesses()}:
            raise NotFound("no business with that peer id has asked this vault")
        return peer

    def _view(self, peer: str) -> web.Response:
        return ok(m.BusinessView.of(self.book.label(peer), self.book.previous(peer)))

    async def list_businesses(self, request: web.Request) -> web.Response:
        views = [m.BusinessView.of(lb) for lb in self.book.businesses()]
        return ok(m.BusinessList(businesses=views))

    async def get_business(self, request: web.Request) -> web.Response:
        return self._view(self._peer(request, known=True))

    async def set_petname(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        body = await read_model(request, m.PetnameBody)
        self.book.set_petname(peer, body.petname)
        return self._view(peer)

    async def mark_seen(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        await read_model(request, m.EmptyBody)
        self.book.mark_seen(peer)
        return self._view(peer)

    async def verify_domain(self, request: web.Request) -> web.Response:
        peer = self._peer(request, known=True)
        await read_model(request, m.EmptyBody)
        await self.book.refresh(peer)
        return self._view(peer)
