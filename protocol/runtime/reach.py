"""Reach: finding a node by its peer id, through NAT, with py-libp2p's own parts.

One :class:`Reach` per :class:`~protocol.runtime.Node` (when the node is
given a :class:`ReachConfig`) wires, on the node's trio side:

* **Kademlia DHT** (``libp2p.kad_dht`` on ``/kluis/kad/1.0.0``, not the IPFS
  DHT's id: see :mod:`._dht_fix`), for *peer routing only*: every node looks
  itself up through its bootstrap peers, so they hold its signed peer record
  (libp2p's envelope, checked against the sender on receipt), and
  ``find_peer`` finds it; a lookup keeps only addresses from signed records.
  What a peer can store in our DHT is capped at nothing: value and provider
  records are refused (py-libp2p's ``enable_values=False`` is not enforced by
  its handler, so the stores themselves refuse), and the routing table and
  peerstore are bounded by libp2p (k-buckets, 1,000 peers).
* **Circuit relay v2** (``libp2p.relay.circuit_v2``): every node answers STOP
  (so it can be reached through a relay); a node that AutoNAT does not find
  public keeps one reservation on one of its relays and advertises
  ``<relay>/p2p-circuit`` addresses, and moves to the next relay when that one
  goes away. A ``kluis relay`` also serves HOP, with :class:`RelayLimits`.
* **DCUtR** (``dcutr.py``): both ends try to upgrade a relayed connection to a
  direct one by hole punching.
* **AutoNAT** (``libp2p.host.autonat``): asks the relays to dial back.

Every one of these handlers sits behind a :class:`~._gate.Gate` (per-peer rate,
total concurrency; a DHT stream also a lifetime, D49); message sizes are
bounded by libp2p (DHT 4 MiB lowered to 64 KiB here, relay and DCUtR 4 KiB,
AutoNAT 64 KiB).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import multiaddr
import trio
from libp2p.host.autonat.autonat import AUTONAT_PROTOCOL_ID, AutoNATService, AutoNATStatus
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.dcutr import PROTOCOL_ID as DCUTR_PROTOCOL
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import STOP_PROTOCOL_ID
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

from .._exceptions import ConnectError
from . import _dht_fix
from . import addrs as _addrs
from ._gate import Gate, gate_handler
from .relay import RelayLimits, RelayService

__all__ = ["DHT_PROTOCOL", "Reach", "ReachConfig", "RelayLimits"]

logger = logging.getLogger(__name__)

DHT_PROTOCOL: Final = str(_dht_fix.KLUIS_DHT_PROTOCOL)
#: Seconds between checks of the reservation, the bootstrap links and reachability.
TICK_S: Final = 1.0
AUTONAT_EVERY_S: Final = 300.0
REFRESH_EVERY_S: Final = 600.0
#: After its first announce, a node announces itself again after these intervals, then
#: every REFRESH_EVERY_S. A node's announce reaches the peers closest to it *then*; when
#: many nodes join together (a network starting, everyone after a relay restart), the
#: closest peers come later and would not know it for 10 minutes (D47).
ANNOUNCE_AGAIN_S: Final = (30.0, 120.0)
#: DHT streams a relay serves at once (a vault: 12); each holds at most one 64 KiB message.
RELAY_DHT_IN_FLIGHT: Final = 96
#: Seconds an inbound DHT stream may stay open (D49). A kluis DHT stream carries one
#: FIND_NODE and its answer (milliseconds); upstream's own client gives up after 10 s.
#: py-libp2p 0.8.1's handler (``KadDHT.handle_stream``) instead reads the next message
#: with no deadline, holding one of its 12 inbound slots (``_inbound_limiter``) until
#: the peer closes the stream or the connection; a client whose lookup is cancelled
#: (``move_on_after`` around a lookup) never closes it: ``_query_peer_for_closest``'s
#: ``finally: await stream.close()`` runs in the cancelled scope and is cancelled too.
#: Twelve such streams and a DHT server resets every DHT stream for as long as those
#: connections live; at 100 nodes both relays were in that state within a minute.
DHT_STREAM_MAX_S: Final = 10.0
#: Re-reserve this long before a reservation expires.
RESERVE_MARGIN_S: Final = 300.0

Reachability = Literal["unknown", "public", "private"]


@dataclass(frozen=True, slots=True)
class ReachConfig:
    """How a node makes itself findable and finds others (``config.toml [network]``).

    ``relays``: relay multiaddrs (with ``/p2p/<id>``); empty means "the bootstrap
    peers" (a ``kluis relay`` is both). ``reserve``: ``auto`` reserves when
    AutoNAT does not say we are public, ``always``/``never`` force it.
    ``serve_relay`` makes this node a relay (``kluis relay``) with those limits.
    """

    bootstrap: tuple[str, ...] = ()
    relays: tuple[str, ...] = ()
    reserve: Literal["auto", "always", "never"] = "auto"
    dht_server: bool = False
    serve_relay: RelayLimits | None = None
    dial_timeout: float = 5.0
    lookup_timeout: float = 10.0
    hole_punch: bool = True
    announce_again: tuple[float, ...] = ANNOUNCE_AGAIN_S
    dht_stream_max_s: float = DHT_STREAM_MAX_S

    @classmethod
    def for_relay(cls, limits: RelayLimits, bootstrap: Sequence[str] = ()) -> ReachConfig:
        """What ``kluis relay`` runs: bootstrap peer, DHT server and circuit relay v2 (HOP)."""
        return cls(bootstrap=tuple(bootstrap), dht_server=True, serve_relay=limits, reserve="never")


@dataclass(slots=True)
class _Reservation:
    addr: str  # the relay's address, ending in /p2p/<relay>
    relay: ID
    expires: float
    since: float = field(default_factory=time.time)


class _NoRecords:
    """Stands in for the DHT's value/provider *acceptance*: a peer can store nothing here."""

    @staticmethod
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError("this DHT stores no records")


class Reach:
    """The reach services of one node. Built by :class:`~protocol.runtime.Node`; trio-side."""

    def __init__(self, host: Any, config: ReachConfig) -> None:
        _dht_fix.install()
        self.host = host
        self.config = config
        self._relays = [a for a in (config.relays or config.bootstrap) if "/p2p/" in a]
        self.reservation: _Reservation | None = None
        self.reachability: Reachability = "unknown"
        self.relay_service: RelayService | None = None
        self.lookups = 0
        self.announces = 0
        self._cursor = 0
        self._stopped = trio.Event()
        self._scope = trio.CancelScope()
        self.dht = KadDHT(
            host,
            DHTMode.SERVER if config.dht_server else DHTMode.CLIENT,
            enable_providers=False,
            enable_values=False,
        )
        self.dht.value_store.put = _NoRecords.refuse  # type: ignore[method-assign]
        self.dht.value_store.put_record = _NoRecords.refuse  # type: ignore[method-assign]
        self.dht.provider_store.add_provider = _NoRecords.refuse  # type: ignore[method-assign]
        if config.serve_relay is not None:
            self.relay_service = RelayService(host, config.serve_relay)
            self.circuit: Any = self.relay_service.protocol
        else:
            from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol

            self.circuit = CircuitV2Protocol(host, allow_hop=False)  # answers STOP
        # STOP only: RelayRole.CLIENT would reserve before every dial (see the prototype).
        self.transport = CircuitV2Transport(host, self.circuit, RelayConfig(roles=RelayRole.STOP))
        self.dcutr = DCUtRProtocol(host) if config.hole_punch else None
        self.autonat = AutoNATService(host, serve=config.serve_relay is not None, confirmations=1)
        self.gates: dict[str, Gate] = {}
        _addrs.advertise_circuits(host, self.circuits)

    # -- what we advertise ------------------------------------------------------------

    def circuits(self) -> list[str]:
        r = self.reservation
        return [f"{r.addr}/p2p-circuit"] if r is not None else []

    def status(self) -> dict[str, Any]:
        r = self.reservation
        return {
            "reachability": self.reachability,
            "relay": r.addr if r is not None else None,
            "dht_peers": self.dht.get_routing_table_size(),
            "lookups": self.lookups,
            "refused_streams": sum(g.refused for g in self.gates.values()),
            "expired_streams": sum(g.expired for g in self.gates.values()),
        }

    # -- lifecycle (trio) ---------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run every service until the node closes; started once they are registered."""
        try:
            with self._scope:
                async with AsyncExitStack() as stack:
                    await stack.enter_async_context(background_trio_service(self.circuit))
                    await stack.enter_async_context(background_trio_service(self.dht))
                    if self.dcutr is not None:
                        await stack.enter_async_context(background_trio_service(self.dcutr))
                        with trio.fail_after(5):
                            await self.dcutr.event_started.wait()
                    self._install_gates()
                    async with trio.open_nursery() as nursery:
                        task_status.started()
                        nursery.start_soon(self._keep_up)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._scope.cancel()
        with trio.move_on_after(5):
            await self._stopped.wait()

    def _install_gates(self) -> None:
        # (protocol, per-peer rate/s, burst, streams in flight in total, seconds each)
        relay = self.config.serve_relay is not None
        dht_in_flight = RELAY_DHT_IN_FLIGHT if relay else 12
        plan: list[tuple[str, float, int, int, float | None]] = [
            # A relay is every node's bootstrap DHT server: a whole network's joins,
            # announces and lookups arrive at it at once, and 12 in flight refused
            # most of them at 200 nodes (D47). Per peer, the rate is the same.
            # An idle DHT stream is reset after dht_stream_max_s (D49).
            (DHT_PROTOCOL, 5.0, 20, dht_in_flight, self.config.dht_stream_max_s),
            (str(STOP_PROTOCOL_ID), 2.0, 10, 32, None),
            (DCUTR_PROTOCOL, 0.5, 3, 8, None),
        ]
        if relay:
            plan += [
                (str(HOP_PROTOCOL), 1.0, 5, 64, None),
                (AUTONAT_PROTOCOL_ID, 0.2, 2, 16, None),
            ]
        # py-libp2p 0.8.1's DHT handler has its own cap of 12 (``_inbound_limiter``) and
        # silently resets what is over it: a relay's 96 never applied (D49). One limit,
        # ours, which counts what it refuses.
        self.dht._inbound_limiter.total_tokens = dht_in_flight
        handlers = self.host.get_mux().handlers
        for protocol, rate, burst, active, seconds in plan:
            if protocol in handlers:
                gate = Gate(rate, burst, max_active=active, max_seconds=seconds)
                self.gates[protocol] = gate
                gate_handler(self.host, protocol, gate)

    # -- keeping findable ------------------------------------------------------------------

    async def _keep_up(self) -> None:
        """Join the DHT, keep a reservation when needed, re-check now and then."""
        last_autonat = next_announce = -1e9
        again = list(self.config.announce_again)
        while True:
            joined = await self._join()
            now = time.monotonic()
            if joined and now - last_autonat > AUTONAT_EVERY_S:
                last_autonat = now
                await self._check_reachability()
            if joined and now >= next_announce:
                await self._announce()
                next_announce = time.monotonic() + (again.pop(0) if again else REFRESH_EVERY_S)
            changed = await self._keep_reservation()
            if changed:
                await self._announce()
            await trio.sleep(TICK_S)

    async def _join(self) -> bool:
        """Connected to at least one bootstrap peer, and it is in the routing table."""
        network = self.host.get_network()
        joined = False
        for addr in self.config.bootstrap:
            with contextlib.suppress(Exception):
                info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
                if not network.connections.get(info.peer_id):
                    with trio.move_on_after(self.config.dial_timeout):
                        await self.host.connect(info)
                if network.connections.get(info.peer_id):
                    joined = True
                    if not self.dht.routing_table.peer_in_table(info.peer_id):
                        await self.dht.add_peer(info.peer_id)
        return joined

    async def _announce(self) -> None:
        """Look ourselves up: the closest peers learn our (new) signed record."""
        self.announces += 1
        with trio.move_on_after(self.config.lookup_timeout):
            with contextlib.suppress(Exception):
                await self.dht.peer_routing.find_closest_peers_network(
                    self.host.get_id().to_bytes()
                )

    async def _check_reachability(self) -> None:
        servers = [
            info_from_p2p_addr(multiaddr.Multiaddr(a)).peer_id
            for a in self._relays
            if not a.endswith(str(self.host.get_id()))
        ]
        connected = [s for s in servers if self.host.get_network().connections.get(s)]
        if not connected:
            return
        with trio.move_on_after(self.config.dial_timeout * 2):
            status = await self.autonat.check_reachability(connected)
            found: dict[int, Reachability] = {
                AutoNATStatus.PUBLIC: "public",
                AutoNATStatus.PRIVATE: "private",
            }
            self.reachability = found.get(status, "unknown")

    def _wants_relay(self) -> bool:
        if self.config.serve_relay is not None or not self._relays:
            return False
        if self.config.reserve == "auto":
            return self.reachability != "public"
        return self.config.reserve == "always"

    async def _keep_reservation(self) -> bool:
        """Keep one live reservation; True when the advertised circuit changed."""
        current = self.reservation
        if not self._wants_relay():
            self.reservation = None
            return current is not None
        if current is not None:
            live = bool(self.host.get_network().connections.get(current.relay))
            fresh = current.expires - time.time() > RESERVE_MARGIN_S
            if live and fresh:
                return False
            if live and await self._reserve_at(current.addr):  # refresh in place
                return False
            logger.info("relay %s is gone; moving to another", current.relay)
            self.reservation = None
        count = len(self._relays)
        for step in range(count):
            addr = self._relays[(self._cursor + step) % count]
            if current is not None and addr == current.addr:
                continue  # the one that just failed: try the others first
            if await self._reserve_at(addr):
                self._cursor = (self._cursor + step) % count
                return True
        if current is not None and await self._reserve_at(current.addr):
            return True
        return current is not None

    async def _reserve_at(self, addr: str) -> bool:
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        except Exception:
            return False
        try:
            with trio.fail_after(self.config.dial_timeout):
                await self.host.connect(info)
                stream = await self.host.new_stream(info.peer_id, [HOP_PROTOCOL])
                try:
                    ok = await self.transport._make_reservation(stream, info.peer_id)
                finally:
                    with contextlib.suppress(Exception):
                        await stream.close()
        except (trio.TooSlowError, Exception) as exc:
            logger.debug("reservation at %s failed: %s", addr, type(exc).__name__)
            return False
        if not ok:
            return False
        expires = float(self.transport._reservations.get(info.peer_id, 0) or time.time() + 3600)
        base = addr.split("/p2p/")[0] + f"/p2p/{info.peer_id}"
        self.reservation = _Reservation(base, info.peer_id, expires)
        logger.info("reserved a slot at relay %s", info.peer_id)
        return True

    # -- finding and dialling others ---------------------------------------------------

    async def connect(self, peer: ID, hints: list[multiaddr.Multiaddr]) -> str:
        """Connect to ``peer``: given addresses, then known ones, then a DHT lookup.

        Returns how: ``"connected"`` (already), ``"direct"`` or ``"relayed"``.
        """
        if self.host.get_network().connections.get(peer):
            return "connected"
        known = _known_addrs(self.host, peer)
        how = await self._dial(peer, _dedupe([*hints, *known]))
        if how is not None:
            return how
        found = await self.lookup(peer)
        how = await self._dial(peer, found)
        if how is None:
            raise ConnectError(f"could not reach {peer}: no address worked")
        return how

    async def lookup(self, peer: ID) -> list[multiaddr.Multiaddr]:
        """Ask the DHT for ``peer``'s current addresses (stale ones are forgotten first)."""
        self.lookups += 1
        peerstore = self.host.get_peerstore()
        with contextlib.suppress(Exception):
            peerstore.clear_addrs(peer)
        with contextlib.suppress(Exception):
            self.dht.routing_table.remove_peer(peer)
        await self._join()
        info: PeerInfo | None = None
        with trio.move_on_after(self.config.lookup_timeout):
            with contextlib.suppress(Exception):
                info = await self.dht.find_peer(peer)
        found = list(info.addrs) if info is not None else []
        return _dedupe([*found, *_known_addrs(self.host, peer)])

    async def _dial(self, peer: ID, candidates: list[multiaddr.Multiaddr]) -> str | None:
        direct = [a for a in candidates if not _addrs.is_circuit(str(a))]
        relayed = [a for a in candidates if _addrs.is_circuit(str(a))]
        if direct:
            with trio.move_on_after(self.config.dial_timeout):
                with contextlib.suppress(Exception):
                    await self.host.connect(PeerInfo(peer, direct))
                    return "direct"
        for addr in relayed:
            text = str(addr)
            if not text.endswith(f"/p2p/{peer}"):
                addr = addr.encapsulate(multiaddr.Multiaddr(f"/p2p/{peer}"))
            with trio.move_on_after(self.config.dial_timeout * 2):
                with contextlib.suppress(Exception):
                    await self.transport.dial(addr)
                    return "relayed"
        return None

    def path_to(self, peer: ID) -> str | None:
        """``"direct"`` or ``"relayed"``: how we are connected to ``peer`` now (None: not)."""
        conns = self.host.get_network().connections.get(peer) or []
        if not conns:
            return None
        for conn in conns:
            with contextlib.suppress(Exception):
                if not any(_addrs.is_circuit(str(a)) for a in conn.get_transport_addresses()):
                    if not _is_relayed(conn):
                        return "direct"
        return "relayed"


def _is_relayed(conn: Any) -> bool:
    with contextlib.suppress(Exception):
        return "RELAY" in str(conn.get_connection_type()).upper()
    return False


def _known_addrs(host: Any, peer: ID) -> list[multiaddr.Multiaddr]:
    try:
        return list(host.get_peerstore().addrs(peer))
    except Exception:  # PeerStoreError: never heard of it
        return []


def _dedupe(addrs: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
    seen: set[str] = set()
    out = []
    for addr in addrs:
        if str(addr) not in seen:
            seen.add(str(addr))
            out.append(addr)
    return out
