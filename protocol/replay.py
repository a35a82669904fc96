"""Replay protection for signed messages: a nonce is good once, inside a time window.

A signed message carries ``nonce`` (random) and ``ts`` (the sender's clock, ms).
:class:`ReplayGuard` accepts it only if ``ts`` is within ``window_ms`` of our
clock, either side, and the ``(peer, nonce)`` pair has not been seen. A nonce
need only be remembered until its ``ts`` leaves the window: after that the
timestamp check alone refuses it. That bounds memory by the message rate, and
two hard caps bound it absolutely:

* per peer (:data:`~protocol.limits.MAX_NONCES_PER_PEER`), so one peer cannot
  fill the table and make us refuse everyone else;
* in total (:data:`~protocol.limits.MAX_NONCES_TOTAL`), so minting peer ids
  does not help either.

When a cap is reached the guard refuses (``RateLimited``) rather than forget a
live nonce: forgetting would re-open the replay it exists to stop.

The clock is injected (milliseconds since the epoch), so tests need no sleeping.
"""

from __future__ import annotations

import heapq

from . import limits
from ._exceptions import RateLimited, ReplayError
from .clock import Clock, now_ms

__all__ = ["ReplayGuard"]


class ReplayGuard:
    """Remembers nonces per peer for one replay window. Not thread-safe; one per node loop."""

    def __init__(
        self,
        window_ms: int = limits.REPLAY_WINDOW_MS,
        max_nonces: int = limits.MAX_NONCES_TOTAL,
        clock: Clock = now_ms,
        *,
        max_nonces_per_peer: int = limits.MAX_NONCES_PER_PEER,
    ) -> None:
        if window_ms <= 0 or max_nonces_per_peer <= 0 or max_nonces <= 0:
            raise ValueError("window and caps must be positive")
        self.window_ms = window_ms
        self.max_nonces_per_peer = max_nonces_per_peer
        self.max_nonces = max_nonces
        self._clock = clock
        self._seen: dict[str, dict[str, int]] = {}  # peer -> nonce -> expiry (ms)
        self._expiries: list[tuple[int, str, str]] = []  # heap of (expiry, peer, nonce)

    def __len__(self) -> int:
        return len(self._expiries)

    def check(self, peer_id: str, nonce: str, ts_ms: int) -> None:
        """Accept (and remember) this nonce, or raise.

        Raises :class:`~protocol.ReplayError` for a timestamp outside the window
        or a nonce this peer already used, and :class:`~protocol.RateLimited` if
        the peer (or everyone together) has used up the guard's memory.
        """
        now = self._clock()
        if abs(now - ts_ms) > self.window_ms:
            raise ReplayError("timestamp outside the accepted window")
        self._evict(now)
        peer = self._seen.get(peer_id)
        if peer is not None and nonce in peer:
            raise ReplayError("nonce already used")
        if peer is not None and len(peer) >= self.max_nonces_per_peer:
            raise RateLimited("too many signed messages from this peer in the replay window")
        if len(self._expiries) >= self.max_nonces:
            raise RateLimited("too many signed messages in the replay window")
        expiry = ts_ms + self.window_ms
        self._seen.setdefault(peer_id, {})[nonce] = expiry
        heapq.heappush(self._expiries, (expiry, peer_id, nonce))

    def _evict(self, now: int) -> None:
        # An entry may go once its ts is outside the window: ts + window < now.
        heap = self._expiries
        while heap and heap[0][0] < now:
            _, peer_id, nonce = heapq.heappop(heap)
            peer = self._seen.get(peer_id)
            if peer is not None:
                peer.pop(nonce, None)
                if not peer:
                    del self._seen[peer_id]
