"""A subscription that outlives its connection: re-subscribe, and catch up on what was missed.

A subscription is one long stream. It breaks when its connection does: a relay
ends every relayed connection at its duration limit (2 h by default,
docs/deployment.md "Relay limits"), a relay dies, the vault restarts or moves.
The business should not have to notice: :func:`resilient` re-dials the vault
(by peer id, so through the DHT and a relay if needed), subscribes again, and
then reads the subscribed fields once so that a change made while no stream
was open is still yielded, as an :class:`~protocol.Update` built from the read.

It gives up (re-raising the transport error) only after :data:`GIVE_UP_AFTER_S`
without a working subscription; refusals (:class:`~protocol.AccessDenied`) and
the revocation end the iteration at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from protocol import TransportError, Update

__all__ = ["GIVE_UP_AFTER_S", "resilient"]

log = logging.getLogger(__name__)

#: First pause before re-subscribing; doubled per failed try up to MAX_PAUSE_S.
FIRST_PAUSE_S: Final = 0.2
MAX_PAUSE_S: Final = 30.0
#: A subscription that cannot be restored for this long raises its last error.
GIVE_UP_AFTER_S: Final = 600.0

#: ``once(catch_up, subscribed)``: one subscription stream; it calls ``subscribed()``
#: once the vault acknowledged it and, with ``catch_up``, first yields what changed
#: since the local copy (see ``Requester._subscribe_once``).
Once = Callable[[bool, Callable[[], None]], AsyncIterator[Update]]


async def resilient(once: Once, forget_connection: Callable[[], None]) -> AsyncIterator[Update]:
    """Yield from ``once`` until it ends; on a broken transport, subscribe again."""
    catch_up = False
    pause = FIRST_PAUSE_S
    broken_since: float | None = None

    def subscribed() -> None:
        nonlocal broken_since, pause
        broken_since, pause = None, FIRST_PAUSE_S

    while True:
        try:
            async for update in once(catch_up, subscribed):
                yield update
            return  # revoked: the stream ended cleanly
        except TransportError as exc:
            now = time.monotonic()
            broken_since = now if broken_since is None else broken_since
            if now - broken_since > GIVE_UP_AFTER_S:
                raise
            log.info("subscription broke (%s); subscribing again", type(exc).__name__)
            forget_connection()
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)
            catch_up = True


def missed(
    grant_id: str, before: dict[str, int], after: dict[str, Any], now_ms: int
) -> list[Update]:
    """Updates for what differs between the copy's versions ``before`` and a read ``after``."""
    out: list[Update] = []
    for path, record in sorted(after.items()):
        if record.version > before.get(path, 0):
            out.append(
                Update(
                    grant_id=grant_id,
                    path=path,
                    value=record.value,
                    version=record.version,
                    ts=record.updated_at or now_ms,
                )
            )
    for path in sorted(set(before) - set(after)):
        out.append(
            Update(grant_id=grant_id, path=path, deleted=True, version=before[path] + 1, ts=now_ms)
        )
    return out
