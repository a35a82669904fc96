"""This worker's share of the vault relationships, when several workers share one store.

With a PostgreSQL store (D28), :meth:`Requester.join_workers
<vault.requester.Requester.join_workers>` starts this loop: it ticks the
worker's :class:`~vault.store.leases.Leases` every ``ttl / 3`` seconds and,
whenever the worker gains shards (at start, or when it takes over from a worker
that died), reloads the book (another worker wrote those grants) and sends
every deletion receipt still owed to those vaults. The retention sweep and the
receipt resends act only for the vaults this worker holds (:meth:`Local.owns
<vault.requester._local.Local.owns>`), so two workers never delete the same
grant's data twice or sign two receipts for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from vault._exceptions import StorageError
from vault.store.leases import LeaseChange, Leases

__all__ = ["WorkerShare"]

log = logging.getLogger(__name__)


class WorkerShare:
    """The lease loop of one worker; ``on_gain`` runs after every tick that gained shards."""

    def __init__(self, leases: Leases, on_gain: Callable[[LeaseChange], Awaitable[None]]) -> None:
        self.leases = leases
        self._on_gain = on_gain
        #: Ticks run so far (tests and status pages watch it).
        self.ticks = 0
        #: Called after every tick that gained or lost shards, after ``on_gain``
        #: (the business node's subscription holder takes up or lets go of vaults).
        self.watchers: list[Callable[[LeaseChange], None]] = []

    def owns(self, vault_peer: str) -> bool:
        return self.leases.owns(vault_peer)

    async def tick(self) -> LeaseChange:
        change = await asyncio.to_thread(self.leases.tick)
        self.ticks += 1
        if change.gained or change.lost:
            log.info(
                "worker %s: +%d -%d shards, %d held",
                self.leases.worker, len(change.gained), len(change.lost), len(change.owned),
            )  # fmt: skip
        if change.gained:
            await self._on_gain(change)
        if change.gained or change.lost:
            for watch in list(self.watchers):
                try:
                    watch(change)
                except Exception:
                    log.exception("worker %s: a lease watcher failed", self.leases.worker)
        return change

    async def run(self) -> None:
        """Tick until cancelled; a failed tick (database away) is logged and retried."""
        while True:
            try:
                await self.tick()
            except StorageError as exc:
                log.warning("worker %s: lease tick failed: %s", self.leases.worker, exc)
            await asyncio.sleep(self.leases.interval)

    async def close(self) -> None:
        """Hand the leases back at once (a clean stop needs no failover wait)."""
        await asyncio.to_thread(self.leases.release)
        await asyncio.to_thread(self.leases.close)
