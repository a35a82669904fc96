"""The core pages: requests, grants, profile, audit, receipts (one handler + one template each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from protocol import Action, DecisionStatus, KluisError
from protocol.clock import DAY_MS
from protocol.consent_export import to_iso27560, to_kantara
from protocol.purposes import PurposeCode
from vault.api.dashboard.app import (
    SECURITY_HEADERS,
    Ctx,
    Invalid,
    Owner,
    action,
    endpoint,
    page,
    short_peer,
    when,
)
from vault.api.dashboard.charts import Bar, expiry_chart, reads_chart
from vault.api.dashboard.stats import GrantUse
from vault.services.consent import receipt_for, receipts
from vault.services.grantbook import GrantState
from vault.services.rules import RequesterCondition, Rule, RuleAction
from vault.store.schema import field_label, format_value, schema_paths

ACTION_HELP = {
    "read": "read the current values",
    "subscribe": "receive changes as you make them",
    "contact": "contact you within your rules",
}


def _purpose_label(code: str) -> str:
    try:
        return PurposeCode(code).label
    except ValueError:
        return code


def _pending(owner: Owner) -> int:
    return len(owner.grants.requests(DecisionStatus.PENDING))


# -- requests --------------------------------------------------------------------------------------


@page("/requests", "Requests", "requests.html", order=10, badge=_pending)
async def requests_page(ctx: Ctx) -> dict[str, Any]:
    book = ctx.owner.grants
    book.expire_pending()  # the owner never sees an expired request as waiting
    pending = book.requests(DecisionStatus.PENDING)
    decided = [r for r in book.requests() if r.status is not DecisionStatus.PENDING]
    return {
        "pending": pending,
        "unknown": sum(1 for r in pending if not book.has_granted(r.request.requester)),
        "decided": list(reversed(decided))[:20],
        "purpose_label": _purpose_label,
        "action_help": ACTION_HELP,
    }


@action("/requests/{id}/approve")
async def approve(ctx: Ctx) -> str:
    rid = ctx.request.match_info["id"]
    state = ctx.owner.grants.request(rid)
    req = state.request
    asked_fields = list(req.scope.fields)
    asked_actions = [a.value for a in req.scope.actions]
    fields = [f for f in ctx.values("field") if f in asked_fields]
    actions = [a for a in ctx.values("action") if a in asked_actions]
    errors: dict[str, str] = {}
    if not fields:
        errors[f"{rid}.fields"] = "Choose at least one field to share, or deny the request."
    if not actions:
        errors[f"{rid}.actions"] = "Choose at least one thing the business may do."
    days_text = ctx.value("days", str(req.duration_days)).strip()
    try:
        days = int(days_text)
        if not 1 <= days <= req.duration_days:
            raise ValueError
    except ValueError:
        errors[f"{rid}.days"] = f"Enter a whole number of days from 1 to {req.duration_days}."
        days = req.duration_days
    if errors:
        raise Invalid("/requests", errors)
    grant = ctx.owner.approve(
        rid,
        None if fields == asked_fields else fields,
        None if days == req.duration_days else days,
        actions=None if actions == asked_actions else actions,
    )
    message = (
        f"Approved: {ctx.owner.businesses.label(req.requester).name} may {', '.join(actions)} "
        f"{', '.join(fields)} until {when(grant.expires_at)}."
    )
    if ctx.value("always") == "1":
        rule = ctx.owner.rules.add(
            Rule(
                action=RuleAction.APPROVE,
                fields=tuple(fields),
                purposes=(req.purpose.code,),
                requester=RequesterCondition.PEERS,
                peers=(req.requester,),
                actions=tuple(Action(a) for a in actions),
                max_days=days,
                note="always allow (from the dashboard)",
            )
        )
        message += f" Future requests like this one are approved by rule {rule.rule_id[:8]}."
    ctx.flash(message)
    return "/requests"


@action("/requests/{id}/deny")
async def deny(ctx: Ctx) -> str:
    rid = ctx.request.match_info["id"]
    reason = ctx.value("reason").strip()
    if len(reason) > 280:
        raise Invalid("/requests", {f"{rid}.reason": "Keep the reason under 280 characters."})
    state = ctx.owner.deny(rid, reason)
    ctx.flash(
        f"Denied the request from {ctx.owner.businesses.label(state.request.requester).name}."
    )
    return "/requests"


@action("/requests/deny-unknown")
async def deny_unknown(ctx: Ctx) -> str:
    denied = ctx.owner.grants.deny_unknown()
    count = len(denied)
    ctx.flash(f"Denied {count} request{'s' if count != 1 else ''} from unknown businesses.")
    return "/requests"


# -- grants ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrantRow:
    state: GrantState
    status: str
    use: GrantUse


@page("/grants", "Grants", "grants.html", order=20)
async def grants_page(ctx: Ctx) -> dict[str, Any]:
    book = ctx.owner.grants
    now = book.now()
    stats = ctx.dash.stats
    rows = [GrantRow(g, g.status(now), stats.use(g.grant_id)) for g in book.grants()]
    active = [r for r in rows if r.status == "active"]
    ended = [r for r in reversed(rows) if r.status != "active"]
    name = ctx.owner.businesses.label
    labels = {g.grant.requester: name(g.grant.requester).name for g in book.grants()}
    bars = [
        Bar(
            f"{labels[r.state.grant.requester]} · {r.state.grant_id[:6]}",
            r.state.grant.expires_at,
        )
        for r in active
    ]
    return {
        "active": active,
        "ended": ended,
        "purpose_label": _purpose_label,
        "expiry_svg": expiry_chart(bars, now),
        "reads_svg": reads_chart(stats.reads_by_day, now // DAY_MS, label=labels),
        "soon": [r for r in active if r.state.grant.expires_at - now < 7 * DAY_MS],
    }


@action("/grants/{id}/revoke")
async def revoke(ctx: Ctx) -> str:
    gid = ctx.request.match_info["id"]
    reason = ctx.value("reason").strip()[:280]
    erase = ctx.value("erase") == "1"
    state = ctx.owner.grants.grant(gid)
    await ctx.owner.revoke(gid, reason=reason, erase=erase)
    ctx.flash(
        f"Revoked grant {gid[:8]} of {ctx.owner.businesses.label(state.grant.requester).name}: "
        "it is refused from now on"
        + (", and the business was asked to erase your data." if erase else ".")
    )
    return "/grants"


# -- profile ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileRow:
    """One stored field as the profile page shows it: a person's label, the path for
    the curious, and a checkbox rather than a text box for a true/false value."""

    field: Any
    label: str
    text: str
    is_bool: bool


def _label(path: str) -> str:
    try:
        return field_label(path)
    except KluisError:  # a field stored under an older schema: its path is all we have
        return path


@page("/profile", "Profile", "profile.html", order=30)
async def profile_page(ctx: Ctx) -> dict[str, Any]:
    errors: list[Any] = []
    fields = ctx.owner.vault.profile.fields(errors=errors)
    return {
        "fields": [
            ProfileRow(
                f,
                _label(f.path),
                format_value(f.value) if f.value is not None else "",
                isinstance(f.value, bool),
            )
            for f in fields
        ],
        "corrupt": [e.name for e in errors],
        "schema_paths": schema_paths(),
        "typed": {},
    }


@action("/profile/set")
async def profile_set(ctx: Ctx) -> str:
    path = ctx.value("path").strip()
    text = ctx.value("value")
    if ctx.value("kind") == "bool":  # a checkbox: unticked sends nothing, which means false
        text = "true" if text == "true" else "false"
    key = ctx.value("form") or path
    if not path:
        raise Invalid(
            "/profile", {"_new": "Enter a field path, e.g. contact.email."}, typed={"_new": text}
        )
    try:
        rec = ctx.owner.vault.profile.set_text(path, text)
    except KluisError as exc:
        raise Invalid("/profile", {key: exc.message}, typed={key: text, "_path": path}) from exc
    ctx.flash(f"Saved {_label(path)}, version {rec.version}.")
    return "/profile"


@action("/profile/unset")
async def profile_unset(ctx: Ctx) -> str:
    path = ctx.value("path").strip()
    ctx.owner.vault.profile.unset(path)
    ctx.flash(f"Removed {_label(path)}.")
    return "/profile"


# -- audit -----------------------------------------------------------------------------------------

KIND_LABELS = {
    "access.request": "Access requested",
    "access.approve": "Request approved",
    "access.deny": "Request denied",
    "access.read": "Data read",
    "access.subscribe": "Subscribed to changes",
    "access.push": "Change pushed",
    "access.refused": "Access refused",
    "access.rate_limited": "Rate limited",
    "grant.revoke": "Grant revoked",
    "grant.notice": "Revocation delivered",
    "grant.deletion": "Deletion confirmed",
    "profile.set": "Profile changed",
    "profile.unset": "Profile field removed",
    "rule.add": "Rule added",
    "rule.remove": "Rule removed",
    "vault.create": "Vault created",
    "vault.unlock": "Vault unlocked",
    "node.start": "Node started",
    "node.stop": "Node stopped",
}
PAGE_SIZE = 100


def _detail_text(details: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, value in sorted(details.items()):
        if key.endswith("_at") and isinstance(value, int) and value > 10**11:
            text = when(value)
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        elif isinstance(value, str) and len(value) > 40 and key in ("requester", "peer"):
            text = short_peer(value)
        else:
            text = json.dumps(value) if not isinstance(value, str) else value
        out.append((key, text))
    return out


#: Entries decrypted at most per render while filtering: a page costs the same
#: however long the log is; past it the page links on from where the scan stopped.
SCAN_BUDGET = 2000
#: Kind families the page filters by (the part before the first dot).
KIND_FAMILIES = ("access", "grant", "profile", "rule", "contact", "agent", "vault", "node")


@page("/audit", "Audit log", "audit.html", order=40)
async def audit_page(ctx: Ctx) -> dict[str, Any]:
    """One page of the log, newest first, filtered by kind family and peer.

    It never walks the chain: it shows the sealed checkpoint of the last
    verification, and "Verify now" (a POST) checks what came after it, in a
    worker thread. The page re-renders on every change, so its cost is bounded:
    at most :data:`SCAN_BUDGET` entries decrypted, whatever the log's length.
    """
    log = ctx.owner.vault.audit
    head, _ = log.head()
    query = ctx.request.query
    try:
        before = int(query.get("before", head + 1))
    except ValueError:
        before = head + 1
    before = max(1, min(before, head + 1))
    family = query.get("kind", "")
    family = family if family in KIND_FAMILIES else ""
    peer = query.get("peer", "").strip()[:128]
    entries: list[Any] = []
    error = ""
    stop = before
    try:
        while stop > 1 and len(entries) < PAGE_SIZE and before - stop < SCAN_BUDGET:
            start = max(1, stop - PAGE_SIZE)
            for e in reversed(list(log.entries(start, stop))):
                if len(entries) < PAGE_SIZE and _matches(e.kind, e.details, family, peer):
                    entries.append(e)
                if len(entries) == PAGE_SIZE:
                    start = e.seq
                    break
            stop = start
    except KluisError as exc:
        error = exc.message
    mark = log.checkpoint()
    return {
        "checkpoint": None if mark is None else {"seq": mark[0], "at": mark[2]},
        "head": head,
        "entries": entries,
        "error": error,
        "labels": KIND_LABELS,
        "details": _detail_text,
        "families": KIND_FAMILIES,
        "family": family,
        "peer": peer,
        "older": stop if stop > 1 else None,
    }


def _matches(kind: str, details: dict[str, Any], family: str, peer: str) -> bool:
    if family and kind.split(".", 1)[0] != family:
        return False
    if peer:
        who = (details.get("peer"), details.get("requester"))
        return any(isinstance(w, str) and w.startswith(peer) for w in who)
    return True


@action("/audit/verify")
async def audit_verify(ctx: Ctx) -> str:
    """Verify what came after the last checkpoint, off the event loop."""
    full = ctx.value("full") == "1"
    report = await ctx.owner.vault.audit.verify_off_loop(full=full)
    if report.ok:
        walked = report.checked - report.skipped
        ctx.flash(
            f"Chain intact: {report.checked} entries verified "
            f"({walked} checked now, the rest by the last verification)."
        )
    else:
        ctx.flash(f"Chain broken at entry {report.first_bad}: {report.reason}", "error")
    return "/audit"


# -- receipts --------------------------------------------------------------------------------------


@page("/receipts", "Receipts", "receipts.html", order=50)
async def receipts_page(ctx: Ctx) -> dict[str, Any]:
    refs = receipts(ctx.owner.grants, ctx.owner.vault.identity)
    return {"receipts": list(reversed(refs)), "purpose_label": _purpose_label}


@endpoint("/receipts/{id}.json")
async def receipt_download(ctx: Ctx) -> web.StreamResponse:
    rid = ctx.request.match_info["id"]
    ref = receipt_for(ctx.owner.grants, ctx.owner.vault.identity, rid)
    fmt = ctx.request.query.get("format", "")
    identity = ctx.owner.vault.identity
    data = (
        to_kantara(ref.receipt, identity)
        if fmt == "kantara"
        else to_iso27560(ref.receipt, identity)
        if fmt == "iso27560"
        else ref.receipt.model_dump(mode="json")
    )
    suffix = f"-{fmt}" if fmt in ("kantara", "iso27560") else ""
    name = f"kluis-receipt-{ref.receipt.kind.value}-{rid[:12]}{suffix}.json"
    return web.Response(
        text=json.dumps(data, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- rules -----------------------------------------------------------------------------------------


@page("/rules", "Rules", "rules.html", order=25)
async def rules_page(ctx: Ctx) -> dict[str, Any]:
    return {"rules": ctx.owner.rules.rules(), "purpose_label": _purpose_label}


@action("/rules/{id}/remove")
async def rule_remove(ctx: Ctx) -> str:
    rule = ctx.owner.rules.remove(ctx.request.match_info["id"])
    ctx.flash(f"Removed the rule {rule.rule_id[:8]}: requests it decided now wait for you.")
    return "/rules"
