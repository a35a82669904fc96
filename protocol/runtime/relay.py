"""The relay side of circuit relay v2 (``kluis relay``): py-libp2p's HOP, with kluis limits.

Limits (documented in docs/deployment.md, "Relay limits"); sized so that a
scoped read (a few KiB), a subscription (one long stream, small pushes) and a
negotiation (a few dozen frames) all fit many times over, while one relay on a
small server cannot be made to carry bulk traffic:

* ``duration_s`` — one relayed connection lives at most this long (2 h). A
  subscription over a relay that outlives it is cut and must be resumed; DCUtR
  normally moves it to a direct connection long before.
* ``data_bytes`` — bytes one reserved peer may receive through the relay per
  reservation window (``reservation_ttl_s``), both directions, all circuits.
* ``max_circuits`` — relayed connections to one reserved peer at once.
* ``max_reservations`` — reserved peers in total.

Two py-libp2p 0.8.1 bugs are worked around here (regression tests in
``tests/protocol/runtime/test_reach.py``):

* ``_handle_reserve`` takes the reserving peer from the message's ``peer`` field
  when present, so anyone could reserve (and squat) a slot *for another peer id*.
  We reserve for the Noise-authenticated peer of the stream, always.
* ``Reservation.data_used`` is never reset while a reservation is refreshed, so
  ``data`` is a lifetime cap and a busy vault becomes unreachable for good.
  We open a new window (``data_used = 0``) when a refresh comes after
  ``reservation_ttl_s``; ``data=0`` must never be passed (upstream reads it as
  "no bytes at all", not "unlimited").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits as _UpstreamLimits
from libp2p.relay.circuit_v2.resources import RelayResourceManager

__all__ = ["RelayLimits", "RelayService"]


@dataclass(frozen=True, slots=True)
class RelayLimits:
    duration_s: int = 2 * 3600
    data_bytes: int = 64 * 1024 * 1024
    max_circuits: int = 16
    max_reservations: int = 512
    reservation_ttl_s: int = 3600

    def __post_init__(self) -> None:
        for name in ("duration_s", "data_bytes", "max_circuits", "max_reservations"):
            if getattr(self, name) <= 0:  # data=0 kills every circuit (upstream bug)
                raise ValueError(f"relay limit {name} must be positive")
        if self.reservation_ttl_s < 600:
            raise ValueError("relay reservation_ttl_s must be at least 600")

    def upstream(self) -> _UpstreamLimits:
        return _UpstreamLimits(
            duration=self.duration_s,
            data=self.data_bytes,
            max_circuit_conns=self.max_circuits,
            max_reservations=self.max_reservations,
            reservation_ttl=self.reservation_ttl_s,
        )


class _Resources(RelayResourceManager):
    def refresh_reservation(self, peer_id: Any) -> int:
        existing = self._reservations.get(peer_id)
        if (
            existing is not None
            and time.time() - existing.created_at >= self.limits.reservation_ttl
        ):
            existing.created_at = time.time()
            existing.data_used = 0  # a new window: data is a rate, not a lifetime cap
        return super().refresh_reservation(peer_id)


class _Hop(CircuitV2Protocol):
    async def _handle_reserve(self, stream: Any, msg: Any) -> None:
        # Reserve for the authenticated peer only (upstream trusts msg.peer.id).
        msg.peer.id = stream.muxed_conn.peer_id.to_bytes()
        await super()._handle_reserve(stream, msg)


class RelayService:
    """HOP + STOP with kluis limits; :attr:`protocol` is the libp2p service to run."""

    def __init__(self, host: Any, limits: RelayLimits) -> None:
        self.limits = limits
        self.protocol = _Hop(host, limits=limits.upstream(), allow_hop=True)
        self.protocol.resource_manager = _Resources(limits.upstream(), host)

    def summary(self) -> dict[str, int]:
        res = self.protocol.resource_manager._reservations
        now = time.time()
        return {
            "reservations": sum(1 for r in res.values() if r.expires_at > now),
            "circuits": sum(r.active_connections for r in res.values()),
        }
