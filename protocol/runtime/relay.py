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

Three py-libp2p 0.8.1 bugs are worked around here (regression tests in
``tests/protocol/runtime/test_reach.py``):

* ``_handle_reserve`` takes the reserving peer from the message's ``peer`` field
  when present, so anyone could reserve (and squat) a slot *for another peer id*.
  We reserve for the Noise-authenticated peer of the stream, always.
* ``Reservation.data_used`` is never reset while a reservation is refreshed, so
  ``data`` is a lifetime cap and a busy vault becomes unreachable for good.
  We open a new window (``data_used = 0``) when a refresh comes after
  ``reservation_ttl_s``; ``data=0`` must never be passed (upstream reads it as
  "no bytes at all", not "unlimited").
* ``CircuitV2Protocol._active_relays`` is a dict keyed by *peer id*: each
  circuit stores its streams under its source's and its destination's peer id,
  and when a circuit ends, ``_relay_data``'s ``finally`` closes whatever is
  stored under those ids *now*, which is the streams of the peer's most recent
  other circuit. So when one business left a relay-only vault, the relay cut
  another business's circuit to the same vault (and an intent node ending a
  negotiation cut the winner's circuit to the vault: its next read failed with
  a stream reset in multistream-select). :class:`_Circuits` keys the same dict
  by (peer id, circuit), the circuit being a context variable that
  :meth:`_Hop._handle_connect` sets and trio's child tasks inherit, and drops a
  circuit's entries when its handler returns (upstream never removes the
  entry of a circuit whose STOP failed).
"""

from __future__ import annotations

import itertools
import time
from contextvars import ContextVar
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


#: The circuit the running HOP CONNECT handler serves (0: none). Set by
#: :meth:`_Hop._handle_connect`; the two ``_relay_data`` tasks it starts inherit it.
_circuit: ContextVar[int] = ContextVar("kluis_relay_circuit", default=0)


class _Circuits(dict[tuple[Any, int], tuple[Any, Any]]):
    """Upstream's ``_active_relays``, keyed by (peer id, circuit) instead of peer id.

    Upstream only uses ``d[peer] = ...``, ``peer in d``, ``d[peer]``, ``del d[peer]``,
    ``values()`` and ``clear()``; the first four now see the current circuit's entry only.
    """

    def __setitem__(self, peer: Any, value: tuple[Any, Any]) -> None:
        super().__setitem__((peer, _circuit.get()), value)

    def __getitem__(self, peer: Any) -> tuple[Any, Any]:
        return super().__getitem__((peer, _circuit.get()))

    def __delitem__(self, peer: Any) -> None:
        super().__delitem__((peer, _circuit.get()))

    def __contains__(self, peer: object) -> bool:
        return super().__contains__((peer, _circuit.get()))

    def forget(self, circuit: int) -> None:
        """Drop what one circuit left behind (its streams are closed or never relayed)."""
        for key in [k for k in self.keys() if k[1] == circuit]:
            super().__delitem__(key)


class _Hop(CircuitV2Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._circuits = _Circuits()
        # Same operations, a different key inside (upstream annotates it dict[ID, ...]).
        self._active_relays = self._circuits  # type: ignore[assignment]
        self._circuit_ids = itertools.count(1)

    async def _handle_connect(self, stream: Any, msg: Any) -> None:
        # One circuit per CONNECT: its streams are its own, not its peers' (module doc).
        circuit = next(self._circuit_ids)
        token = _circuit.set(circuit)
        try:
            await super()._handle_connect(stream, msg)
        finally:
            _circuit.reset(token)
            self._circuits.forget(circuit)

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
