"""``Requester``: the business side of ``/kluis/access/1.0.0``, as an HTTP-client-like SDK.

::

    async with Requester.open(home, passphrase, listen=["/ip4/0.0.0.0/tcp/4001"]) as biz:
        pending = await biz.request(vault_addr, fields=["contact.email", "address.home.*"],
                                    purpose="ServiceProvision", purpose_text="deliver your bike",
                                    days=30, retention_days=0,
                                    offer=Offer(description="10% off", value_cents=500))
        grant = await pending.decision(timeout=60)       # AccessDenied(code=denied) if refused
        data = await biz.read(grant)                      # {path: value}, also kept sealed
        async for update in biz.subscribe(grant):         # ends when the owner revokes
            ...

(``biz = await Requester.open(...)`` works too; then :meth:`Requester.close` it.)

The business's own identity, store and audit log are a kluis :class:`~vault.Vault`
in ``home`` (same key hierarchy, sealed records, hash-chained audit), created
on first use. While open, a libp2p node serves ``/kluis/access/1.0.0`` so that
the vault can deliver revoke notices to it, and ``/kluis/deliver/1.0.0`` for
queued deliveries. Every exchange with a vault, both ways, runs through the
h11-style state machine of its protocol's grammar (:mod:`protocol.connection`).

This class is the front door; each promise it keeps lives in a module of its own:

==================  ==========================================================
``_asking``         the signed request, the long-poll, the verified grant
``_reading``        reads, subscriptions, and the sealed copy they feed
``_revocation``     **the revocation contract** (read it: what a business can
                    rely on when a grant is revoked or its retention runs out)
``_receipts``       getting signed deletion receipts to the vault
``_contact``        messages to the customer under the contact rules
``_delivery``       store-and-forward deliveries and erasure
``_link``           the node, and the vaults it has dialled
``_local``          the store, the book, the sealed copies, the clock
==================  ==========================================================

Errors: a vault's error reply becomes :class:`protocol.AccessDenied` (with the
vault's ``code``), :class:`protocol.RateLimited` or :class:`protocol.RemoteError`;
transport failures are the runtime's :class:`protocol.TransportError` subclasses.

Time (``clock``, integer ms) is injectable. It stamps signed messages too, so
against a real vault use the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from protocol import (
    ACCESS_GRAMMAR,
    AccessDenied,
    AccessRequest,
    Action,
    ContactCategory,
    ContactPolicy,
    DeletionReceipt,
    ErasureReceipt,
    FieldRecord,
    FieldValue,
    Grant,
    Identity,
    Offer,
    PurposeCode,
    TransportError,
    Update,
    new_id,
)
from protocol.clock import Clock, now_ms
from protocol.lifecycle import Background, Service, Steps, opener
from protocol.listen import DEFAULT_LISTEN
from vault.home.lock import VaultLock
from vault.home.paths import VaultPaths
from vault.requester._asking import Asking
from vault.requester._book import LocalBook, RequestRecord
from vault.requester._contact import ContactQueue, send_contact
from vault.requester._copies import SealedCopies, enable_secure_delete
from vault.requester._delivery import DeliveryEndpoint
from vault.requester._handles import GrantHandle, GrantInfo, PendingRequest
from vault.requester._link import CALL_TIMEOUT, VaultLink
from vault.requester._local import GrantRef, Local
from vault.requester._profile import OwnProfile
from vault.requester._reading import Reader
from vault.requester._receipts import ReceiptSender
from vault.requester._revocation import Revocation
from vault.requester._share import WorkerShare
from vault.requester._yield import YieldBook
from vault.store.crypto import Rng
from vault.store.leases import DEFAULT_TTL, LeaseChange, Leases
from vault.store.vault import Vault

__all__ = ["Requester"]

log = logging.getLogger(__name__)

#: Seconds between retention sweeps (and receipt retries) while the requester runs.
DEFAULT_RETENTION_INTERVAL = 60.0
#: The stream muxer this node prefers; as the dialling side it picks the muxer of
#: its connections to vaults. yamux, because with mplex (the runtime's default)
#: frames a vault pushes on a subscription stream are not delivered while the
#: requester is waiting in ``receive()`` (reported to the runtime's owner).
MUXER = "yamux"
#: Seconds the background tasks (receipt sends) get to finish when closing.
CLOSE_GRACE = 5.0
#: Vault connections one business process may hold open (each held subscription
#: needs one). py-libp2p's default is 256; a worker's share of a large business's
#: vaults is bounded by its own relationships, not by what peers send it.
MAX_VAULT_CONNECTIONS = 16_384


class Requester(Service):
    """A business's node and store: ``async with Requester.open(...)`` (or create, ephemeral).

    See :mod:`vault.requester._revocation` for the revocation and retention contract.
    """

    def __init__(self, home: Path, vault: Vault, *, clock: Clock, rng: Rng) -> None:
        self.home = home
        self.vault = vault
        self.local = Local(vault, clock, rng)
        self.book: LocalBook = self.local.book
        self.copies: SealedCopies = self.local.copies
        #: True if the store's SQLite connection overwrites deleted content.
        self.secure_delete = enable_secure_delete(vault)
        self.link = VaultLink()
        self._tasks = Background("requester")
        self.receipt_sender = ReceiptSender(self.local, self.link, self._tasks)
        self.revocation = Revocation(self.local, self.receipt_sender)
        #: Store-and-forward: HPKE key, queued deliveries, erasure (:mod:`._delivery`).
        self.delivery = DeliveryEndpoint(self)
        self.asking = Asking(
            self.local, self.link, lambda: self.delivery.public_hex, lambda: self.profile.get()
        )
        self.reader = Reader(self.local, self.link, self.revocation, self.receipt_sender)
        #: Contact messages waiting for an unreachable vault (:class:`._contact.ContactQueue`).
        self.contacts_out = ContactQueue(self)
        #: Contact yield per mailing: sent, read, muted, blocked (:mod:`._yield`, D43).
        self.yields = YieldBook(vault, self.now)
        self._retention: asyncio.Task[Any] | None = None
        #: The signed business profile sent with every access request (:mod:`._profile`).
        self.profile = OwnProfile(vault)
        #: The PostgreSQL store's URL (None: SQLite in ``home``); never logged.
        self._store_url: str | None = None
        #: This worker's share of the vaults, once it :meth:`join_workers` (D28).
        self.share: WorkerShare | None = None

    # -- ways in -------------------------------------------------------------------

    @classmethod
    @opener
    async def open(
        cls,
        home: Path | str,
        passphrase: str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        network: bool = True,
        create: bool = True,
        clock: Clock = now_ms,
        rng: Rng = os.urandom,
        retention_interval: float | None = DEFAULT_RETENTION_INTERVAL,
        reach: Any = None,
        store: str | None = None,
    ) -> Requester:
        """Unlock the business store in ``home`` (made with :meth:`create` if missing) and start.

        ``store="postgresql://..."`` keeps the book (requests, grants, sealed
        copies, receipts owed, outbox) in PostgreSQL, shared by several worker
        processes; ``home`` keeps the keyfile and this worker's high-water mark
        (decision D28). Without it the book is ``home/vault.db`` (SQLite).

        ``network=False`` opens the store only (no libp2p node: local queries,
        retention). ``retention_interval=None`` turns the periodic sweep off.
        ``reach`` (a :class:`protocol.runtime.reach.ReachConfig`) lets it find
        vaults by bare peer id through the DHT and reach them through relays.
        """
        mode: Literal["open", "auto"] = "auto" if create else "open"
        return await cls._boot(
            home, passphrase, mode, listen, bootstrap, mdns, network, clock, rng,
            retention_interval, reach, store,
        )  # fmt: skip

    @classmethod
    @opener
    async def create(
        cls,
        home: Path | str,
        passphrase: str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        network: bool = True,
        clock: Clock = now_ms,
        rng: Rng = os.urandom,
        retention_interval: float | None = DEFAULT_RETENTION_INTERVAL,
        store: str | None = None,
    ) -> Requester:
        """Make a new business store (fresh identity) in ``home`` and start (never overwrites).

        ``store``: a ``postgresql://`` URL for the book, as in :meth:`open`.
        """
        return await cls._boot(
            home, passphrase, "create", listen, bootstrap, mdns, network, clock, rng,
            retention_interval, None, store,
        )  # fmt: skip

    @classmethod
    @opener
    async def ephemeral(
        cls,
        tmpdir: Path | str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        network: bool = True,
        clock: Clock = now_ms,
        retention_interval: float | None = DEFAULT_RETENTION_INTERVAL,
    ) -> Requester:
        """A throwaway requester in ``tmpdir`` with a random passphrase (scripts and tests)."""
        return await cls._boot(
            Path(tmpdir) / "kluis-business", secrets.token_urlsafe(24), "create", listen, (),
            False, network, clock, os.urandom, retention_interval,
        )  # fmt: skip

    @classmethod
    async def _boot(
        cls,
        home: Path | str,
        passphrase: str,
        mode: Literal["open", "create", "auto"],
        listen: Sequence[str],
        bootstrap: Sequence[str],
        mdns: bool,
        network: bool,
        clock: Clock,
        rng: Rng,
        retention_interval: float | None,
        reach: Any = None,
        store: str | None = None,
    ) -> Requester:
        """Lock, unlock, start the node, then the background tasks; each undone on failure."""
        folder = Path(home)
        async with Steps() as steps:
            lock = VaultLock(folder)
            lock.acquire()
            steps.undo(lock.release, "release the business store's lock")
            if mode == "create" or (mode == "auto" and not VaultPaths(folder).exists()):
                vault = await asyncio.to_thread(
                    Vault.create, folder, passphrase, clock=clock, rng=rng, store=store
                )
            else:
                vault = await asyncio.to_thread(
                    Vault.open, folder, passphrase, clock=clock, rng=rng, store=store
                )
            steps.undo(vault.close, "close the business store")
            self = cls(folder, vault, clock=clock, rng=rng)
            self._store_url = store
            if network:
                from protocol.runtime import Node

                node = await Node.start(
                    vault.identity,
                    listen=list(listen),
                    bootstrap=list(bootstrap),
                    mdns=mdns,
                    muxer=MUXER,
                    reach=reach,
                    max_outbound_connections=MAX_VAULT_CONNECTIONS,
                )
                steps.undo(node.close, "stop the libp2p node")
                self.link.node = node
            await self._tasks.start()
            steps.undo(self._stop_tasks, "stop the background tasks")
            if self.link.node is not None:
                self.link.node.set_frame_handler(ACCESS_GRAMMAR, self.revocation.handle)
                self.delivery.start()
            if retention_interval is not None:
                self._retention = self._tasks.spawn(
                    self._retention_loop(retention_interval), name="retention sweep"
                )
            self._adopt(steps)
        return self

    async def _stop_tasks(self) -> None:
        """End the sweep, give receipt sends a few seconds, cancel what is left."""
        if self._retention is not None:
            self._retention.cancel()
        await self._tasks.aclose(grace=CLOSE_GRACE)
        if self.share is not None:
            share, self.share = self.share, None
            await share.close()

    # -- several workers on one store (D28) -------------------------------------------------

    async def join_workers(self, worker: str, *, ttl: float = DEFAULT_TTL) -> WorkerShare:
        """Share this PostgreSQL store's vault relationships with the other workers.

        From now on this process acts (resends receipts, sweeps retention) only
        for the vaults whose shards it leases; it takes over a dead worker's
        shards within ``ttl`` plus a third of it, and then sends every receipt
        that worker still owed. Returns after the first claim. ``worker`` names
        this process uniquely among the workers (a host name and pid will do).
        """
        if self._store_url is None:
            raise ValueError("workers share a PostgreSQL store: open with store='postgresql://...'")
        if self.share is not None:
            raise ValueError(f"already working as {self.share.leases.worker!r}")
        leases = await asyncio.to_thread(Leases, self._store_url, worker, ttl=ttl)
        share = WorkerShare(leases, self._took_over)
        self.local.owns = share.owns
        self.share = share
        await share.tick()
        self._tasks.spawn(share.run(), name=f"worker {worker}")
        return share

    @property
    def store_label(self) -> str:
        """``sqlite``, or ``postgresql://host:port/dbname`` (never the user or password)."""
        if self._store_url is None:
            return "sqlite"
        from vault.store.pgdb import safe_label

        return safe_label(self._store_url)

    async def _took_over(self, change: LeaseChange) -> None:
        """New shards: read what the other workers wrote, then keep their promises."""
        del change  # the whole book is reloaded; the filters pick the owned vaults
        self.book.reload()
        self.revocation.expire_due(self.now())
        await self.receipt_sender.send_pending()

    async def close(self) -> None:
        """Finish receipt sends (briefly), stop the node, close the store. Idempotent."""
        await super().close()

    # -- identity --------------------------------------------------------------------

    @property
    def identity(self) -> Identity:
        return self.vault.identity

    @property
    def peer_id(self) -> str:
        return self.vault.peer_id

    @property
    def node(self) -> Any:
        """The libp2p node (``protocol.runtime.Node``), or None without the network."""
        return self.link.node

    @property
    def addrs(self) -> list[str]:
        """Listen multiaddrs ending in ``/p2p/<peer id>`` (empty without network)."""
        return list(self.node.addrs) if self.node is not None else []

    def now(self) -> int:
        return self.local.now()

    # -- asking for access (see ._asking) ----------------------------------------------------

    async def request(
        self,
        vault_addr: str,
        fields: Iterable[str],
        purpose: PurposeCode | str,
        purpose_text: str = "",
        *,
        days: int = 30,
        retention_days: int = 0,
        offer: Offer | None = None,
        actions: Iterable[Action | str] = (Action.READ, Action.SUBSCRIBE),
        timeout: float = CALL_TIMEOUT,
        contact: ContactPolicy | None = None,
    ) -> PendingRequest:
        """Send a signed access request to the vault at ``vault_addr``; returns at once.

        The vault may decide on the spot (the owner's rules); either way, call
        :meth:`PendingRequest.decision` for the outcome.
        """
        request = self.asking.record(
            vault_addr, fields, purpose, purpose_text, days=days,
            retention_days=retention_days, offer=offer, actions=actions, contact=contact,
        )  # fmt: skip
        await self.asking.send(request, vault_addr, timeout)
        return PendingRequest(self, request, vault_addr)

    def pending(self, request_id: str) -> PendingRequest:
        """The :class:`PendingRequest` for a request sent earlier (also by another process)."""
        rec = self.book.request(request_id)
        return PendingRequest(self, rec.request, rec.vault_addr)

    def requests(self) -> list[RequestRecord]:
        """Every access request this business sent, oldest first."""
        return self.book.requests()

    def verify_grant(self, grant: Grant, request: AccessRequest) -> None:
        """Refuse a grant not signed by the vault asked, not bound to us, or wider than asked."""
        self.asking.verify_grant(grant, request)

    # -- grants ---------------------------------------------------------------------------

    def handle(self, grant: GrantRef) -> GrantHandle:
        """The :class:`GrantHandle` of a locally held grant (by id or handle)."""
        rec = self.local.record(grant)
        return GrantHandle(rec.grant, rec.vault_addr)

    def grants(self) -> list[GrantInfo]:
        """Every grant this business holds or held, with its local status."""
        now = self.now()
        return [GrantInfo.of(rec, now) for rec in self.book.grants()]

    def grant_info(self, grant: GrantRef) -> GrantInfo:
        return GrantInfo.of(self.local.record(grant), self.now())

    def local_records(self, grant: GrantRef) -> dict[str, FieldRecord]:
        """What is stored for ``grant`` (with versions); empty once the data was deleted."""
        rec = self.local.record(grant)
        if rec.data_deleted or not self.copies.has_key(rec.grant_id):
            return {}
        return self.copies.load(rec.grant_id)

    def local_copy(self, grant: GrantRef) -> dict[str, FieldValue]:
        """What is stored for ``grant``, as ``{path: value}``; empty once deleted."""
        return {path: r.value for path, r in self.local_records(grant).items()}

    def receipts(self, grant: GrantRef | None = None) -> list[DeletionReceipt]:
        """The signed deletion receipts this business made (for one grant, or all)."""
        recs = [self.local.record(grant)] if grant is not None else self.book.grants()
        return [r.receipt for r in recs if r.receipt is not None]

    # -- reading and subscribing (see ._reading) -------------------------------------------

    async def read(
        self, grant: GrantRef, fields: Iterable[str] | None = None, *, timeout: float = CALL_TIMEOUT
    ) -> dict[str, FieldValue]:
        """Read granted fields (default: the whole grant) → ``{path: value}``.

        The values are also merged into the grant's sealed local copy. A
        revoked or ended grant raises :class:`protocol.AccessDenied` without a
        network call; see :mod:`._revocation` for what a refusal triggers.
        """
        records = await self.read_records(grant, fields, timeout=timeout)
        return {path: rec.value for path, rec in records.items()}

    async def read_records(
        self, grant: GrantRef, fields: Iterable[str] | None = None, *, timeout: float = CALL_TIMEOUT
    ) -> dict[str, FieldRecord]:
        """Like :meth:`read`, with each field's ``version`` and ``updated_at``."""
        return await self.reader.read(self.local.record(grant), fields, timeout)

    def subscribe(
        self,
        grant: GrantRef,
        fields: Iterable[str] | None = None,
        *,
        timeout: float = CALL_TIMEOUT,
        on_subscribed: Callable[[], None] | None = None,
    ) -> AsyncIterator[Update]:
        """Yield :class:`protocol.Update`\\ s for granted fields as the owner changes them.

        Each update is applied to the sealed local copy before it is yielded.
        The iteration ends cleanly when the vault revokes the grant (the
        revocation contract has run, receipt included, by then); it raises
        :class:`protocol.AccessDenied` on a refusal and the runtime's
        :class:`protocol.TransportError` only if the subscription cannot be
        restored: when the stream breaks (a relay's time limit, a vault that
        restarts or moves) it subscribes again and yields what changed
        meanwhile (``._resubscribe``). ``on_subscribed`` is called each time the
        vault has acknowledged the subscription (first, and after every restore).
        """
        return self.reader.subscribe(grant, fields, timeout, on_subscribed)

    # -- contact and erasure (see ._contact, ._delivery) ------------------------------------

    async def contact(
        self,
        grant: GrantRef,
        category: ContactCategory | str,
        subject: str,
        body: str = "",
        *,
        mailing_id: str | None = None,
        message_id: str | None = None,
        queue: bool = False,
    ) -> str:
        """Message the customer under a contact grant; the message id once accepted.

        Refusals raise :class:`protocol.AccessDenied` with the rule's code
        (``cap_exceeded``, ``quiet_hours``, ``category_refused``, ``blocked``…).
        A customer whose vault told us it muted this category (or the business)
        is not sent to: :class:`MutedByCustomer`, counted as ``muted`` on the
        mailing (D43). With ``queue=True`` a vault that cannot be reached does not raise: the
        message is kept (sealed) and sent, with the same id, by
        :meth:`flush_contacts` (run at start, and on every retention sweep).
        """
        mid = message_id or new_id()
        told = self.local.record(grant)
        self.yields.check_not_muted(mailing_id, told.vault_peer, str(category))  # D43
        try:
            done = await send_contact(
                self, grant, category, subject, body, mailing_id=mailing_id, message_id=mid
            )
        except AccessDenied as exc:
            self.yields.refused(mailing_id, exc.code.value)
            raise
        except (TransportError, TimeoutError):
            if not queue:
                raise
        else:
            rec = self.local.record(grant)
            self.yields.sent(mailing_id, done, rec.vault_peer, str(category))
            return done
        rec = self.local.record(grant)
        self.contacts_out.put(rec.grant_id, str(category), subject, body, mailing_id, mid)
        return mid

    async def flush_contacts(self) -> int:
        """Send queued contact messages (in order); how many the vault accepted."""
        return await self.contacts_out.flush()

    def erasure_receipts(self) -> list[ErasureReceipt]:
        """The signed erasure receipts this business has given."""
        return self.delivery.erasure_receipts()

    # -- retention and receipts (see ._revocation, ._receipts) ----------------------------

    async def enforce_retention(self, now: int | None = None) -> list[str]:
        """Delete data whose grant ended more than ``retention_days`` ago; send the receipts.

        Returns the ids of the grants whose data was deleted now. ``now``
        (integer ms) defaults to the requester's clock. ReceiptSender that cannot be
        delivered stay pending and are retried.
        """
        done = self.revocation.expire_due(self.now() if now is None else now)
        await self.receipt_sender.send_pending()
        return done

    async def send_receipts(self) -> int:
        """(Re)send every receipt the vault has not acknowledged; returns how many got through."""
        return await self.receipt_sender.send_pending()

    async def drain(self) -> None:
        """Wait until the receipt sends under way have finished (tests and shutdown)."""
        await self.receipt_sender.drain()

    async def _retention_loop(self, interval: float) -> None:
        while True:
            try:
                await self.enforce_retention()
                self.yields.prune_due()
                if self.contacts_out.pending():
                    await self.flush_contacts()
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(interval)

    def _spawn(self, coro: Any, name: str) -> None:
        """Run ``coro`` in the requester's task group (no-op once closing)."""
        try:
            self._tasks.spawn(coro, name=name)
        except RuntimeError:
            log.info("requester closing; %s not started", name)

    def __repr__(self) -> str:
        return f"Requester({self.peer_id}, {self.home})"
