"""Holding every live subscription open while the business node runs.

One task per grant that allows ``subscribe``: it iterates the SDK's
:meth:`~vault.requester.Requester.subscribe` (which already re-subscribes when a
stream breaks, ``vault/requester/_resubscribe.py``). If even that gives up (the
vault is down for longer than the SDK's retries), the holder waits and starts
again, with a backoff capped at :data:`MAX_BACKOFF` seconds, until the grant
is revoked, expired or the node stops. A revocation ends the iteration cleanly:
by then the SDK has deleted the copy and sent the receipt.

With several workers on one PostgreSQL store (D28) a worker holds only the
subscriptions of the vaults whose shards it leases (``Local.owns``): when a
lease tick gains shards it takes their grants up (:meth:`refresh`), when it
loses shards it lets their subscriptions go (:meth:`release_unowned`).

What the holders saw is kept as :class:`Activity` (paths and versions only,
never values) in a bounded ring, for the API and the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from protocol import AccessDenied, Action, KluisError
from protocol.lifecycle import Background
from vault.requester import GrantStatus, Requester

__all__ = ["MAX_ACTIVITY", "Activity", "SubscriptionHolder"]

log = logging.getLogger(__name__)

#: Seconds between tries after a subscription could not be restored, at most.
MAX_BACKOFF = 30.0
#: Activity entries kept (the oldest fall off).
MAX_ACTIVITY = 1000


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing a holder saw: ``kind`` is update, revoked, lost or held."""

    at: int
    kind: str
    grant_id: str
    path: str = ""
    version: int = 0


class SubscriptionHolder:
    """Keeps one subscription per live grant; :meth:`refresh` picks up new grants."""

    def __init__(self, biz: Requester, *, first_backoff: float = 1.0) -> None:
        self.biz = biz
        self.first_backoff = first_backoff
        self.activity: deque[tuple[int, Activity]] = deque(maxlen=MAX_ACTIVITY)
        self._seq = 0
        self._held: dict[str, asyncio.Task[None]] = {}
        self._connected: set[str] = set()
        self._tasks = Background("subscription holder")

    async def start(self) -> None:
        await self._tasks.start()
        self.refresh()

    async def aclose(self) -> None:
        for task in self._held.values():
            task.cancel()
        await self._tasks.aclose(grace=1.0)

    def held(self) -> list[str]:
        """Grant ids whose subscription is open right now."""
        return sorted(g for g in self._held if g in self._connected)

    def holding(self, grant_id: str) -> bool:
        return grant_id in self._held

    def owns(self, grant_id: str) -> bool:
        """Whether this worker acts for the grant's vault (always, without workers)."""
        return self.biz.local.owns(self.biz.grant_info(grant_id).vault_peer)

    def release_unowned(self) -> int:
        """Let go of the subscriptions of vaults another worker now leases; how many."""
        gone = [g for g in self._held if not self.owns(g)]
        for grant_id in gone:
            self._held[grant_id].cancel()
        return len(gone)

    def on_lease_change(self, change: object) -> None:
        """A lease tick gained or lost shards: drop what is no longer ours, take up the rest."""
        del change  # the ownership test reads the leases themselves
        self.release_unowned()
        self.refresh()

    def refresh(self) -> int:
        """Start holders for live grants that have none; how many were started."""
        started = 0
        owns = self.biz.local.owns
        for info in self.biz.grants():
            if info.grant_id in self._held or info.status != GrantStatus.ACTIVE:
                continue
            if not owns(info.vault_peer):
                continue
            if Action.SUBSCRIBE not in self.biz.handle(info.grant_id).actions:
                continue
            try:
                task = self._tasks.spawn(self._hold(info.grant_id), name="hold subscription")
            except RuntimeError:  # closing
                return started
            self._held[info.grant_id] = task
            started += 1
        return started

    def _note(self, kind: str, grant_id: str, path: str = "", version: int = 0) -> None:
        self._seq += 1
        self.activity.append((self._seq, Activity(self.biz.now(), kind, grant_id, path, version)))

    def numbered(self) -> list[tuple[int, Activity]]:
        """The activity kept, each with its sequence number (for ``?after=``)."""
        return list(self.activity)

    async def _hold(self, grant_id: str) -> None:
        backoff = self.first_backoff
        try:
            while self.biz.grant_info(grant_id).status == GrantStatus.ACTIVE and self.owns(
                grant_id
            ):
                try:

                    def acked(grant_id: str = grant_id) -> None:  # the vault said yes
                        if grant_id not in self._connected:
                            self._connected.add(grant_id)
                            self._note("held", grant_id)

                    async for update in self.biz.subscribe(grant_id, on_subscribed=acked):
                        backoff = self.first_backoff
                        self._note("update", grant_id, update.path, update.version)
                    self._note("revoked", grant_id)
                    return
                except AccessDenied as exc:  # revoked/expired: the SDK has acted on it
                    self._note(exc.code.value, grant_id)
                    return
                except (KluisError, TimeoutError, OSError) as exc:
                    self._connected.discard(grant_id)
                    self._note("lost", grant_id)
                    log.info(
                        "subscription %s lost (%s); again in %.0fs",
                        grant_id,
                        type(exc).__name__,
                        backoff,
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            self._connected.discard(grant_id)
            with contextlib.suppress(KeyError):
                del self._held[grant_id]
