"""``BusinessNode``: the business side as a long-running service, built on the requester SDK.

::

    async with BusinessNode.start(home, passphrase, listen=[...], control_port=0,
                                  offers=Path("offers.toml")) as bn:
        bn.biz                     # the vault.requester.Requester it runs on
        bn.holder.held()           # grant ids whose subscription is open
        await bn.contact(grant_id, "service", "Your bike is ready")

Start order, and why (the vault node's shape, :mod:`vault.node.boss`):

1. the :class:`~vault.requester.Requester` opens the store under its lock (so a
   second node, or a one-shot command, cannot write beside it) and starts the
   libp2p node. From then on a vault's revoke notice (``/kluis/access``) and an
   erasure request (``/kluis/deliver``) are answered *at once* by the SDK: the
   copy is deleted, the key destroyed, the signed receipt sent;
2. the offer agent when offer rules or an agent module are given
   (:mod:`vault.business.offer_rules`); it attaches gossipsub before the
   node dials anyone, so bootstrap peers are dialled by it;
3. the :class:`~vault.business.holder.SubscriptionHolder`: one held subscription
   per live grant, re-established after network loss or a vault restart;
4. the control API (:mod:`vault.business.api`), which writes ``control.url`` and
   ``control.token`` last, so their presence means "ready".

Each step's undo is registered as it succeeds (:mod:`protocol.lifecycle`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol import ContactCategory
from protocol.clock import Clock, now_ms
from protocol.lifecycle import Service, Steps, opener
from protocol.listen import DEFAULT_LISTEN
from vault.business.api import BusinessControl
from vault.business.holder import SubscriptionHolder
from vault.requester import OfferAgent, Requester
from vault.store.leases import DEFAULT_TTL

__all__ = ["BusinessNode"]

log = logging.getLogger(__name__)

#: Seconds between looks for grants that arrived without passing through this node
#: (an agreement, a decision collected by the SDK elsewhere, another worker's grant).
REFRESH_INTERVAL = 5.0


class BusinessNode(Service):
    """A running business node: ``async with BusinessNode.start(...)``."""

    def __init__(self, home: Path, biz: Requester) -> None:
        self.home = home
        self.biz = biz
        self.holder = SubscriptionHolder(biz)
        self.control: BusinessControl | None = None
        self.offer_agent: OfferAgent | None = None
        self.offer_categories: list[str] = []
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    @opener
    async def start(
        cls,
        home: Path | str,
        passphrase: str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        reach: Any = None,
        control_port: int | None = 0,
        clock: Clock = now_ms,
        offers: Path | None = None,
        agent: str | None = None,
        retention_interval: float | None = 60.0,
        store: str | None = None,
        worker: str | None = None,
        worker_ttl: float = DEFAULT_TTL,
    ) -> BusinessNode:
        """Open the business store, serve, hold subscriptions; ``control_port=None``: no API.

        ``store="postgresql://..."`` keeps the book in PostgreSQL; with ``worker``
        (a name unique among the workers) this node is one of several worker
        processes on that store and holds only its leased share of the vaults
        (D28), taking over a dead worker's share within ``worker_ttl`` plus a third.
        """
        folder = Path(home)
        if worker is not None and store is None:
            raise ValueError("workers share a PostgreSQL store: give store='postgresql://...'")
        answering = offers is not None or agent is not None
        async with Steps() as steps:
            biz = await Requester.open(
                folder,
                passphrase,
                create=False,
                listen=list(listen),
                bootstrap=[] if answering else list(bootstrap),
                mdns=mdns,
                reach=reach,
                clock=clock,
                retention_interval=retention_interval,
                store=store,
            )
            steps.undo(biz.close, "close the requester")
            self = cls(folder, biz)
            if worker is not None:
                share = await biz.join_workers(worker, ttl=worker_ttl)
                share.watchers.append(self.holder.on_lease_change)
            if answering:
                from vault.business.offer_rules import start_offers

                self.offer_agent, self.offer_categories = await start_offers(
                    biz, offers=offers, agent=agent, bootstrap=bootstrap
                )
                steps.undo(self.offer_agent.close, "stop the offer agent")
            await self.holder.start()
            steps.undo(self.holder.aclose, "release the subscriptions")
            self._refresher = asyncio.create_task(self._refresh_loop(), name="grant refresh")
            steps.undo(self._stop_refresh, "stop looking for grants")
            if control_port is not None:
                self.control = BusinessControl(self, folder, port=control_port)
                await self.control.start()
                steps.undo(self.control.stop, "stop the control API")
            biz.vault.audit.append("business.start", {"addrs": len(biz.addrs)})
            steps.undo(lambda: biz.vault.audit.append("business.stop"), "audit the stop")
            self._adopt(steps)
        return self

    async def _refresh_loop(self) -> None:
        seen = -1
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            try:
                if self.biz.share is not None:  # other workers write grants too (D28)
                    version = self.biz.vault.store.data_version()
                    if version != seen:
                        self.biz.book.reload()
                        seen = self.biz.vault.store.data_version()
                self.holder.refresh()
            except Exception:
                log.exception("looking for new grants failed")

    async def _stop_refresh(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)

    # -- what the node does for the CLI and the API ------------------------------------------

    @property
    def peer_id(self) -> str:
        return self.biz.peer_id

    @property
    def addrs(self) -> list[str]:
        return self.biz.addrs

    @property
    def store_label(self) -> str:
        """``sqlite``, or the PostgreSQL store as ``postgresql://host:port/dbname``."""
        return self.biz.store_label

    @property
    def worker(self) -> str | None:
        """This node's worker name on a shared PostgreSQL store, else None."""
        share = self.biz.share
        return None if share is None else share.leases.worker

    @property
    def control_url(self) -> str | None:
        return self.control.url if self.control is not None else None

    async def contact(
        self,
        grant_id: str,
        category: ContactCategory | str,
        subject: str,
        body: str = "",
        *,
        mailing_id: str | None = None,
        queue: bool = False,
    ) -> str:
        """Send a contact message within the customer's terms; counted per mailing.

        The SDK counts it (``biz.yields``: sent, or refused by code; D43).
        """
        return await self.biz.contact(
            grant_id, category, subject, body, mailing_id=mailing_id, queue=queue
        )

    async def close(self) -> None:
        await super().close()

    def __repr__(self) -> str:
        return f"BusinessNode({self.peer_id}, {self.home})"
