"""Live updates for a dashboard: one poller on an audit head, one event stream per open tab.

Both dashboards (the owner's and the business's) change only through audited
acts, so "something changed" is "the audit head moved". One task per dashboard
looks at the head every :data:`POLL_SECONDS` while a tab listens, and puts one
event (the new head, the kinds of the entries since, and the dashboard's own
snapshot: counts for badges) on each open stream's queue. A page script swaps in
the new page content on an event; the stream sends nothing personal.

Bounds: :data:`MAX_STREAMS` open streams (each a browser tab; more get a 503),
:data:`MAX_QUEUED` events per stream (a stalled tab misses events, and the next
one it gets carries the latest head, so it still catches up). Closing the feed
wakes every stream so the server can stop; a cancelled stream (a shutdown)
stays cancelled, while a browser that went away ends its stream quietly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from vault.store.audit import AuditLog

__all__ = ["MAX_QUEUED", "MAX_STREAMS", "AuditFeed"]

log = logging.getLogger(__name__)
#: Seconds between looks at the audit head; a comment line keeps idle streams open.
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
#: Open event streams at most (each is a browser tab), and events queued per stream.
MAX_STREAMS = 32
MAX_QUEUED = 16

Event = dict[str, Any]


class AuditFeed:
    """Server-sent events for one dashboard, fed by its audit log's head."""

    def __init__(self, audit: Callable[[], AuditLog], snapshot: Callable[[], Event]) -> None:
        self._audit = audit
        self._snapshot = snapshot
        self.listeners: set[asyncio.Queue[Event]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The ``/events`` answer, for a request the dashboard has already let in."""
        if len(self.listeners) >= MAX_STREAMS:
            return web.Response(status=503, text="too many open dashboard pages; close some")
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.listeners.add(queue)
        try:
            hello = json.dumps(self._snapshot())
            await resp.write(f"retry: 2000\nevent: hello\ndata: {hello}\n\n".encode())
            while not self._closing.is_set():
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if event.get("close"):
                    break
                await resp.write(f"event: change\ndata: {json.dumps(event)}\n\n".encode())
        except ConnectionResetError:
            pass  # the browser went away; a cancellation (shutdown) propagates
        finally:
            self.listeners.discard(queue)
        return resp

    async def close(self) -> None:
        """Wake every open stream so it ends, and stop the poller."""
        self._closing.set()
        for queue in list(self.listeners):
            queue.put_nowait({"close": True})
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we were cancelled too, not only the poller: pass it on
            except Exception:
                log.exception("dashboard live updates")

    async def _poll(self) -> None:
        audit = self._audit()
        seen, _ = audit.head()
        while not self._closing.is_set():
            await asyncio.sleep(POLL_SECONDS)
            try:
                head, _ = audit.head()
                if head == seen:
                    continue
                kinds = sorted({e.kind for e in audit.entries(seen + 1, head + 1)})
                seen = head
                event = {"seq": head, "kinds": kinds, **self._snapshot()}
            except Exception:
                log.exception("dashboard live updates")
                continue
            for queue in list(self.listeners):
                if queue.qsize() < MAX_QUEUED:
                    queue.put_nowait(event)
