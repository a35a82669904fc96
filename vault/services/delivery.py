"""Store-and-forward to businesses: updates, revocations and erasure requests reach a peer
that was offline, in order and once; plus the erasure workflow that rides on it.

:class:`DeliveryService` sits beside the access service of a running vault:

* **Revocations**: every revoke notice is queued in the :class:`~vault.services.outbox.Outbox`
  as it is issued (so it keeps its place in the order); if the access service
  delivers it directly, the queued copy is cancelled.
* **Updates**: a profile change to a field in a live grant with the
  ``subscribe`` action, for a business with no live subscription stream, is
  queued (expiring after ``update_ttl_ms``: a stale update is not worth
  sending late).
* **Erasure**: :meth:`DeliveryService.erase` revokes the business's live grants
  (erase now), signs an :class:`~protocol.EraseRequest` covering every grant
  it ever got, and queues it; the business answers with a signed
  :class:`~protocol.ErasureReceipt`, verified and stored by the
  :class:`~vault.services.erasure.ErasureBook`.
* **Reconnects**: a business that comes online sends ``delivery_poll`` on
  ``/kluis/deliver/1.0.0``; the vault clears its back-off and flushes its
  queue. A background pump retries every queue with back-off.

Both directions speak ``DELIVERY_GRAMMAR`` through the runtime's state machine.
Background work (the pump, one flush per peer) runs in one task group
(:class:`protocol.lifecycle.Background`), opened by :meth:`DeliveryService.start`.

Messages are sealed to the business's HPKE key, announced (signed) in its
latest access request that carries one; a business that never announced a
key cannot receive queued messages (direct delivery still works).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from protocol import (
    DELIVERY_GRAMMAR,
    Ack,
    Action,
    DeliveryBatch,
    DeliveryPoll,
    ErasureReceipt,
    Error,
    ErrorCode,
    KluisError,
    Message,
    RateLimited,
    RevokeNotice,
    SealedDelivery,
    UnexpectedMessage,
    Update,
    error_from_exception,
    path_in_scope,
)
from protocol.clock import DAY_MS, Clock
from protocol.lifecycle import Background
from vault.services.erasure import ErasureBook, ErasureRecord
from vault.services.grantbook import GrantBook, GrantState, NotFound
from vault.services.outbox import Outbox, OutboxItem
from vault.store.profile import ProfileField
from vault.store.vault import Vault

__all__ = ["DeliveryService"]

log = logging.getLogger(__name__)

#: Queued updates expire after a week: a business offline longer re-reads instead.
UPDATE_TTL_MS = 7 * DAY_MS
SEND_TIMEOUT_S = 5.0
#: Bytes of sealed payload per pulled batch at most (a batch must fit in a 64 KiB frame).
BATCH_BYTES = 48 * 1024
#: A peer we are not connected to is dialled with this (shorter) timeout.
DIAL_TIMEOUT_S = 2.0


class DeliveryService:
    """The vault's side of ``/kluis/deliver/1.0.0`` and the erasure workflow."""

    def __init__(
        self,
        vault: Vault,
        grants: GrantBook,
        *,
        outbox: Outbox | None = None,
        erasures: ErasureBook | None = None,
        access: Any = None,
        node: Any = None,
        clock: Clock | None = None,
        update_ttl_ms: int = UPDATE_TTL_MS,
        pump_interval: float = 0.5,
        limiter: Any = None,
    ) -> None:
        self.vault = vault
        self.grants = grants
        self.outbox = outbox or Outbox(vault, clock=clock or vault.clock)
        self.erasures = erasures or ErasureBook(vault)
        self.access = access
        self.node = node
        self.update_ttl_ms = update_ttl_ms
        self.pump_interval = pump_interval
        #: Per-peer token buckets (:class:`~vault.services.ratelimit.RateLimiter`), inbound.
        self.limiter = limiter
        self._wake = asyncio.Event()
        self._flushing: dict[str, asyncio.Task[None]] = {}
        self._cancelling: set[asyncio.Task[None]] = set()  # queued copies of direct notices
        self._tasks = Background("delivery")
        self._unhook: list[Callable[[], None]] = [
            grants.on_revoke(self._on_revoke),
            vault.profile.on_change(self._on_change),
        ]
        self._closed = False

    # -- keys -----------------------------------------------------------------------------

    def public_key(self, peer: str) -> str | None:
        """The HPKE key ``peer`` announced in its newest access request, if any."""
        best: tuple[int, str] | None = None
        for state in self.grants.requests():
            req = state.request
            if req.requester == peer and req.hpke_key is not None:
                if best is None or req.ts >= best[0]:
                    best = (req.ts, req.hpke_key)
        return None if best is None else best[1]

    def enqueue(
        self, peer: str, message: Message, *, key: str, ttl_ms: int | None = None
    ) -> OutboxItem | None:
        """Queue ``message`` for ``peer`` sealed to its key; None if it announced none."""
        pub = self.public_key(peer)
        if pub is None:
            log.info("no HPKE key for %s: %s not queued", peer, message.type)
            return None
        item = self.outbox.enqueue(peer, message, pub, key=key, ttl_ms=ttl_ms)
        self._wake.set()
        return item

    # -- what gets queued -------------------------------------------------------------------

    def _on_revoke(self, state: GrantState, notice: RevokeNotice) -> None:
        key = f"revoke-{notice.grant_id}"
        if self.enqueue(notice.requester, notice, key=key) is None:
            return
        task = self.access.delivery(notice.grant_id) if self.access is not None else None
        if task is not None:
            try:
                waiter = self._tasks.spawn(self._cancel_if_delivered(task, notice.requester, key))
            except RuntimeError:  # stopped: the queued copy goes out instead
                log.info("delivery service stopped; %s stays queued", key)
                return
            self._cancelling.add(waiter)
            waiter.add_done_callback(self._cancelling.discard)

    async def _cancel_if_delivered(
        self, task: asyncio.Task[bool | None], peer: str, key: str
    ) -> None:
        with contextlib.suppress(Exception):
            if await asyncio.shield(task):
                self.outbox.cancel(peer, key)

    def _on_change(self, rec: ProfileField) -> None:
        for state in self.grants.live_grants():
            grant = state.grant
            if Action.SUBSCRIBE not in grant.scope.actions:
                continue
            if not path_in_scope(rec.path, grant.scope):
                continue
            if self.access is not None and self.access.subscriptions(grant.grant_id):
                continue  # a live stream pushes it
            value = rec.value
            try:
                update = Update(
                    grant_id=grant.grant_id,
                    path=rec.path,
                    value=tuple(value) if isinstance(value, list) else value,
                    deleted=value is None,
                    version=rec.version,
                    ts=rec.updated_at,
                )
                self.enqueue(
                    grant.requester,
                    update,
                    key=f"update-{grant.grant_id}-{rec.path}-{rec.version}",
                    ttl_ms=self.update_ttl_ms,
                )
            except (ValueError, KluisError):
                log.exception("could not queue an update of %s", rec.path)

    # -- erasure ----------------------------------------------------------------------------

    def businesses(self) -> list[str]:
        """Every business that ever got a grant from this vault."""
        return sorted({s.grant.requester for s in self.grants.grants()})

    def erase(self, requester: str, reason: str = "") -> ErasureRecord:
        """Ask ``requester`` to erase everything: revoke (erase) its live grants, queue the request.

        Revocation is in force when this returns; the request is durable and is
        delivered when the business is reachable.
        """
        states = self.grants.grants(requester=requester)
        if not states:
            raise NotFound(f"no grants were ever given to {requester}")
        for state in states:
            if not state.revoked:
                self.grants.revoke(state.grant_id, reason=reason or "erasure", erase=True)
        rec = self.erasures.create(requester, [s.grant_id for s in states], reason)
        self.enqueue(requester, rec.request, key=f"erase-{rec.erasure_id}")
        return rec

    def erase_all(self, reason: str = "") -> list[ErasureRecord]:
        return [self.erase(peer, reason) for peer in self.businesses()]

    # -- sending ----------------------------------------------------------------------------

    def _accept(self, item: OutboxItem, reply: Message) -> bool:
        if isinstance(reply, Ack):
            return reply.ref == item.delivery_id
        if isinstance(reply, ErasureReceipt) and item.kind == "erase_request":
            try:
                self.erasures.record_receipt(reply)
            except KluisError as exc:
                log.warning("an erasure receipt from %s does not verify: %s", item.peer, exc)
                with contextlib.suppress(Exception):
                    self.vault.audit.append(
                        "erasure.bad_receipt",
                        {"requester": item.peer, "erasure_id": reply.erasure_id},
                    )
                return False
            return True
        if isinstance(reply, Error):
            log.info("delivery %s/%d refused: %s", item.peer, item.seq, reply.code.value)
            if item.kind == "contact_signal" and reply.code is not ErrorCode.RATE_LIMITED:
                # A signal is advisory (D43): one the business refuses (or, from an older
                # version, cannot parse) is dropped, never left blocking the revocations
                # and erasure requests queued behind it.
                with contextlib.suppress(Exception):
                    self.vault.audit.append(
                        "contact.signal_refused", {"requester": item.peer, "code": reply.code.value}
                    )
                return True
        return False

    async def _send(self, peer: str, delivery: SealedDelivery) -> Message:
        if self.node is None:
            raise KluisError("no network")
        connected = peer in self.node.peers()
        timeout = SEND_TIMEOUT_S if connected else DIAL_TIMEOUT_S
        reply: Message = await self.node.request(peer, DELIVERY_GRAMMAR, delivery, timeout=timeout)
        return reply

    async def flush(self, peer: str | None = None) -> int:
        """Send what is due now (one peer, or all); returns how many were delivered."""
        total = 0
        for p in [peer] if peer is not None else self.outbox.peers():
            if self.outbox.due(p):
                result = await self.outbox.flush(p, self._send, self._accept)
                total += result.delivered
        return total

    async def start(self) -> None:
        """Open the task group; with a node, start the background pump in it."""
        await self._tasks.start()
        if self.node is not None:
            self._tasks.spawn(self._pump(), name="delivery pump")

    async def _flush_peer(self, peer: str) -> None:
        try:
            await self.flush(peer)
        except Exception:
            log.exception("outbox flush for %s failed", peer)
        finally:
            self._flushing.pop(peer, None)
            self._wake.set()

    async def _pump(self) -> None:
        # One flush task per peer, so an unreachable peer never delays the others.
        while not self._closed:
            self._wake.clear()
            for peer in self.outbox.peers():
                if peer not in self._flushing and self.outbox.due(peer):
                    self._flushing[peer] = self._tasks.spawn(
                        self._flush_peer(peer), name=f"flush {peer}"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.pump_interval)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait for the pending cancellations of queued notices (tests)."""
        pending = [*self._cancelling, *self._flushing.values()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    # -- serving /kluis/deliver/1.0.0 (business → vault) -------------------------------------

    def handle(self, ctx: Any, msg: Message) -> Message:
        """One message on ``DELIVERY_GRAMMAR`` from the stream's peer → the reply. Never raises.

        A frame that breaks the grammar never gets here: the runtime answers it
        with its typed ``error`` and closes that stream.
        """
        peer = str(ctx.remote_peer_id)
        try:
            if self.limiter is not None and not self.limiter.try_acquire(peer, 1.0):
                raise RateLimited("too many polls; slow down")
            if isinstance(msg, DeliveryPoll):
                if msg.requester != peer:
                    raise UnexpectedMessage("a poll names its sender")
                return self._poll(peer, msg)
            if isinstance(msg, ErasureReceipt):
                self.erasures.record_receipt(msg)
                return Ack(ref=msg.erasure_id)
            raise UnexpectedMessage(f"a vault does not accept {msg.type} here")
        except KluisError as exc:
            return error_from_exception(exc)
        except Exception:
            log.exception("delivery handler failed on a frame from %s", peer)
            return error_from_exception(KluisError("internal error"))

    def _poll(self, peer: str, msg: DeliveryPoll) -> Message:
        """Pull: record the answers to the previous batch, reply with the next one."""
        self.outbox.kick(peer)
        receipts = {r.erasure_id: r for r in msg.receipts}
        done: list[OutboxItem] = []
        for item in self.outbox.pending(peer)[: len(msg.acked)]:
            if item.delivery_id not in msg.acked:
                break
            reply: Message = Ack(ref=item.delivery_id)
            if item.kind == "erase_request":
                erasure_id = item.key.removeprefix("erase-")
                if erasure_id not in receipts:
                    break
                reply = receipts[erasure_id]
            if not self._accept(item, reply):
                break
            done.append(item)
        self.outbox.mark_delivered_many(done)
        batch: list[SealedDelivery] = []
        size = 0
        head = self.outbox.head(peer, drop_expired=True)
        for item in self.outbox.pending(peer) if head is not None else []:
            if len(batch) >= msg.max_items or size + 2 * len(item.sealed) > BATCH_BYTES:
                break
            if item.expires_at is not None and item.expires_at < int(self.vault.clock()):
                break  # dropped on the next poll, keeping the order simple
            batch.append(item.envelope(self.vault.peer_id))
            size += 2 * len(item.sealed) + 300
        if not batch:
            return Ack(ref="poll")
        return DeliveryBatch(deliveries=tuple(batch))

    def peer_seen(self, peer: str) -> None:
        """A business showed up (any inbound frame): retry its queue now."""
        if self.outbox.peers() and peer in self.outbox.peers():
            self.outbox.kick(peer)
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Unhook, then cancel the pump and the flushes and wait for them. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for unhook in self._unhook:
            with contextlib.suppress(Exception):
                unhook()
        self._wake.set()
        await self._tasks.aclose()
