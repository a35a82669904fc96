"""Control-API routes for the inbox, the contact report, mute/block and erasures.

The routes, their bodies and answers are declared in :data:`vault.api.spec.OPERATIONS`
(tags ``contact`` and ``erasure``); this module holds their handlers, on the running
:class:`~vault.node.boss.VaultNode`'s services (``owner.inbox``,
``owner.contact``, ``owner.delivery``, ``owner.erasures``).

The operations themselves are plain functions over those services, so the CLI
runs the very same code against an unlocked vault when no node runs
(:mod:`vault.cli.contact`).
"""

from __future__ import annotations

from aiohttp import web

from protocol import ErrorCode, KluisError, PublicIdentity
from vault.api.answers import BadRequest, ok
from vault.api.inputs import flag, read_model
from vault.api.models import (
    BusinessContact,
    ContactReport,
    EraseBody,
    ErasureList,
    ErasureView,
    InboxItem,
    InboxList,
    PrefsBody,
    PrefsView,
)
from vault.services.contact import ContactBook
from vault.services.delivery import DeliveryService
from vault.services.erasure import ErasureBook
from vault.services.inbox import Inbox
from vault.services.owner import Owner

__all__ = [
    "ContactRoutes",
    "contact_report",
    "list_erasures",
    "list_inbox",
    "read_message",
    "request_erasure",
    "set_prefs",
]


# -- the operations, as plain functions (the CLI uses them directly without a node) --------


def list_inbox(inbox: Inbox, *, every: bool = False, unread: bool = False) -> InboxList:
    msgs = inbox.messages(unread=unread, include_muted=every)
    return InboxList(messages=[InboxItem.of(m) for m in msgs])


def read_message(inbox: Inbox, message_id: str) -> InboxItem:
    return InboxItem.of(inbox.mark_read(message_id))  # NotFound → 404


def contact_report(inbox: Inbox) -> ContactReport:
    return ContactReport(businesses=[BusinessContact(**row) for row in inbox.report()])


def set_prefs(contacts: ContactBook, peer: str, body: PrefsBody) -> PrefsView:
    if not _peer_ok(peer):
        raise BadRequest("not a peer id", code=ErrorCode.INVALID_BODY)
    cats = None if body.muted_categories is None else [c.value for c in body.muted_categories]
    now = contacts.set_pref(
        peer,
        muted=body.muted,
        blocked=body.blocked,
        muted_categories=cats,
        share_reads=body.share_reads,
        share_mutes=body.share_mutes,
    )
    return PrefsView(requester=peer, **now)


def list_erasures(erasures: ErasureBook) -> ErasureList:
    return ErasureList(
        erasures=[
            ErasureView(**{k: v for k, v in e.items() if k != "kind"}) for e in erasures.export()
        ]
    )


def request_erasure(
    delivery: DeliveryService, erasures: ErasureBook, body: EraseBody
) -> ErasureList:
    if body.all and body.business is None:
        done = delivery.erase_all(body.reason)
    elif body.business is not None and not body.all:
        done = [delivery.erase(body.business, body.reason)]  # NotFound → 404
    else:
        raise BadRequest("give either business or all", code=ErrorCode.INVALID_BODY)
    ids = {r.erasure_id for r in done}
    every = list_erasures(erasures).erasures
    return ErasureList(erasures=[e for e in every if e.erasure_id in ids])


def _peer_ok(peer: str) -> bool:
    try:
        PublicIdentity.from_peer_id(peer)
    except (KluisError, ValueError):
        return False
    return True


# -- the handlers ----------------------------------------------------------------------------


class ContactRoutes:
    """The handlers of the ``contact`` and ``erasure`` operations, for one running node."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    async def list_inbox(self, request: web.Request) -> web.Response:
        every, unread = flag(request, "all"), flag(request, "unread")
        return ok(list_inbox(self.owner.inbox, every=every, unread=unread))

    async def read_message(self, request: web.Request) -> web.Response:
        return ok(read_message(self.owner.inbox, request.match_info["id"]))

    async def contact_report(self, request: web.Request) -> web.Response:
        return ok(contact_report(self.owner.inbox))

    async def set_prefs(self, request: web.Request) -> web.Response:
        body = await read_model(request, PrefsBody)
        contacts = self.owner.contact.contacts
        return ok(set_prefs(contacts, request.match_info["id"], body))

    async def list_erasures(self, request: web.Request) -> web.Response:
        return ok(list_erasures(self.owner.erasures))

    async def request_erasure(self, request: web.Request) -> web.Response:
        body = await read_model(request, EraseBody)
        return ok(request_erasure(self.owner.delivery, self.owner.erasures, body))
