"""Finding peers: bootstrap addresses from config, and mDNS on the LAN.

* **Bootstrap** – each configured multiaddr is dialled in the background when the
  node starts. A failure is logged and is not fatal: a vault must start even when
  its bootstrap peers are offline.
* **mDNS** – libp2p's built-in discovery (:mod:`libp2p.discovery.mdns`) puts
  peers it hears about into the peerstore, so ``node.request(peer_id, ...)`` can
  dial them by id. We drive it ourselves instead of passing ``enable_mDNS=True``
  to ``new_host``: the host would call zeroconf's *blocking* API from inside the
  trio guest, which is the asyncio loop's thread, and zeroconf refuses that
  (``EventLoopBlocked``), so registration silently failed. Start and stop run in
  a worker thread instead. Its listener reports through a process-wide
  singleton, *from zeroconf's own thread*, so we hop onto the asyncio loop with
  ``call_soon_threadsafe`` before touching any state.

Subscribers get ``callback(peer_id, addrs)`` on the asyncio loop, once per newly
discovered peer (and again when its address list changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any, Protocol

from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.discovery.mdns.mdns import MDNSDiscovery, create_mdns_discovery

__all__ = ["Discovery", "PeerCallback"]

logger = logging.getLogger(__name__)

PeerCallback = Callable[[str, list[str]], object]


class _Dialer(Protocol):
    @property
    def peer_id(self) -> str: ...

    @property
    def libp2p_host(self) -> Any: ...

    async def connect(self, addr: str) -> str: ...


class Discovery:
    """Bootstrap dialling, the mDNS hook and the table of discovered peers for one node."""

    def __init__(
        self,
        node: _Dialer,
        *,
        bootstrap: list[str],
        mdns: bool,
        on_peer: PeerCallback | None = None,
    ) -> None:
        self._node = node
        self._loop = asyncio.get_running_loop()
        self._bootstrap = list(bootstrap)
        self._mdns = mdns
        self._peers: dict[str, list[str]] = {}
        self._callbacks: list[PeerCallback] = [on_peer] if on_peer is not None else []
        self._tasks: set[asyncio.Task[None]] = set()
        self._mdns_service: MDNSDiscovery | None = None
        self._stopped = False

    async def start(self) -> None:
        for addr in self._bootstrap:
            task = self._loop.create_task(self._dial_bootstrap(addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._mdns:
            peerDiscovery.register_peer_discovered_handler(self._on_mdns)
            try:
                self._mdns_service = await asyncio.to_thread(self._start_mdns)
            except Exception as exc:  # no multicast here: keep running without it
                logger.warning("mDNS unavailable: %s", type(exc).__name__)

    def _start_mdns(self) -> MDNSDiscovery:
        host = self._node.libp2p_host
        service = create_mdns_discovery(host.get_network(), host=host)
        service.broadcaster.register()
        return service

    async def stop(self) -> None:
        self._stopped = True
        if self._mdns:
            peerDiscovery.unregister_peer_discovered_handler(self._on_mdns)
        for task in list(self._tasks):
            task.cancel()
        service, self._mdns_service = self._mdns_service, None
        if service is not None:
            try:
                await asyncio.to_thread(service.stop)
            except Exception:
                logger.debug("stopping mDNS failed", exc_info=True)

    def snapshot(self) -> dict[str, list[str]]:
        return {peer: list(addrs) for peer, addrs in self._peers.items()}

    def subscribe(self, callback: PeerCallback) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def _dial_bootstrap(self, addr: str) -> None:
        try:
            peer = await self._node.connect(addr)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The address is config, not a secret; the reason is the error's type.
            logger.warning("bootstrap peer %s unreachable: %s", addr, type(exc).__name__)
            return
        logger.info("connected to bootstrap peer %s", peer)
        self._found(peer, [addr])

    def _on_mdns(self, info: Any) -> None:
        # Runs on zeroconf's thread (or wherever libp2p emits): hop to our loop.
        try:
            peer = str(info.peer_id)
            addrs = [str(a) for a in info.addrs]
        except Exception:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are gone too
            self._loop.call_soon_threadsafe(self._found, peer, addrs)

    def _found(self, peer: str, addrs: list[str]) -> None:
        if self._stopped or peer == self._node.peer_id:
            return
        known = self._peers.get(peer)
        merged = sorted(set(known or []) | set(addrs))
        if known is not None and merged == sorted(known):
            return
        self._peers[peer] = merged
        for callback in list(self._callbacks):
            try:
                result = callback(peer, list(merged))
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                logger.exception("peer discovery callback failed")
