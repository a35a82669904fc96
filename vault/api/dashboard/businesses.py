"""The Businesses page: who asked, whether their domain is verified, petnames, profile changes."""

from __future__ import annotations

from typing import Any

from vault.api.dashboard.app import Ctx, Invalid, Owner, action, page
from vault.services.identity import InvalidPetname

_FIELDS = (
    ("display_name", "Name"), ("legal_name", "Legal name"), ("website", "Website"),
    ("privacy_policy_url", "Privacy policy"), ("contact_email", "E-mail"),
    ("contact_name", "Contact"), ("phone", "Phone"), ("jurisdiction", "Jurisdiction"),
    ("address", "Address"),
)  # fmt: skip


def _changed(owner: Owner) -> int:
    return sum(1 for b in owner.businesses.businesses() if b.changed)


def _diff(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """(label, before, now) for every fact that differs between two profiles."""
    out = []
    for key, label in _FIELDS:
        before, after = getattr(old, key), getattr(new, key)
        if before != after:
            if key == "address":
                before = ", ".join(v for v in before.model_dump().values() if v)
                after = ", ".join(v for v in after.model_dump().values() if v)
            out.append((label, str(before), str(after)))
    return out


@page("/businesses", "Businesses", "businesses.html", order=15, badge=_changed)
async def businesses_page(ctx: Ctx) -> dict[str, Any]:
    book = ctx.owner.businesses
    return {"businesses": book.businesses(), "previous": book.previous, "diff": _diff}


@action("/businesses/{peer}/petname")
async def set_petname(ctx: Ctx) -> str:
    peer = ctx.request.match_info["peer"]
    try:
        label = ctx.owner.businesses.set_petname(peer, ctx.value("petname"))
    except InvalidPetname as exc:
        raise Invalid("/businesses", {f"{peer}.petname": exc.message}) from None
    ctx.flash(f"Saved: {label.text}" if label.petname else f"Petname removed: {label.text}")
    return "/businesses"


@action("/businesses/{peer}/seen")
async def mark_seen(ctx: Ctx) -> str:
    label = ctx.owner.businesses.mark_seen(ctx.request.match_info["peer"])
    ctx.flash(f"Marked as seen: {label.text}")
    return "/businesses"


@action("/businesses/{peer}/verify")
async def verify(ctx: Ctx) -> str:
    label = await ctx.owner.businesses.refresh(ctx.request.match_info["peer"])
    ctx.flash(f"Checked: {label.text}" + (f" ({label.reason})" if label.reason else ""))
    return "/businesses"
