"""Getting signed deletion receipts to the vault, until it acknowledges each one.

A receipt is made (and stored, unacknowledged) in the same transaction as the
deletion it proves (:mod:`._revocation`). This module only carries it: one send
per grant at a time, in the requester's task group; a send that fails leaves
the receipt pending, and :meth:`ReceiptSender.send_pending` (run by the retention
sweep, and callable directly) tries every pending one again.
"""

from __future__ import annotations

import asyncio
import logging

from protocol import ACCESS_GRAMMAR, Ack, Error, KluisError
from protocol.lifecycle import Background
from vault.requester._link import CALL_TIMEOUT, VaultLink
from vault.requester._local import Local

__all__ = ["ReceiptSender"]

log = logging.getLogger(__name__)


class ReceiptSender:
    """The requester's outgoing deletion receipts."""

    def __init__(self, local: Local, link: VaultLink, tasks: Background) -> None:
        self._local = local
        self._link = link
        self._tasks = tasks
        self._sending: dict[str, asyncio.Task[bool | None]] = {}

    def schedule(self, grant_id: str) -> None:
        """Send ``grant_id``'s receipt in the background (unless a send is under way)."""
        if self._link.node is None or not self._tasks.running:
            return
        task = self._sending.get(grant_id)
        if task is None or task.done():
            self._sending[grant_id] = self._tasks.spawn(
                self._send(grant_id), name=f"receipt {grant_id}"
            )

    async def deliver(self, grant_id: str) -> bool:
        """Send ``grant_id``'s receipt now (joining a send already under way); acked?"""
        self.schedule(grant_id)
        task = self._sending.get(grant_id)
        if task is None:
            return False
        return bool(await asyncio.shield(task))

    async def send_pending(self) -> int:
        """(Re)send every receipt owed to a vault this worker holds; how many got through."""
        if self._link.node is None:
            return 0
        book = self._local.book
        pending = [
            r.grant_id
            for r in book.grants()
            if r.receipt and not r.receipt_acked and self._local.owns(r.vault_peer)
        ]
        results = await asyncio.gather(*(self.deliver(g) for g in pending))
        return sum(1 for ok in results if ok)

    async def drain(self) -> None:
        """Wait until the sends under way have finished (tests and shutdown)."""
        tasks = [t for t in self._sending.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, grant_id: str) -> bool:
        local = self._local
        rec = local.book.grant(grant_id)
        receipt = rec.receipt
        if receipt is None or rec.receipt_acked:
            return rec.receipt_acked
        try:
            reply = await self._link.call(
                rec.vault_peer, rec.vault_addr, ACCESS_GRAMMAR, receipt, CALL_TIMEOUT
            )
        except (KluisError, TimeoutError) as exc:
            log.info("deletion receipt for %s not delivered yet: %s", grant_id, exc)
            return False
        if isinstance(reply, Ack):  # the state machine checked it acknowledges this receipt
            with local.transaction():
                local.book.put_grant(local.book.grant(grant_id).evolve(receipt_acked=True))
                local.audit.append(
                    "requester.receipt",
                    {"grant_id": grant_id, "receipt_id": receipt.receipt_id, "acked": True},
                )
            return True
        code = reply.code.value if isinstance(reply, Error) else reply.type
        log.warning("the vault did not accept the deletion receipt for %s: %s", grant_id, code)
        return False
