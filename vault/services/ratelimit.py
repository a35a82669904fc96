"""Per-peer rate limits: one abusive peer cannot starve the others.

A token bucket per peer id. Each peer gets ``burst`` requests at once and
``rate`` more per second after that. Buckets are independent, so a flood from
one peer empties only that peer's bucket.

The table of buckets is itself bounded (``max_peers``): a peer controls how
many identities it makes, so past the cap we evict the bucket idle longest.
An evicted peer comes back with a full bucket, which costs the attacker a new
Noise handshake per identity; that is the cheapest bound that cannot be used to
lock honest peers out.

The clock is injected so tests are deterministic.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from protocol import RateLimited

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by peer id."""

    def __init__(
        self,
        rate: float = 200.0,
        burst: int = 100,
        *,
        max_peers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_peers < 1:
            raise ValueError("rate, burst and max_peers must be positive")
        self.rate = rate
        self.burst = burst
        self.max_peers = max_peers
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def try_acquire(self, peer_id: str, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens from the peer's bucket; False if it has too few."""
        now = self._clock()
        bucket = self._buckets.get(peer_id)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[peer_id] = bucket
            while len(self._buckets) > self.max_peers:
                self._buckets.popitem(last=False)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(peer_id)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return True
        return False

    def acquire(self, peer_id: str, cost: float = 1.0) -> None:
        """Like :meth:`try_acquire`, but raise :class:`RateLimited` when over budget."""
        if not self.try_acquire(peer_id, cost):
            raise RateLimited("too many requests; slow down")

    def __len__(self) -> int:
        return len(self._buckets)
