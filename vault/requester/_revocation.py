"""The revocation contract: what a business can rely on, kept in one place.

1. *Received data is stored sealed under a per-grant key* (:mod:`._copies`):
   never in plaintext, never outside the grant's two records.
2. *Revocation deletes.* When the vault's signed :class:`~protocol.RevokeNotice`
   arrives (on a subscription stream, as a request on ``/kluis/access``, or as
   a queued delivery; the signature, the vault and the Noise-authenticated
   sender are checked, and the notice must be for us), or when a read or
   subscribe is refused with code ``revoked``, the SDK, before it answers or
   raises: deletes the grant's data, destroys its key, marks the grant
   ``revoked`` — all in one transaction — and then sends the vault a signed
   :class:`~protocol.DeletionReceipt` (reason ``revoked``, or ``erasure`` if the
   owner asked to erase). A receipt the vault did not acknowledge is kept and
   re-sent (:mod:`._receipts`).
3. *After that, no network call is made*: a read or subscribe raises
   ``AccessDenied(code=revoked)`` at once (:meth:`Revocation.check_local`).
4. *Retention is enforced.* When access ends (``expires_at``, or a refusal with
   code ``expired``), the grant is ``expired`` and its data is kept for the
   grant's ``retention_days`` at most (0: none at all). Then
   :meth:`Revocation.expire_due` — run at start, by the periodic sweep, on every
   local access check, and by ``Requester.enforce_retention`` with an explicit
   time — deletes it the same way, with a receipt of reason ``retention_expired``.

:meth:`Revocation.handle` serves ``/kluis/access`` on the requester's node: a
vault opens a stream and sends a ``revoke_notice`` (the grammar allows nothing
else from it); the answer is an ``ack`` once the data is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from protocol import (
    AccessDenied,
    Ack,
    Action,
    DeletionReason,
    DeletionReceipt,
    Error,
    ErrorCode,
    KluisError,
    Message,
    RevokeNotice,
    UnexpectedMessage,
    check_access,
    error_from_exception,
    new_id,
    sign,
    verify,
)
from vault.requester._book import GrantRecord, GrantStatus
from vault.requester._errors import error_to_exception
from vault.requester._local import Local
from vault.requester._receipts import ReceiptSender

__all__ = ["Revocation"]

log = logging.getLogger(__name__)


class Revocation:
    """Deleting a grant's data when it is revoked or its retention runs out, with proof."""

    def __init__(self, local: Local, receipts: ReceiptSender) -> None:
        self._local = local
        self._receipts = receipts

    # -- the vault's notice ---------------------------------------------------------------

    def accept_notice(self, sender: str, notice: RevokeNotice) -> GrantRecord:
        """Check a revoke notice (ours, from the grant's vault, signed by it) and act on it."""
        local = self._local
        rec = local.book.find_grant(notice.grant_id)
        if rec is None:
            raise AccessDenied("no such grant", code=ErrorCode.NOT_GRANTED)
        if notice.requester != local.peer_id or notice.vault != rec.vault_peer:
            raise AccessDenied("this notice is about another grant", code=ErrorCode.WRONG_PEER)
        if sender != rec.vault_peer:
            raise AccessDenied("only the grant's vault may revoke it", code=ErrorCode.WRONG_PEER)
        verify(notice, rec.vault_peer)
        reason = DeletionReason.ERASURE if notice.erase else DeletionReason.REVOKED
        return self.revoke_locally(rec.grant_id, at=notice.revoked_at, reason=reason)

    async def handle(self, ctx: Any, msg: Message) -> Message:
        """The requester's ``/kluis/access`` handler: a vault's notice → ``ack`` or ``error``.

        Run on the asyncio side (the runtime awaits it). Acknowledged only once
        the data is deleted; the receipt follows on a stream of its own.
        """
        sender = str(ctx.remote_peer_id)
        ref = getattr(msg, "grant_id", None)
        try:
            if not isinstance(msg, RevokeNotice):
                raise UnexpectedMessage(f"a requester does not accept {msg.type}")
            self.accept_notice(sender, msg)
        except KluisError as exc:
            return error_from_exception(exc, ref)
        except Exception:
            log.exception("could not apply a revoke notice from %s", sender)
            return error_from_exception(KluisError("internal error"), ref)
        self._receipts.schedule(msg.grant_id)
        return Ack(ref=msg.grant_id)

    # -- deleting ---------------------------------------------------------------------------

    def revoke_locally(self, grant_id: str, *, at: int, reason: DeletionReason) -> GrantRecord:
        """Mark revoked, delete the data, destroy the key, sign a receipt. Idempotent."""
        rec = self._local.book.grant(grant_id)
        if rec.revoked_at is not None:
            return rec
        return self.delete(rec, reason, revoked_at=at)

    def delete(
        self,
        rec: GrantRecord,
        reason: DeletionReason,
        *,
        revoked_at: int | None = None,
        now: int | None = None,
    ) -> GrantRecord:
        """Delete ``rec``'s data and key and sign the receipt, in one transaction.

        Decided on the record as stored, under the write lock: with workers on one
        store (D28) another may have deleted it since this process read its index
        (a revoke notice can reach one worker on its subscription and another as a
        queued delivery), and then nothing is deleted or signed again: one grant,
        one receipt (D51).
        """
        local = self._local
        when = local.now() if now is None else now
        try:
            with local.transaction():
                current = local.book.reread_grant(rec.grant_id)
                if current.data_deleted:  # retention or another worker deleted it
                    if revoked_at is None or current.revoked_at is not None:
                        return current  # nothing new to record
                    updated = current.evolve(revoked_at=revoked_at)
                    local.book.put_grant(updated)
                    local.audit.append("requester.revoked", {"grant_id": rec.grant_id})
                    return updated
                receipt = sign(
                    DeletionReceipt(
                        receipt_id=new_id(),
                        grant_id=current.grant_id,
                        requester=local.peer_id,
                        vault=current.vault_peer,
                        reason=reason,
                        deleted_fields=current.grant.scope.fields,
                        deleted_at=when,
                        key_destroyed=True,
                    ),
                    local.identity,
                )
                updated = current.evolve(
                    revoked_at=revoked_at,
                    deleted_at=when,
                    deletion_reason=reason,
                    receipt=receipt,
                    receipt_acked=False,
                )
                local.copies.destroy(rec.grant_id)
                local.book.put_grant(updated)
                local.audit.append(
                    "requester.delete",
                    {
                        "grant_id": rec.grant_id,
                        "reason": reason.value,
                        "receipt_id": receipt.receipt_id,
                        "key_destroyed": True,
                    },
                )
        except BaseException:
            # Fail closed: even if the store write failed, this process refuses the grant.
            if revoked_at is not None:
                local.book.remember(rec.evolve(revoked_at=revoked_at))
            raise
        return updated

    def expire_due(self, now: int, only: str | None = None) -> list[str]:
        """Delete the data of every grant (or just ``only``) whose retention is over.

        A sweep (no ``only``) touches only the vaults this worker holds (D28).
        """
        book = self._local.book
        done = []
        for rec in [book.grant(only)] if only is not None else book.grants():
            if rec.data_deleted or rec.status(now) is not GrantStatus.EXPIRED:
                continue
            if only is None and not self._local.owns(rec.vault_peer):
                continue  # another worker's vault (D28)
            if now >= rec.retention_deadline():
                self.delete(rec, DeletionReason.RETENTION_EXPIRED, now=now)
                self._receipts.schedule(rec.grant_id)
                done.append(rec.grant_id)
        return done

    # -- before and after every access ------------------------------------------------------

    def check_local(
        self, rec: GrantRecord, fields: Iterable[str] | None, action: Action
    ) -> tuple[str, ...]:
        """The local half of every access: no network call for a dead grant or a stray field."""
        local = self._local
        now = local.now()
        self.expire_due(now, rec.grant_id)
        rec = local.book.grant(rec.grant_id)
        status = rec.status(now)
        if status is GrantStatus.REVOKED:
            raise AccessDenied(
                "this grant was revoked; its data has been deleted", code=ErrorCode.REVOKED
            )
        if status in (GrantStatus.EXPIRED, GrantStatus.DELETED):
            raise AccessDenied("this grant has ended", code=ErrorCode.EXPIRED)
        wanted = rec.grant.scope.fields if fields is None else tuple(fields)
        return check_access(rec.grant, local.peer_id, wanted, action, now)

    def refused(self, grant_id: str, reply: Error) -> KluisError:
        """Turn a vault's refusal into its exception, after applying what it means locally."""
        local = self._local
        exc = error_to_exception(reply)
        if exc.code is ErrorCode.REVOKED:
            self.revoke_locally(grant_id, at=local.now(), reason=DeletionReason.REVOKED)
            self._receipts.schedule(grant_id)
        elif exc.code is ErrorCode.EXPIRED:
            rec = local.book.grant(grant_id)
            if rec.ended_at is None:
                with local.transaction():
                    local.book.put_grant(rec.evolve(ended_at=local.now()))
                    local.audit.append("requester.ended", {"grant_id": grant_id})
            self.expire_due(local.now(), grant_id)
        return exc
