"""Grants: making them from approved requests, verifying them, checking every access.

A grant is a capability bound to one requester's peer id. The vault checks it
on *every* access with :func:`check_access`; the order of the checks is part of
the security design:

1. ``wrong_peer`` — the caller is not the grant's requester. Checked first, so a
   peer presenting someone else's grant id learns nothing else about it.
2. ``revoked`` — the owner took it back (revocation state is the vault's to
   keep and is passed in; this module stores nothing).
3. ``expired`` — ``now >= expires_at``.
4. ``purpose_mismatch`` — the access is for another purpose than granted.
5. ``out_of_scope`` — an action or a field the grant does not cover.

Each refusal is an :class:`~protocol.AccessDenied` whose ``code`` names the rule,
so the vault can audit it and answer with a typed error.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import limits
from ._exceptions import AccessDenied, ErrorCode, LocalProtocolError
from .clock import DAY_MS
from .contact_terms import ContactPolicy, policy_within
from .messages import AccessRequest, Grant, sign, verify
from .purposes import PurposeCode
from .scopes import Action, Scope, ScopeError, is_subset, narrow, path_in_scope
from .signing import Identity
from .wire import new_id

__all__ = [
    "check_access",
    "grant_fits_request",
    "make_grant",
    "verify_grant",
]


def make_grant(
    request: AccessRequest,
    vault: Identity,
    *,
    now_ms: int,
    grant_id: str | None = None,
    fields: Iterable[str] | None = None,
    actions: Iterable[str | Action] | None = None,
    duration_days: int | None = None,
    retention_days: int | None = None,
    contact: ContactPolicy | None = None,
) -> Grant:
    """The vault's signed grant for an approved ``request``.

    The owner may narrow it: fewer ``fields`` or ``actions``, a shorter
    ``duration_days``, a shorter ``retention_days``, tighter ``contact`` terms.
    A grant never exceeds its request; trying to widen raises
    :class:`~protocol.scopes.ScopeError`. With the ``contact`` action the grant
    carries the owner's terms, by default the terms the request asked for.
    """
    if request.vault != vault.peer_id:
        raise LocalProtocolError("this request is addressed to another vault")
    scope = request.scope
    if fields is not None or actions is not None:
        scope = narrow(scope, scope.fields if fields is None else fields, actions)
    days = request.duration_days if duration_days is None else duration_days
    if not 1 <= days <= request.duration_days:
        raise ScopeError("a grant may shorten the requested duration, never extend it")
    keep = request.retention_days if retention_days is None else retention_days
    if not 0 <= keep <= request.retention_days:
        raise ScopeError("a grant may shorten the requested retention, never extend it")
    expires_at = now_ms + days * DAY_MS
    if expires_at > limits.MAX_INT:
        raise LocalProtocolError("clock out of range")
    terms = _contact_terms(request, scope, contact)
    grant = Grant(
        grant_id=grant_id or new_id(),
        request_id=request.request_id,
        vault=request.vault,
        requester=request.requester,
        scope=scope,
        purpose=request.purpose,
        issued_at=now_ms,
        expires_at=expires_at,
        retention_days=keep,
        offer=request.offer,
        contact=terms,
    )
    return sign(grant, vault)


def _contact_terms(
    request: AccessRequest, scope: Scope, contact: ContactPolicy | None
) -> ContactPolicy | None:
    if Action.CONTACT not in scope.actions:
        if contact is not None:
            raise ScopeError("contact terms need the contact action")
        return None
    if contact is None:
        return request.contact
    if request.contact is not None and not policy_within(contact, request.contact):
        raise ScopeError("the contact terms may only narrow what was asked")
    return contact


def verify_grant(grant: Grant, vault_peer_id: str | None = None) -> None:
    """Check the vault's signature (and, if given, that ``vault_peer_id`` issued it)."""
    verify(grant, vault_peer_id)


def grant_fits_request(grant: Grant, request: AccessRequest) -> bool:
    """True if ``grant`` answers ``request`` and exceeds it in nothing (requester-side check)."""
    return (
        grant.request_id == request.request_id
        and grant.vault == request.vault
        and grant.requester == request.requester
        and grant.purpose == request.purpose
        and is_subset(grant.scope, request.scope)
        and grant.expires_at - grant.issued_at <= request.duration_days * DAY_MS
        and grant.retention_days <= request.retention_days
        and (
            grant.contact is None
            or request.contact is None
            or policy_within(grant.contact, request.contact)
        )
    )


def check_access(
    grant: Grant,
    peer_id: str,
    fields: str | Iterable[str],
    action: Action | str,
    now_ms: int,
    *,
    revoked: bool = False,
    purpose: PurposeCode | str | None = None,
) -> tuple[str, ...]:
    """Allow ``peer_id`` to do ``action`` on ``fields`` under ``grant`` at ``now_ms``, or raise.

    ``fields`` are paths or ``subtree.*`` patterns. Returns them as a tuple when
    every check passes; raises :class:`~protocol.AccessDenied` with ``code`` one
    of ``wrong_peer``, ``revoked``, ``expired``, ``purpose_mismatch``,
    ``out_of_scope`` otherwise. Messages name paths, never values.
    """
    wanted = (fields,) if isinstance(fields, str) else tuple(fields)
    if peer_id != grant.requester:
        raise AccessDenied("this grant belongs to another peer", code=ErrorCode.WRONG_PEER)
    if revoked:
        raise AccessDenied("this grant was revoked", code=ErrorCode.REVOKED)
    if now_ms >= grant.expires_at:
        raise AccessDenied("this grant has expired", code=ErrorCode.EXPIRED)
    if purpose is not None and str(purpose) != grant.purpose.code.value:
        raise AccessDenied("this grant is for another purpose", code=ErrorCode.PURPOSE_MISMATCH)
    try:
        act = Action(action)
    except ValueError:
        raise AccessDenied("unknown action", code=ErrorCode.OUT_OF_SCOPE) from None
    if act not in grant.scope.actions:
        raise AccessDenied(f"the grant does not allow {act.value}", code=ErrorCode.OUT_OF_SCOPE)
    if not wanted:
        raise AccessDenied("no fields asked for", code=ErrorCode.OUT_OF_SCOPE)
    outside = [f for f in wanted if not path_in_scope(f, grant.scope)]
    if outside:
        shown = ", ".join(f if len(f) <= limits.MAX_PATH_LENGTH + 2 else "?" for f in outside[:5])
        raise AccessDenied(f"outside the grant: {shown}"[:200], code=ErrorCode.OUT_OF_SCOPE)
    return wanted
