"""Control-API routes for the inbox, the contact report, mute/block and erasures.

=======  ==============================  =============================================
GET      /inbox[?all=1][&unread=1]       messages, newest first (muted hidden unless all)
POST     /inbox/{id}/read                mark one read (the owner engaged)
GET      /contacts                       per business: sent, refused, read, mailings' yield
POST     /contacts/{peer}/prefs          ``{"muted": bool?, "blocked": bool?}``
GET      /erasures                       erasure requests: pending / confirmed / overdue
POST     /erasures                       ``{"business": peer}`` or ``{"all": true}``
=======  ==============================  =============================================

Routes use the running :class:`~vault.node.boss.VaultNode` (``owner.inbox``,
``owner.contact``, ``owner.delivery``). :func:`register_contact_routes`
mounts them; importing this module adds them to the OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol import KluisError
from vault.api import spec as api_spec
from vault.services.grantbook import NotFound
from vault.services.inbox import InboxMessage

__all__ = ["CONTACT_OPERATIONS", "register_contact_routes"]

_PEER = r"^[1-9A-HJ-NP-Za-km-z]{40,64}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class InboxItem(_Out):
    message_id: str
    requester: str
    grant_id: str
    category: str
    mailing_id: str | None
    subject: str
    body: str
    received_at: int
    channels: list[str]
    muted: bool
    read_at: int | None

    @classmethod
    def of(cls, m: InboxMessage) -> InboxItem:
        return cls(**m.to_json())


class InboxList(_Out):
    messages: list[InboxItem]


class MailingView(_Out):
    mailing_id: str
    delivered: int
    read: int
    yield_pct: int


class BusinessContact(_Out):
    requester: str
    sent: dict[str, int]
    read: int
    refused: dict[str, int]
    muted: bool
    blocked: bool
    mailings: list[MailingView]


class ContactReport(_Out):
    businesses: list[BusinessContact]


class PrefsBody(_In):
    muted: bool | None = None
    blocked: bool | None = None


class PrefsView(_Out):
    requester: str
    muted: bool
    blocked: bool


class EraseBody(_In):
    business: str | None = Field(default=None, pattern=_PEER)
    all: bool = False
    reason: str = Field(default="", max_length=280)


class ErasureView(_Out):
    erasure_id: str
    requester: str
    status: str
    deadline: int
    request: dict[str, Any]
    receipt: dict[str, Any] | None


class ErasureList(_Out):
    erasures: list[ErasureView]


_BOOL = {"type": "string", "enum": ["0", "1"]}
CONTACT_OPERATIONS = (
    api_spec.Operation(
        "GET",
        "/inbox",
        "list_inbox",
        "Messages from businesses",
        "contact",
        InboxList,
        query=(
            api_spec.Query("all", dict(_BOOL), "include muted businesses"),
            api_spec.Query("unread", dict(_BOOL), "only unread messages"),
        ),
    ),
    api_spec.Operation(
        "POST", "/inbox/{id}/read", "read_message", "Mark a message read", "contact",
        InboxItem, errors=(400, 404),
    ),
    api_spec.Operation(
        "GET", "/contacts", "contact_report", "Per business: sent, refused, yield", "contact",
        ContactReport, errors=(),
    ),
    api_spec.Operation(
        "POST", "/contacts/{id}/prefs", "set_prefs", "Mute or block a business", "contact",
        PrefsView, body=PrefsBody,
    ),
    api_spec.Operation(
        "GET", "/erasures", "list_erasures", "Erasure requests and receipts", "erasure",
        ErasureList, errors=(),
    ),
    api_spec.Operation(
        "POST", "/erasures", "request_erasure", "Ask a business (or all) to erase everything",
        "erasure", ErasureList, body=EraseBody, errors=(400, 404),
    ),
)  # fmt: skip
api_spec.register(*CONTACT_OPERATIONS)


def _err(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _flag(request: web.Request, name: str) -> bool:
    values = request.query.getall(name, [])
    if len(values) > 1 or (values and values[0] not in ("0", "1")):
        raise ValueError(name)
    return bool(values) and values[0] == "1"


async def _body(request: web.Request, model: type[_In]) -> Any:
    raw = await request.read()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None
    return model.model_validate(data)


# -- the operations, as plain functions (the CLI uses them directly without a node) --------


def list_inbox(owner: Any, *, every: bool = False, unread: bool = False) -> InboxList:
    msgs = owner.inbox.messages(unread=unread, include_muted=every)
    return InboxList(messages=[InboxItem.of(m) for m in msgs])


def read_message(owner: Any, message_id: str) -> InboxItem:
    return InboxItem.of(owner.inbox.mark_read(message_id))


def contact_report(owner: Any) -> ContactReport:
    return ContactReport(businesses=[BusinessContact(**row) for row in owner.inbox.report()])


def set_prefs(owner: Any, peer: str, body: PrefsBody) -> PrefsView:
    if not _peer_ok(peer):
        raise ValueError("not a peer id")
    book = owner.contact.contacts
    book.set_pref(peer, muted=body.muted, blocked=body.blocked)
    return PrefsView(requester=peer, **book.prefs(peer))


def list_erasures(owner: Any) -> ErasureList:
    return _erasures(owner)


def request_erasure(owner: Any, body: EraseBody) -> ErasureList:
    if (body.business is None) == (not body.all):
        raise ValueError("give either business or all")
    if body.all:
        done = owner.delivery.erase_all(body.reason)
    else:
        done = [owner.delivery.erase(body.business, body.reason)]
    ids = {r.erasure_id for r in done}
    return ErasureList(erasures=[e for e in _erasures(owner).erasures if e.erasure_id in ids])


class _ContactRoutes:
    def __init__(self, owner: Callable[[], Any]) -> None:
        self._owner = owner

    @property
    def owner(self) -> Any:
        owner = self._owner()
        if getattr(owner, "inbox", None) is None:
            raise web.HTTPNotFound(reason="contact and erasure are not running on this node")
        return owner

    async def list_inbox(self, request: web.Request) -> web.Response:
        try:
            every, unread = _flag(request, "all"), _flag(request, "unread")
        except ValueError:
            return _err(400, "bad_query", "all and unread are 0 or 1")
        return _json(list_inbox(self.owner, every=every, unread=unread))

    async def read_message(self, request: web.Request) -> web.Response:
        try:
            return _json(read_message(self.owner, request.match_info["id"]))
        except (NotFound, ValueError):
            return _err(404, "not_found", "no such message")

    async def contact_report(self, request: web.Request) -> web.Response:
        return _json(contact_report(self.owner))

    async def set_prefs(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request, PrefsBody)
            return _json(set_prefs(self.owner, request.match_info["id"], body))
        except (ValueError, ValidationError) as exc:
            return _err(400, "invalid_body", str(exc)[:200])

    async def list_erasures(self, request: web.Request) -> web.Response:
        return _json(list_erasures(self.owner))

    async def request_erasure(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request, EraseBody)
            return _json(request_erasure(self.owner, body))
        except NotFound as exc:
            return _err(404, "not_found", exc.message)
        except (ValueError, ValidationError) as exc:
            return _err(400, "invalid_body", str(exc)[:200])
        except KluisError as exc:
            return _err(400, exc.code.value, exc.message)


def _peer_ok(peer: str) -> bool:
    from protocol import PublicIdentity

    try:
        PublicIdentity.from_peer_id(peer)
    except (KluisError, ValueError):
        return False
    return True


def _erasures(owner: Any) -> ErasureList:
    return ErasureList(
        erasures=[
            ErasureView(**{k: v for k, v in e.items() if k != "kind"})
            for e in owner.erasures.export()
        ]
    )


def _json(model: BaseModel) -> web.Response:
    return web.json_response(model.model_dump(mode="json"))


def register_contact_routes(app: web.Application, prefix: str, owner: Callable[[], Any]) -> None:
    """Mount the routes under ``prefix``; ``owner()`` gives the running node when called."""
    routes = _ContactRoutes(owner)
    for op in CONTACT_OPERATIONS:
        app.router.add_route(op.method, prefix + op.path, getattr(routes, op.handler))
