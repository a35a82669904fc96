"""A per-peer rate and a total concurrency cap in front of a libp2p stream handler.

py-libp2p's DHT, relay, DCUtR and AutoNAT handlers bound message sizes (and
the DHT its concurrency) but not how often one peer may open streams. The
gate wraps the handler a service registered: over its rate, or with too many
streams in flight, the stream is reset before the service reads a byte.
The bucket table is bounded (idle-longest evicted), as in
``vault/services/ratelimit.py``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from libp2p.custom_types import TProtocol

__all__ = ["Gate", "gate_handler"]

logger = logging.getLogger(__name__)


class Gate:
    """Token buckets per peer (``burst`` then ``rate``/s) and ``max_active`` streams in total.

    ``max_seconds`` bounds how long one admitted stream may hold its slot.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_active: int,
        max_peers: int = 4096,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        #: A stream still open after this long is reset, freeing its slot (None: no bound).
        self.max_seconds = max_seconds
        self.expired = 0
        self.burst = burst
        self.max_active = max_active
        self.max_peers = max_peers
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.active = 0
        self.refused = 0

    def admit(self, peer: str) -> bool:
        if self.active >= self.max_active:
            self.refused += 1
            return False
        now = self._clock()
        tokens, then = self._buckets.pop(peer, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        ok = tokens >= 1.0
        self._buckets[peer] = (tokens - 1.0 if ok else tokens, now)
        while len(self._buckets) > self.max_peers:
            self._buckets.popitem(last=False)
        if not ok:
            self.refused += 1
        return ok

    def __len__(self) -> int:
        return len(self._buckets)


def gate_handler(host: Any, protocol: str, gate: Gate) -> None:
    """Wrap the handler registered for ``protocol`` on ``host`` with ``gate``."""
    handlers = host.get_mux().handlers
    inner: Callable[[Any], Awaitable[None]] | None = handlers.get(TProtocol(protocol))
    if inner is None:
        raise RuntimeError(f"no handler registered for {protocol}")
    handler = inner

    async def gated(stream: Any) -> None:
        peer = str(stream.muxed_conn.peer_id)
        if not gate.admit(peer):
            logger.debug("refusing a %s stream from %s: over its limit", protocol, peer)
            with trio.move_on_after(1):
                try:
                    await stream.reset()
                except Exception:
                    logger.debug("reset failed", exc_info=True)
            return
        gate.active += 1
        try:
            if gate.max_seconds is None:
                await handler(stream)
                return
            with trio.move_on_after(gate.max_seconds) as scope:
                await handler(stream)
            if scope.cancelled_caught:
                gate.expired += 1
                logger.debug("resetting a %s stream from %s: open too long", protocol, peer)
                with trio.move_on_after(1):
                    try:
                        await stream.reset()
                    except Exception:
                        logger.debug("reset failed", exc_info=True)
        finally:
            gate.active -= 1

    host.set_stream_handler(TProtocol(protocol), gated)
