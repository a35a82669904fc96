"""Pages of the features that live beside the access core: inbox, erasures, agents.

Each page finds its service on the running node by attribute (``owner.inbox``,
``owner.erasures``, ``owner.agents``) and says so plainly when the node has no
such service, so the dashboard works on every node build.
"""

from __future__ import annotations

from typing import Any

from vault.api.dashboard.app import Ctx, Invalid, Owner, action, page, short_peer


def _inbox(owner: Owner) -> Any:
    return getattr(owner, "inbox", None)


def _unread(owner: Owner) -> int:
    inbox = _inbox(owner)
    if inbox is None:
        return 0
    try:
        return len(inbox.messages(unread=True))
    except Exception:
        return 0


@page("/inbox", "Inbox", "inbox.html", order=60, badge=_unread)
async def inbox_page(ctx: Ctx) -> dict[str, Any]:
    inbox = _inbox(ctx.owner)
    if inbox is None:
        return {"enabled": False, "messages": [], "report": [], "prefs": {}}
    show_muted = ctx.request.query.get("muted") == "1"
    contact = getattr(ctx.owner, "contact", None)
    prefs = contact.contacts.all_prefs() if contact is not None else {}
    return {
        "enabled": True,
        "messages": inbox.messages(include_muted=show_muted),
        "report": inbox.report(),
        "show_muted": show_muted,
        "prefs": prefs,
        "can_set_prefs": contact is not None,
    }


@action("/inbox/{id}/read")
async def inbox_read(ctx: Ctx) -> str:
    inbox = _inbox(ctx.owner)
    if inbox is not None:
        msg = inbox.mark_read(ctx.request.match_info["id"])
        ctx.flash(f"Marked the message from {short_peer(msg.requester)} as read.")
    return "/inbox"


@action("/inbox/prefs")
async def inbox_prefs(ctx: Ctx) -> str:
    contact = getattr(ctx.owner, "contact", None)
    peer = ctx.value("peer")
    if contact is not None and peer:
        what = ctx.value("set")
        flags = {
            "mute": {"muted": True},
            "unmute": {"muted": False},
            "block": {"blocked": True},
            "unblock": {"blocked": False},
        }.get(what)
        if flags is None:
            raise Invalid("/inbox", {"prefs": "Choose mute, unmute, block or unblock."})
        contact.contacts.set_pref(peer, **flags)
        done = {"mute": "Muted", "unmute": "Unmuted", "block": "Blocked", "unblock": "Unblocked"}
        ctx.flash(f"{done[what]} {short_peer(peer)}.")
    return "/inbox"


@page("/erasures", "Erasures", "erasures.html", order=70)
async def erasures_page(ctx: Ctx) -> dict[str, Any]:
    book = getattr(ctx.owner, "erasures", None)
    delivery = getattr(ctx.owner, "delivery", None)
    if book is None:
        return {"enabled": False, "records": [], "now": 0, "businesses": []}
    return {
        "enabled": True,
        "records": list(reversed(book.records())),
        "now": book.now(),
        "businesses": delivery.businesses() if delivery is not None else [],
    }


@action("/erasures/request")
async def erasure_request(ctx: Ctx) -> str:
    delivery = getattr(ctx.owner, "delivery", None)
    if delivery is None:
        return "/erasures"
    peer = ctx.value("business")
    reason = ctx.value("reason").strip()[:280]
    if peer not in delivery.businesses():
        raise Invalid("/erasures", {"business": "Choose a business that holds your data."})
    delivery.erase(peer, reason)
    ctx.flash(
        f"Asked {short_peer(peer)} to erase every trace of you. Its grants are revoked now; "
        "the request is delivered when it is reachable."
    )
    return "/erasures"


@page("/agents", "Agents", "agents.html", order=80)
async def agents_page(ctx: Ctx) -> dict[str, Any]:
    agents = getattr(ctx.owner, "agents", None)
    if agents is None:
        return {"enabled": False, "deals": [], "agreements": []}
    return {
        "enabled": True,
        "deals": agents.deals(None),
        "agreements": list(reversed(agents.agreements())),
    }


@action("/agents/deals/{id}/confirm")
async def deal_confirm(ctx: Ctx) -> str:
    agents = getattr(ctx.owner, "agents", None)
    if agents is not None:
        deal = agents.confirm(ctx.request.match_info["id"])
        ctx.flash(f"Confirmed the deal with {short_peer(deal.business)}.")
    return "/agents"


@action("/agents/deals/{id}/reject")
async def deal_reject(ctx: Ctx) -> str:
    agents = getattr(ctx.owner, "agents", None)
    if agents is not None:
        deal = agents.reject(ctx.request.match_info["id"])
        ctx.flash(f"Rejected the deal with {short_peer(deal.business)}.")
    return "/agents"
