"""The business side of store-and-forward: an HPKE key, queued deliveries applied once, erasure.

* **The key.** On first use the requester makes an HPKE key pair (ML-KEM-768 +
  X25519) and keeps it sealed in its store; the public half goes, signed, in
  every access request (``hpke_key``), so a vault can queue messages for it.
* **Deliveries** (``/kluis/deliver/1.0.0``). A :class:`~protocol.SealedDelivery`
  must come from the vault it names (the Noise peer) and be for us. Per vault
  the requester remembers the highest ``seq`` it applied; a delivery at or
  below it is a re-send and is acknowledged without being applied again (an
  erase request is answered again with the stored receipt). A newer one is
  opened, applied (an ``update`` to the sealed copy, a ``revoke_notice`` as
  if received directly, an ``erase_request``, a ``contact_signal`` to the
  :class:`~vault.requester._yield.YieldBook`), and its ``seq`` recorded in the
  same transaction. A refused signal (forged, not for a message we sent to that
  vault, over its rate) is answered with an ``error`` and not applied. An
  expired delivery is skipped (acknowledged, not applied).
* **Erasure.** For an :class:`~protocol.EraseRequest`, every grant it names
  that came from that vault is revoked, its sealed copy deleted and its key
  destroyed (the normal deletion path, reason ``erasure``); the answer is a
  signed :class:`~protocol.ErasureReceipt` listing the grants and field
  patterns deleted, kept so that a re-sent request gets the same receipt.
* **Poll.** :meth:`DeliveryEndpoint.poll` tells every vault we hold grants
  from that we are reachable (at start, and whenever called).

Both directions speak ``DELIVERY_GRAMMAR`` through the runtime's state machine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from protocol import (
    DELIVERY_GRAMMAR,
    AccessDenied,
    Ack,
    ContactSignal,
    DeletionReason,
    DeliveryBatch,
    DeliveryPoll,
    EraseRequest,
    ErasureReceipt,
    ErrorCode,
    KluisError,
    Message,
    RevokeNotice,
    SealedDelivery,
    UnexpectedMessage,
    Update,
    canonical_dumps,
    canonical_loads,
    dump_message,
    error_from_exception,
    sign,
    verify,
)
from protocol.contact import MAX_BATCH, parse_delivery_payload
from vault.store.hpke import HpkeError, HpkeKeyPair

if TYPE_CHECKING:
    from vault.requester._requester import Requester

__all__ = ["DeliveryEndpoint"]

log = logging.getLogger(__name__)

KEY_KIND = "hpke"
KEY_NAME = "deliver"
SEEN_KIND = "deliver.seen"
RECEIPT_KIND = "erasure.rcpt"
POLL_TIMEOUT = 5.0
#: Deliveries pulled per poll at most (a bound on the loop; the next poll continues).
MAX_PULLS = 100_000


class DeliveryEndpoint:
    """Attached to a :class:`~vault.requester.Requester` as ``requester.delivery``."""

    def __init__(self, requester: Requester) -> None:
        self.r = requester
        store = requester.vault.store
        raw = store.get(KEY_KIND, KEY_NAME)
        if raw is None:
            self.key = HpkeKeyPair.generate()
            with requester.vault.transaction():
                store.put(KEY_KIND, KEY_NAME, self.key.secret_bytes())
                requester.vault.audit.append("requester.hpke_key", {"created": True})
        else:
            self.key = HpkeKeyPair.from_secret_bytes(raw)
        self.public_hex = self.key.public_hex()
        #: (vault, seq, inner type) of every delivery applied by this process, in order.
        self.applied: list[tuple[str, int, str]] = []

    # -- state ------------------------------------------------------------------------------

    def last_seq(self, vault_peer: str) -> int:
        raw = self.r.vault.store.get(SEEN_KIND, vault_peer)
        return 0 if raw is None else int(canonical_loads(raw)["last_seq"])

    def _set_seq(self, vault_peer: str, seq: int) -> None:
        self.r.vault.store.put(SEEN_KIND, vault_peer, canonical_dumps({"last_seq": seq}))

    def erasure_receipt(self, erasure_id: str) -> ErasureReceipt | None:
        raw = self.r.vault.store.get(RECEIPT_KIND, erasure_id)
        return None if raw is None else ErasureReceipt.model_validate_json(raw)

    def erasure_receipts(self) -> list[ErasureReceipt]:
        return [
            ErasureReceipt.model_validate_json(raw)
            for _n, raw in self.r.vault.store.items(RECEIPT_KIND)
        ]

    # -- serving ----------------------------------------------------------------------------

    def handle(self, ctx: Any, msg: Message) -> Message:
        """The requester's ``/kluis/deliver`` handler: one delivery → ``ack``, receipt or error."""
        sender = str(ctx.remote_peer_id)
        ref: str | None = None
        try:
            if not isinstance(msg, SealedDelivery):
                raise UnexpectedMessage(f"a requester does not accept {msg.type} here")
            ref = msg.delivery_id
            return self.receive(sender, msg)
        except KluisError as exc:
            return error_from_exception(exc, ref)
        except Exception:
            log.exception("delivery from %s failed", sender)
            return error_from_exception(KluisError("internal error"), ref)

    def receive(self, sender: str, msg: SealedDelivery) -> Ack | ErasureReceipt:
        """Apply one delivery from ``sender`` (the Noise peer) at most once; the reply."""
        if msg.vault != sender or msg.requester != self.r.peer_id:
            raise AccessDenied(
                "this delivery is not from its vault to us", code=ErrorCode.WRONG_PEER
            )
        ack = Ack(ref=msg.delivery_id)
        duplicate = msg.seq <= self.last_seq(sender)
        if duplicate or (msg.expires_at is not None and self.r.now() > msg.expires_at):
            if not duplicate:
                with self.r.vault.transaction():
                    self._set_seq(sender, msg.seq)
            inner = self._open(msg) if duplicate else None
            if isinstance(inner, EraseRequest):
                receipt = self.erasure_receipt(inner.erasure_id)
                if receipt is not None:
                    return receipt
            return ack
        inner = self._open(msg)
        reply: Ack | ErasureReceipt = ack
        schedule: list[str] = []
        with self.r.vault.transaction():
            if isinstance(inner, Update):
                self._update(sender, inner)
            elif isinstance(inner, RevokeNotice):
                rec = self.r.revocation.accept_notice(sender, inner)
                if rec.receipt is not None and not rec.receipt_acked:
                    schedule.append(rec.grant_id)
            elif isinstance(inner, ContactSignal):
                self.r.yields.apply(sender, inner)  # refused: raises, nothing recorded
            else:
                reply, schedule = self._erase(sender, inner)
            self._set_seq(sender, msg.seq)
            self.r.vault.audit.append(
                "requester.delivery", {"vault": sender, "seq": msg.seq, "kind": inner.type}
            )
        self.applied.append((sender, msg.seq, inner.type))
        if isinstance(inner, ContactSignal):
            self.r.yields.notify(inner.kind)
        for grant_id in schedule:
            self.r.receipt_sender.schedule(grant_id)
        return reply

    def _open(self, msg: SealedDelivery) -> Update | RevokeNotice | EraseRequest | ContactSignal:
        try:
            plain = self.key.open(bytes.fromhex(msg.sealed), msg.info())
        except HpkeError as exc:
            raise AccessDenied("the delivery does not open", code=ErrorCode.BAD_SIGNATURE) from exc
        return parse_delivery_payload(plain)

    def _update(self, sender: str, update: Update) -> None:
        self.r.reader.receive_update(sender, update)

    def _erase(self, sender: str, req: EraseRequest) -> tuple[ErasureReceipt, list[str]]:
        if req.requester != self.r.peer_id or req.vault != sender:
            raise AccessDenied("this erase request is not for us", code=ErrorCode.WRONG_PEER)
        verify(req, sender)
        existing = self.erasure_receipt(req.erasure_id)
        if existing is not None:
            return existing, []
        now = self.r.now()
        deleted: set[str] = set()
        schedule: list[str] = []
        for grant_id in req.grant_ids:
            rec = self.r.book.find_grant(grant_id)
            if rec is None or rec.vault_peer != sender:
                continue
            if not rec.data_deleted:
                rec = self.r.revocation.delete(
                    rec, DeletionReason.ERASURE, revoked_at=rec.revoked_at or now, now=now
                )
                schedule.append(grant_id)
            elif rec.revoked_at is None:
                rec = self.r.revocation.revoke_locally(
                    grant_id, at=now, reason=DeletionReason.ERASURE
                )
            self.r.copies.destroy(grant_id)
            deleted.update(rec.grant.scope.fields)
        receipt = sign(
            ErasureReceipt(
                erasure_id=req.erasure_id,
                requester=self.r.peer_id,
                vault=sender,
                grant_ids=req.grant_ids,
                deleted_fields=tuple(sorted(deleted)),
                deleted_at=now,
                keys_destroyed=True,
            ),
            self.r.identity,
        )
        self.r.vault.store.put(RECEIPT_KIND, req.erasure_id, dump_message(receipt))
        self.r.vault.audit.append(
            "requester.erasure",
            {"erasure_id": req.erasure_id, "vault": sender, "grants": len(req.grant_ids)},
        )
        return receipt, schedule

    # -- polling ----------------------------------------------------------------------------

    def vaults(self) -> dict[str, str]:
        """Every vault we asked for access: peer id → address."""
        out = {r.request.vault: r.vault_addr for r in self.r.book.requests()}
        out.update({g.vault_peer: g.vault_addr for g in self.r.book.grants()})
        return out

    async def poll(self, vault_peer: str | None = None) -> int:
        """Tell vaults (one, or all we know) that we are reachable; how many answered."""
        if self.r.link.node is None:
            return 0
        known = self.vaults()
        targets = {vault_peer: known[vault_peer]} if vault_peer in known else known
        if vault_peer is not None and vault_peer not in known:
            return 0
        results = await asyncio.gather(*(self._poll_one(p, a) for p, a in targets.items()))
        return sum(results)

    async def _poll_one(self, vault_peer: str, addr: str) -> bool:
        """Pull everything queued at ``vault_peer``, a batch per round trip."""
        poll = DeliveryPoll(requester=self.r.peer_id, max_items=MAX_BATCH)
        try:
            for _ in range(MAX_PULLS):
                reply = await self.r.link.call(
                    vault_peer, addr, DELIVERY_GRAMMAR, poll, timeout=POLL_TIMEOUT
                )
                if not isinstance(reply, DeliveryBatch):
                    return isinstance(reply, Ack)
                acked, receipts = self._apply_batch(vault_peer, reply)
                if not acked:
                    return False  # could not apply the first one: the vault keeps it queued
                poll = DeliveryPoll(
                    requester=self.r.peer_id,
                    acked=tuple(acked),
                    receipts=tuple(receipts),
                    max_items=MAX_BATCH,
                )
        except (KluisError, TimeoutError, OSError) as exc:
            self.r.link.forget(vault_peer)
            log.info("poll of %s failed: %s", vault_peer, exc)
            return False
        return True

    def _apply_batch(
        self, vault_peer: str, batch: DeliveryBatch
    ) -> tuple[list[str], list[ErasureReceipt]]:
        """Apply a batch in order, in one transaction; stop at the first that fails."""
        acked: list[str] = []
        receipts: list[ErasureReceipt] = []
        with self.r.vault.transaction():
            for delivery in batch.deliveries:
                try:
                    answer = self.receive(vault_peer, delivery)
                except KluisError as exc:
                    log.warning("delivery %d not applied: %s", delivery.seq, exc)
                    break
                acked.append(delivery.delivery_id)
                if isinstance(answer, ErasureReceipt):
                    receipts.append(answer)
        return acked, receipts

    def start(self) -> None:
        """Register the handler on the requester's node and poll once in the background."""
        node = self.r.link.node
        if node is None:
            return
        node.set_frame_handler(DELIVERY_GRAMMAR, self.handle)
        if self.vaults():
            self.r._spawn(self._start_up(), name="poll the vaults")

    async def _start_up(self) -> None:
        await self.poll()
        if self.r.contacts_out.pending():
            await self.r.flush_contacts()
