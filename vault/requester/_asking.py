"""Asking a vault for access: the signed request, the long-poll, and the verified grant.

A request is built, signed and stored before it is sent, so that another
process can resume waiting for it (:meth:`Asking.pending` from its id). The
vault answers at once with a :class:`~protocol.Decision`, usually ``pending``;
:meth:`Asking.await_decision` long-polls until the owner decides. An approval's
grant is kept only if it is signed by the vault that was asked, bound to this
requester, and no wider than the request (:meth:`Asking.verify_grant`); its
per-grant key is made in the same transaction (:mod:`._copies`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from pydantic import ValidationError

from protocol import (
    ACCESS_GRAMMAR,
    AccessDenied,
    AccessRequest,
    Action,
    AwaitDecision,
    ContactPolicy,
    Decision,
    DecisionStatus,
    Error,
    ErrorCode,
    Grant,
    Offer,
    Purpose,
    PurposeCode,
    Scope,
    SignatureError,
    UnexpectedMessage,
    grant_fits_request,
    new_id,
    new_nonce,
    sign,
    verify,
)
from protocol.business import BusinessProfile
from protocol.limits import MAX_WAIT_MS
from vault.requester._args import bad_args, parse_purpose, vault_peer_of
from vault.requester._book import GrantRecord, RequestRecord
from vault.requester._errors import (
    DecisionPending,
    InvalidGrant,
    RequesterError,
    error_to_exception,
)
from vault.requester._link import VaultLink
from vault.requester._local import Local

__all__ = ["POLL_SLACK", "Asking"]

#: Extra seconds allowed on top of a long-poll's ``wait_ms``.
POLL_SLACK = 10.0


class Asking:
    """The requester's access requests, from signing to the verified grant."""

    def __init__(
        self,
        local: Local,
        link: VaultLink,
        hpke_key: Callable[[], str],
        profile: Callable[[], BusinessProfile | None] = lambda: None,
    ) -> None:
        self._local = local
        self._link = link
        self._hpke_key = hpke_key
        #: The business's signed profile, sent with every request (``Requester.profile``).
        self._profile = profile

    def record(
        self,
        vault_addr: str,
        fields: Iterable[str],
        purpose: PurposeCode | str,
        purpose_text: str = "",
        *,
        days: int = 30,
        retention_days: int = 0,
        offer: Offer | None = None,
        actions: Iterable[Action | str] = (Action.READ, Action.SUBSCRIBE),
        contact: ContactPolicy | None = None,
    ) -> AccessRequest:
        """Build, sign and store an access request (not sent)."""
        local = self._local
        vault_peer = vault_peer_of(vault_addr)
        code = parse_purpose(purpose)
        try:
            request = AccessRequest(
                request_id=new_id(),
                requester=local.peer_id,
                vault=vault_peer,
                scope=Scope.of(list(fields), list(actions)),
                purpose=Purpose(code=code, text=purpose_text),
                duration_days=days,
                retention_days=retention_days,
                offer=offer or Offer(),
                nonce=new_nonce(),
                ts=local.now(),
                contact=contact,
                hpke_key=self._hpke_key(),
                business=self._profile(),
            )
        except ValidationError as exc:
            raise bad_args(exc, "access request") from exc
        except ValueError as exc:  # an unknown action
            raise RequesterError(f"invalid access request: {exc}") from exc
        request = sign(request, local.identity)
        with local.transaction():
            local.book.put_request(RequestRecord(request, vault_addr, created_at=local.now()))
            local.audit.append(
                "requester.request",
                {
                    "request_id": request.request_id,
                    "vault": vault_peer,
                    "fields": list(request.scope.fields),
                    "actions": [a.value for a in request.scope.actions],
                    "purpose": code.value,
                    "duration_days": days,
                    "retention_days": retention_days,
                },
            )
        return request

    async def send(self, request: AccessRequest, vault_addr: str, timeout: float) -> None:
        """Send a recorded request; record the vault's immediate decision."""
        reply = await self._link.call(request.vault, vault_addr, ACCESS_GRAMMAR, request, timeout)
        if isinstance(reply, Error):
            raise error_to_exception(reply)
        if not isinstance(reply, Decision):  # pragma: no cover - the grammar allows no other
            raise UnexpectedMessage(f"a vault answered an access request with {reply.type}")
        self.apply_decision(request.request_id, reply)

    async def await_decision(self, request_id: str, timeout: float) -> RequestRecord:
        """Long-poll until the owner decides; the approved record (raises otherwise)."""
        book = self._local.book
        rec = book.request(request_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            if rec.status == DecisionStatus.APPROVED.value and rec.grant_id is not None:
                return rec
            if rec.status == DecisionStatus.DENIED.value:
                raise AccessDenied(
                    rec.reason or "the owner denied this request", code=ErrorCode.DENIED
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DecisionPending(request_id)
            wait_ms = min(int(remaining * 1000), MAX_WAIT_MS)
            reply = await self._link.call(
                rec.request.vault,
                rec.vault_addr,
                ACCESS_GRAMMAR,
                AwaitDecision(request_id=request_id, wait_ms=wait_ms),
                wait_ms / 1000 + POLL_SLACK,
            )
            if isinstance(reply, Error):
                raise error_to_exception(reply)
            if not isinstance(reply, Decision):  # pragma: no cover - the grammar allows no other
                raise UnexpectedMessage(f"a vault answered await_decision with {reply.type}")
            rec = self.apply_decision(request_id, reply)

    def apply_decision(self, request_id: str, decision: Decision) -> RequestRecord:
        """Record the vault's decision; an approval's grant is verified before it is kept."""
        local = self._local
        rec = local.book.request(request_id)
        if decision.request_id != request_id:
            raise UnexpectedMessage("the decision answers another request")
        if rec.status != DecisionStatus.PENDING.value or decision.status is DecisionStatus.PENDING:
            return rec
        if decision.status is DecisionStatus.DENIED:
            decided = RequestRecord(
                rec.request, rec.vault_addr, rec.created_at, "denied", None, decision.reason
            )
            with local.transaction():
                local.book.put_request(decided)
                local.audit.append(
                    "requester.denied", {"request_id": request_id, "vault": rec.request.vault}
                )
            return decided
        assert decision.grant is not None  # the Decision model enforces it
        grant = decision.grant
        self.verify_grant(grant, rec.request)
        decided = RequestRecord(
            rec.request, rec.vault_addr, rec.created_at, "approved", grant.grant_id, ""
        )
        with local.transaction():
            if local.book.find_grant(grant.grant_id) is None:
                local.book.put_grant(GrantRecord(grant, rec.request, rec.vault_addr, local.now()))
            local.copies.create_key(grant.grant_id)
            local.book.put_request(decided)
            local.audit.append(
                "requester.grant",
                {
                    "request_id": request_id,
                    "grant_id": grant.grant_id,
                    "vault": grant.vault,
                    "fields": list(grant.scope.fields),
                    "actions": [a.value for a in grant.scope.actions],
                    "expires_at": grant.expires_at,
                    "retention_days": grant.retention_days,
                },
            )
        return decided

    def verify_grant(self, grant: Grant, request: AccessRequest) -> None:
        """Refuse a grant not signed by the vault asked, not bound to us, or wider than asked."""
        peer_id = self._local.peer_id
        try:
            verify(grant, request.vault)
        except SignatureError as exc:
            raise InvalidGrant(
                "the grant is not signed by the vault that was asked", code=ErrorCode.BAD_SIGNATURE
            ) from exc
        if grant.requester != peer_id or request.requester != peer_id:
            raise InvalidGrant("the grant is bound to another requester", code=ErrorCode.WRONG_PEER)
        if not grant_fits_request(grant, request):
            raise InvalidGrant(
                "the grant does not match the request or is wider than asked",
                code=ErrorCode.OUT_OF_SCOPE,
            )
