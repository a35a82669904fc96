"""How many bytes of unfinished frames peers can make this node hold.

A frame's length prefix is checked before its payload is buffered, so one
stream holds at most one frame (``max_frame_size``) of partial data. That is
not enough: 80 peers x 32 streams x a half-sent 64 KiB frame is 160 MiB the
node keeps for as long as the peers like. :class:`BufferBudget` bounds the
bytes held in partial frames **per peer** and **in total**; a stream whose
next read would go over either bound is reset (the peer sees "it broke") and
its bytes are released at once.

The budget counts what our codecs hold (``codec.buffered``), updated after
every read and every decoded frame; the muxer's own receive window (yamux:
256 KiB per stream) sits below it and is bounded by the streams-per-peer cap.
"""

from __future__ import annotations

from typing import Final

from .._exceptions import ConnectionBroken

__all__ = [
    "MAX_BUFFERED_PER_PEER",
    "MAX_BUFFERED_TOTAL",
    "BufferBudget",
]

#: Partial-frame bytes one peer's inbound streams may hold together: four
#: maximum-size frames in flight at once, which no honest requester needs.
MAX_BUFFERED_PER_PEER: Final = 256 * 1024
#: Partial-frame bytes all peers together may hold: 64 peers at their cap.
MAX_BUFFERED_TOTAL: Final = 16 * 1024 * 1024


class BufferBudget:
    """Partial-frame bytes held, per peer and in total; refuses growth past the caps."""

    __slots__ = ("_per_peer", "_total", "per_peer_limit", "total_limit")

    def __init__(
        self, per_peer: int = MAX_BUFFERED_PER_PEER, total: int = MAX_BUFFERED_TOTAL
    ) -> None:
        self.per_peer_limit = per_peer
        self.total_limit = total
        self._per_peer: dict[str, int] = {}
        self._total = 0

    @property
    def total(self) -> int:
        return self._total

    def held_by(self, peer: str) -> int:
        return self._per_peer.get(peer, 0)

    def update(self, peer: str, before: int, after: int) -> None:
        """One stream of ``peer`` went from holding ``before`` to ``after`` bytes.

        Growth past a cap raises :class:`~protocol.ConnectionBroken` *without* recording it: the
        caller resets the stream and then releases ``before``."""
        delta = after - before
        mine = self._per_peer.get(peer, 0) + delta
        if delta > 0:
            if mine > self.per_peer_limit:
                raise ConnectionBroken(
                    f"peer holds {mine} unfinished bytes; the limit is {self.per_peer_limit}"
                )
            if self._total + delta > self.total_limit:
                raise ConnectionBroken(
                    f"peers hold {self._total + delta} unfinished bytes;"
                    f" the limit is {self.total_limit}"
                )
        self._total += delta
        if mine > 0:
            self._per_peer[peer] = mine
        else:
            self._per_peer.pop(peer, None)
