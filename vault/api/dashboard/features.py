"""Pages of the features that live beside the access core: inbox, erasures, agents.

Each page uses its service on the running node through the typed
:class:`~vault.services.owner.Owner` protocol (``owner.inbox``, ``owner.contact``,
``owner.delivery``, ``owner.erasures``, ``owner.agents``): there is one node
build, and it has them all. Only the agents depend on how the node runs: without
the network ``owner.agents`` is ``None``, and the Agents page says so.
"""

from __future__ import annotations

from typing import Any

from protocol import ContactCategory
from vault._exceptions import CorruptRecord
from vault.api.dashboard.app import Ctx, Invalid, Owner, action, page, short_peer


def _unread(owner: Owner) -> int:
    try:
        return len(owner.inbox.messages(unread=True))
    except CorruptRecord:  # the Inbox page names it; the badge must not break every page
        return 0


@page("/inbox", "Inbox", "inbox.html", order=60, badge=_unread)
async def inbox_page(ctx: Ctx) -> dict[str, Any]:
    inbox = ctx.owner.inbox
    show_muted = ctx.request.query.get("muted") == "1"
    return {
        "messages": inbox.messages(include_muted=show_muted),
        "report": inbox.report(),
        "show_muted": show_muted,
        "prefs": ctx.owner.contact.contacts.all_prefs(),
    }


@action("/inbox/{id}/read")
async def inbox_read(ctx: Ctx) -> str:
    msg = ctx.owner.inbox.mark_read(ctx.request.match_info["id"])
    ctx.flash(f"Marked the message from {short_peer(msg.requester)} as read.")
    return "/inbox"


CATEGORIES = frozenset(c.value for c in ContactCategory)


@action("/inbox/prefs")
async def inbox_prefs(ctx: Ctx) -> str:
    peer = ctx.value("peer")
    if peer:
        what = ctx.value("set")
        flags: dict[str, Any] | None = {
            "mute": {"muted": True},
            "unmute": {"muted": False},
            "block": {"blocked": True},
            "unblock": {"blocked": False},
            "share-reads": {"share_reads": True},
            "no-share-reads": {"share_reads": False},
            "share-mutes": {"share_mutes": True},
            "no-share-mutes": {"share_mutes": False},
        }.get(what)
        verb, _, cat = what.partition(":")
        if flags is None and verb in ("mute", "unmute") and cat in CATEGORIES:
            cats = set(ctx.owner.contact.contacts.prefs(peer)["muted_categories"])
            cats = cats | {cat} if verb == "mute" else cats - {cat}
            ctx.owner.contact.contacts.set_pref(peer, muted_categories=sorted(cats))
            ctx.flash(f"{verb.capitalize()}d {cat} messages from {short_peer(peer)}.")
            return "/inbox"
        if flags is None:
            raise Invalid("/inbox", {"prefs": "Choose mute, unmute, block or unblock."})
        ctx.owner.contact.contacts.set_pref(peer, **flags)
        done = {
            "mute": "Muted", "unmute": "Unmuted", "block": "Blocked", "unblock": "Unblocked",
            "share-reads": "Sharing reads with", "no-share-reads": "Not sharing reads with",
            "share-mutes": "Telling mutes to", "no-share-mutes": "Not telling mutes to",
        }  # fmt: skip
        ctx.flash(f"{done[what]} {short_peer(peer)}.")
    return "/inbox"


@page("/erasures", "Erasures", "erasures.html", order=70)
async def erasures_page(ctx: Ctx) -> dict[str, Any]:
    book = ctx.owner.erasures
    return {
        "records": list(reversed(book.records())),
        "now": book.now(),
        "businesses": ctx.owner.delivery.businesses(),
    }


@action("/erasures/request")
async def erasure_request(ctx: Ctx) -> str:
    delivery = ctx.owner.delivery
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
    agents = ctx.owner.agents
    if agents is None:
        return {"enabled": False, "deals": [], "agreements": []}
    return {
        "enabled": True,
        "deals": agents.deals(None),
        "agreements": list(reversed(agents.agreements())),
    }


@action("/agents/deals/{id}/confirm")
async def deal_confirm(ctx: Ctx) -> str:
    agents = ctx.owner.agents
    if agents is not None:
        deal = agents.confirm(ctx.request.match_info["id"])
        ctx.flash(f"Confirmed the deal with {short_peer(deal.business)}.")
    return "/agents"


@action("/agents/deals/{id}/reject")
async def deal_reject(ctx: Ctx) -> str:
    agents = ctx.owner.agents
    if agents is not None:
        deal = agents.reject(ctx.request.match_info["id"])
        ctx.flash(f"Rejected the deal with {short_peer(deal.business)}.")
    return "/agents"
