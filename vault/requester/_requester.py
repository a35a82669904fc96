"""``Requester``: the business side of ``/kluis/access/1.0.0``, as an HTTP-client-like SDK.

::

    async with await Requester.open(home, passphrase, listen=["/ip4/0.0.0.0/tcp/4001"]) as biz:
        pending = await biz.request(vault_addr, fields=["contact.email", "address.home.*"],
                                    purpose="ServiceProvision", purpose_text="deliver your bike",
                                    days=30, retention_days=0,
                                    offer=Offer(description="10% off", value_cents=500))
        grant = await pending.decision(timeout=60)       # AccessDenied(code=denied) if refused
        data = await biz.read(grant)                      # {path: value}, also kept sealed
        async for update in biz.subscribe(grant):         # ends when the owner revokes
            ...

The business's own identity, store and audit log are a kluis :class:`~vault.Vault`
in ``home`` (same key hierarchy, sealed records, hash-chained audit), created
on first use. While open, a libp2p node serves ``/kluis/access/1.0.0`` so that
the vault can deliver revoke notices (and pushed updates) to it.

**The revocation contract** (what a business can rely on)

1. *Received data is stored sealed under a per-grant key* (:mod:`._copies`):
   never in plaintext, never outside the grant's two records.
2. *Revocation deletes.* When the vault's signed :class:`~protocol.RevokeNotice`
   arrives (on a subscription stream or as a request; the signature, the vault
   and the Noise-authenticated sender are checked, and the notice must be for
   us), or when a read or subscribe is refused with code ``revoked``, the SDK,
   before it answers or raises: deletes the grant's data, destroys its key,
   marks the grant ``revoked`` — all in one transaction — and then sends the
   vault a signed :class:`~protocol.DeletionReceipt` (reason ``revoked``, or
   ``erasure`` if the owner asked to erase). A receipt the vault did not
   acknowledge is kept and re-sent by :meth:`Requester.send_receipts` and by
   the periodic retention task.
3. *After that, no network call is made*: :meth:`Requester.read` and
   :meth:`Requester.subscribe` raise ``AccessDenied(code=revoked)`` at once.
4. *Retention is enforced.* When access ends (``expires_at``, or a refusal with
   code ``expired``), the grant is ``expired`` and its data is kept for the
   grant's ``retention_days`` at most (0: none at all). Then
   :meth:`Requester.enforce_retention` — run at start, every
   ``retention_interval`` seconds, on every local access check, and callable
   directly with an explicit time — deletes it the same way and sends a
   receipt with reason ``retention_expired``.

Errors: a vault's error reply becomes :class:`protocol.AccessDenied` (with the
vault's ``code``), :class:`protocol.RateLimited` or :class:`protocol.RemoteError`;
transport failures are the runtime's :class:`protocol.TransportError` subclasses.

Time (``clock``, integer ms) is injectable. It stamps signed messages too, so
against a real vault use the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import ValidationError

from protocol import (
    ACCESS,
    AccessDenied,
    AccessRequest,
    Ack,
    Action,
    AwaitDecision,
    ContactCategory,
    ContactPolicy,
    Decision,
    DecisionStatus,
    DeletionReason,
    DeletionReceipt,
    ErasureReceipt,
    Error,
    ErrorCode,
    FieldRecord,
    FieldValue,
    Grant,
    KluisError,
    LocalError,
    Message,
    Offer,
    Purpose,
    PurposeCode,
    Read,
    ReadResult,
    RevokeNotice,
    Scope,
    SignatureError,
    Subscribe,
    TransportError,
    UnexpectedMessage,
    Update,
    check_access,
    dump_message,
    error_from_exception,
    grant_fits_request,
    new_id,
    new_nonce,
    parse_message,
    public_key_from_peer_id,
    sign,
    verify,
)
from protocol.limits import MAX_WAIT_MS
from protocol.scopes import pattern_covers
from vault.home.lock import VaultLock
from vault.home.paths import VaultPaths
from vault.requester._book import GrantRecord, GrantStatus, LocalBook, RequestRecord
from vault.requester._contact import ContactQueue, send_contact
from vault.requester._copies import SealedCopies, enable_secure_delete
from vault.requester._delivery import DeliveryEndpoint
from vault.requester._errors import (
    DecisionPending,
    InvalidGrant,
    RequesterError,
    error_to_exception,
)
from vault.requester._handles import GrantHandle, GrantInfo, PendingRequest
from vault.requester._profile import OwnProfile
from vault.store.audit import Clock, wall_clock_ms
from vault.store.crypto import Rng
from vault.store.vault import Vault

__all__ = ["DEFAULT_LISTEN", "GrantRef", "Requester", "parse_purpose"]

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ("/ip4/127.0.0.1/tcp/0",)
#: Seconds between retention sweeps (and receipt retries) while the requester runs.
DEFAULT_RETENTION_INTERVAL = 60.0
#: Seconds a single request/reply exchange with a vault may take.
CALL_TIMEOUT = 10.0
#: The stream muxer this node prefers; as the dialling side it picks the muxer of
#: its connections to vaults. yamux, because with mplex (the runtime's default)
#: frames a vault pushes on a subscription stream are not delivered while the
#: requester is waiting in ``receive()`` (reported to the runtime's owner).
MUXER = "yamux"
#: Extra seconds allowed on top of a long-poll's ``wait_ms``.
POLL_SLACK = 10.0

#: A grant as the SDK's methods accept it: the handle, or its id.
GrantRef = GrantHandle | str


def parse_purpose(value: PurposeCode | str) -> PurposeCode:
    """``ServiceProvision``, ``dpv:ServiceProvision`` or ``SERVICE_PROVISION`` → the code."""
    if isinstance(value, PurposeCode):
        return value
    text = str(value).strip()
    for candidate in (text, f"dpv:{text}"):
        with contextlib.suppress(ValueError):
            return PurposeCode(candidate)
    with contextlib.suppress(KeyError):
        return PurposeCode[text.upper()]
    for code in PurposeCode:
        if code.term.lower() == text.lower().removeprefix("dpv:"):
            return code
    choices = ", ".join(code.term for code in PurposeCode)
    raise RequesterError(f"unknown purpose {text[:60]!r}; choose one of: {choices}")


def vault_peer_of(addr: str) -> str:
    """The peer id at the end of a vault multiaddr (``.../p2p/<peer id>``)."""
    peer = addr.rsplit("/p2p/", 1)[1] if "/p2p/" in addr else ""
    try:
        public_key_from_peer_id(peer)
    except SignatureError as exc:
        raise RequesterError("a vault address must end in /p2p/<the vault's peer id>") from exc
    return peer


def _bad_args(exc: ValidationError, what: str) -> RequesterError:
    errs = exc.errors(include_input=False, include_url=False, include_context=False)[:3]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in errs]
    return RequesterError(f"invalid {what}: " + "; ".join(parts))


class Requester:
    """A business's node and store. Build with :meth:`open`, :meth:`create` or :meth:`ephemeral`.

    See the module docstring for the revocation and retention contract.
    """

    def __init__(
        self,
        home: Path,
        lock: VaultLock,
        vault: Vault,
        *,
        clock: Clock,
        rng: Rng,
    ) -> None:
        self.home = home
        self._lock = lock
        self.vault = vault
        self._clock = clock
        self.book = LocalBook(vault)
        self.copies = SealedCopies(vault, rng)
        #: True if the store's SQLite connection overwrites deleted content.
        self.secure_delete = enable_secure_delete(vault)
        #: Store-and-forward: HPKE key, queued deliveries, erasure (:mod:`._delivery`).
        self.delivery = DeliveryEndpoint(self)
        #: Contact messages waiting for an unreachable vault (:class:`._contact.ContactQueue`).
        self.contacts_out = ContactQueue(self)
        #: The signed business profile sent with every access request (:mod:`._profile`).
        self.profile = OwnProfile(vault)
        self.node: Any = None  # protocol.runtime.Node when the network is on
        self._connected: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._receipt_tasks: dict[str, asyncio.Task[bool]] = {}
        self._retention_task: asyncio.Task[None] | None = None
        self._closed = False

    # -- ways in -------------------------------------------------------------------

    @classmethod
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
        clock: Clock = wall_clock_ms,
        rng: Rng = os.urandom,
        retention_interval: float | None = DEFAULT_RETENTION_INTERVAL,
    ) -> Requester:
        """Unlock the business store in ``home`` (made with :meth:`create` if missing) and start.

        ``network=False`` opens the store only (no libp2p node: local queries,
        retention). ``retention_interval=None`` turns the periodic sweep off.
        """
        mode: Literal["open", "auto"] = "auto" if create else "open"
        return await cls._boot(
            home, passphrase, mode, listen, bootstrap, mdns, network, clock, rng,
            retention_interval,
        )  # fmt: skip

    @classmethod
    async def create(
        cls,
        home: Path | str,
        passphrase: str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        network: bool = True,
        clock: Clock = wall_clock_ms,
        rng: Rng = os.urandom,
        retention_interval: float | None = DEFAULT_RETENTION_INTERVAL,
    ) -> Requester:
        """Make a new business store (fresh identity) in ``home`` and start (never overwrites)."""
        return await cls._boot(
            home, passphrase, "create", listen, bootstrap, mdns, network, clock, rng,
            retention_interval,
        )  # fmt: skip

    @classmethod
    async def ephemeral(
        cls,
        tmpdir: Path | str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        network: bool = True,
        clock: Clock = wall_clock_ms,
        retention_interval: float | None = DEFAULT_RETENTION_INTERVAL,
    ) -> Requester:
        """A throwaway requester in ``tmpdir`` with a random passphrase (scripts and tests)."""
        return await cls.create(
            Path(tmpdir) / "kluis-business",
            secrets.token_urlsafe(24),
            listen=listen,
            network=network,
            clock=clock,
            retention_interval=retention_interval,
        )

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
    ) -> Requester:
        folder = Path(home)
        lock = VaultLock(folder)
        lock.acquire()
        vault: Vault | None = None
        self: Requester | None = None
        try:
            if mode == "create" or (mode == "auto" and not VaultPaths(folder).exists()):
                vault = await asyncio.to_thread(
                    Vault.create, folder, passphrase, clock=clock, rng=rng
                )
            else:
                vault = await asyncio.to_thread(
                    Vault.open, folder, passphrase, clock=clock, rng=rng
                )
            self = cls(folder, lock, vault, clock=clock, rng=rng)
            if network:
                from protocol.runtime import Node

                self.node = await Node.start(
                    vault.identity,
                    listen=list(listen),
                    bootstrap=list(bootstrap),
                    mdns=mdns,
                    muxer=MUXER,
                )
                self.node.set_frame_handler(
                    ACCESS, self._handle, on_protocol_error=self._on_protocol_error
                )
                self.delivery.start()
            if retention_interval is not None:
                self._retention_task = asyncio.get_running_loop().create_task(
                    self._retention_loop(retention_interval)
                )
        except BaseException:
            if self is not None:
                await self.close()
            else:
                if vault is not None:
                    vault.close()
                lock.release()
            raise
        return self

    # -- identity --------------------------------------------------------------------

    @property
    def identity(self) -> Any:
        return self.vault.identity

    @property
    def peer_id(self) -> str:
        return self.vault.peer_id

    @property
    def addrs(self) -> list[str]:
        """Listen multiaddrs ending in ``/p2p/<peer id>`` (empty without network)."""
        return list(self.node.addrs) if self.node is not None else []

    def now(self) -> int:
        return int(self._clock())

    # -- asking for access -------------------------------------------------------------

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
        request = self._record_request(
            vault_addr, fields, purpose, purpose_text, days=days,
            retention_days=retention_days, offer=offer, actions=actions, contact=contact,
        )  # fmt: skip
        reply = await self._call(request.vault, vault_addr, request, timeout)
        if isinstance(reply, Error):
            raise error_to_exception(reply)
        if not isinstance(reply, Decision):
            raise UnexpectedMessage(f"a vault answered an access request with {reply.type}")
        self._apply_decision(request.request_id, reply)
        return PendingRequest(self, request, vault_addr)

    def _record_request(
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
        contact: ContactPolicy | None = None,
    ) -> AccessRequest:
        """Build, sign and store an access request (not sent)."""
        vault_peer = vault_peer_of(vault_addr)
        code = parse_purpose(purpose)
        try:
            request = AccessRequest(
                request_id=new_id(),
                requester=self.peer_id,
                vault=vault_peer,
                scope=Scope.of(list(fields), list(actions)),
                purpose=Purpose(code=code, text=purpose_text),
                duration_days=days,
                retention_days=retention_days,
                offer=offer or Offer(),
                nonce=new_nonce(),
                ts=self.now(),
                contact=contact,
                hpke_key=self.delivery.public_hex,
                business=self.profile.get(),
            )
        except ValidationError as exc:
            raise _bad_args(exc, "access request") from exc
        except ValueError as exc:  # an unknown action
            raise RequesterError(f"invalid access request: {exc}") from exc
        request = sign(request, self.identity)
        with self.vault.transaction():
            self.book.put_request(RequestRecord(request, vault_addr, created_at=self.now()))
            self.vault.audit.append(
                "requester.request",
                {
                    "request_id": request.request_id,
                    "vault": vault_peer,
                    "fields": list(request.scope.fields),
                    "actions": [a.value for a in request.scope.actions],
                    "purpose": code.value,
                    "duration_days": days,
                    "retention_days": retention_days,
                },
            )
        return request

    def pending(self, request_id: str) -> PendingRequest:
        """The :class:`PendingRequest` for a request sent earlier (also by another process)."""
        rec = self.book.request(request_id)
        return PendingRequest(self, rec.request, rec.vault_addr)

    def requests(self) -> list[RequestRecord]:
        """Every access request this business sent, oldest first."""
        return self.book.requests()

    async def _await_decision(self, request_id: str, timeout: float) -> GrantHandle:
        rec = self.book.request(request_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            if rec.status == DecisionStatus.APPROVED.value and rec.grant_id is not None:
                return self.handle(rec.grant_id)
            if rec.status == DecisionStatus.DENIED.value:
                raise AccessDenied(
                    rec.reason or "the owner denied this request", code=ErrorCode.DENIED
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DecisionPending(request_id)
            wait_ms = min(int(remaining * 1000), MAX_WAIT_MS)
            reply = await self._call(
                rec.request.vault,
                rec.vault_addr,
                AwaitDecision(request_id=request_id, wait_ms=wait_ms),
                wait_ms / 1000 + POLL_SLACK,
            )
            if isinstance(reply, Error):
                raise error_to_exception(reply)
            if not isinstance(reply, Decision):
                raise UnexpectedMessage(f"a vault answered await_decision with {reply.type}")
            rec = self._apply_decision(request_id, reply)

    def _apply_decision(self, request_id: str, decision: Decision) -> RequestRecord:
        """Record the vault's decision; an approval's grant is verified before it is kept."""
        rec = self.book.request(request_id)
        if decision.request_id != request_id:
            raise UnexpectedMessage("the decision answers another request")
        if rec.status != DecisionStatus.PENDING.value or decision.status is DecisionStatus.PENDING:
            return rec
        if decision.status is DecisionStatus.DENIED:
            decided = RequestRecord(
                rec.request, rec.vault_addr, rec.created_at, "denied", None, decision.reason
            )
            with self.vault.transaction():
                self.book.put_request(decided)
                self.vault.audit.append(
                    "requester.denied", {"request_id": request_id, "vault": rec.request.vault}
                )
            return decided
        assert decision.grant is not None  # the Decision model enforces it
        grant = decision.grant
        self.verify_grant(grant, rec.request)
        decided = RequestRecord(
            rec.request, rec.vault_addr, rec.created_at, "approved", grant.grant_id, ""
        )
        with self.vault.transaction():
            if self.book.find_grant(grant.grant_id) is None:
                self.book.put_grant(GrantRecord(grant, rec.request, rec.vault_addr, self.now()))
            self.copies.create_key(grant.grant_id)
            self.book.put_request(decided)
            self.vault.audit.append(
                "requester.grant",
                {
                    "request_id": request_id,
                    "grant_id": grant.grant_id,
                    "vault": grant.vault,
                    "fields": list(grant.scope.fields),
                    "actions": [a.value for a in grant.scope.actions],
                    "expires_at": grant.expires_at,
                    "retention_days": grant.retention_days,
                },
            )
        return decided

    def verify_grant(self, grant: Grant, request: AccessRequest) -> None:
        """Refuse a grant not signed by the vault asked, not bound to us, or wider than asked."""
        try:
            verify(grant, request.vault)
        except SignatureError as exc:
            raise InvalidGrant(
                "the grant is not signed by the vault that was asked", code=ErrorCode.BAD_SIGNATURE
            ) from exc
        if grant.requester != self.peer_id or request.requester != self.peer_id:
            raise InvalidGrant("the grant is bound to another requester", code=ErrorCode.WRONG_PEER)
        if not grant_fits_request(grant, request):
            raise InvalidGrant(
                "the grant does not match the request or is wider than asked",
                code=ErrorCode.OUT_OF_SCOPE,
            )

    # -- grants ---------------------------------------------------------------------------

    def handle(self, grant: GrantRef) -> GrantHandle:
        """The :class:`GrantHandle` of a locally held grant (by id or handle)."""
        rec = self._record(grant)
        return GrantHandle(rec.grant, rec.vault_addr)

    def grants(self) -> list[GrantInfo]:
        """Every grant this business holds or held, with its local status."""
        now = self.now()
        return [_info(rec, now) for rec in self.book.grants()]

    def grant_info(self, grant: GrantRef) -> GrantInfo:
        return _info(self._record(grant), self.now())

    def local_records(self, grant: GrantRef) -> dict[str, FieldRecord]:
        """What is stored for ``grant`` (with versions); empty once the data was deleted."""
        rec = self._record(grant)
        if rec.data_deleted or not self.copies.has_key(rec.grant_id):
            return {}
        return self.copies.load(rec.grant_id)

    def local_copy(self, grant: GrantRef) -> dict[str, FieldValue]:
        """What is stored for ``grant``, as ``{path: value}``; empty once deleted."""
        return {path: r.value for path, r in self.local_records(grant).items()}

    def receipts(self, grant: GrantRef | None = None) -> list[DeletionReceipt]:
        """The signed deletion receipts this business made (for one grant, or all)."""
        recs = [self._record(grant)] if grant is not None else self.book.grants()
        return [r.receipt for r in recs if r.receipt is not None]

    def _record(self, grant: GrantRef) -> GrantRecord:
        grant_id = grant.grant_id if isinstance(grant, GrantHandle) else str(grant)
        return self.book.grant(grant_id)

    # -- reading ------------------------------------------------------------------------

    async def read(
        self, grant: GrantRef, fields: Iterable[str] | None = None, *, timeout: float = CALL_TIMEOUT
    ) -> dict[str, FieldValue]:
        """Read granted fields (default: the whole grant) → ``{path: value}``.

        The values are also merged into the grant's sealed local copy. A
        revoked or ended grant raises :class:`protocol.AccessDenied` without a
        network call; see the module docstring for what a refusal triggers.
        """
        records = await self.read_records(grant, fields, timeout=timeout)
        return {path: rec.value for path, rec in records.items()}

    async def read_records(
        self, grant: GrantRef, fields: Iterable[str] | None = None, *, timeout: float = CALL_TIMEOUT
    ) -> dict[str, FieldRecord]:
        """Like :meth:`read`, with each field's ``version`` and ``updated_at``."""
        rec = self._record(grant)
        wanted = self._check_local(rec, fields, Action.READ)
        msg = sign(
            Read(
                grant_id=rec.grant_id,
                requester=self.peer_id,
                fields=wanted,
                nonce=new_nonce(),
                ts=self.now(),
            ),
            self.identity,
        )
        reply = await self._call(rec.vault_peer, rec.vault_addr, msg, timeout)
        if isinstance(reply, Error):
            raise self._refused(rec.grant_id, reply)
        if not isinstance(reply, ReadResult) or reply.grant_id != rec.grant_id:
            raise UnexpectedMessage(f"a vault answered a read with {reply.type}")
        values = {
            path: value
            for path, value in reply.values.items()
            if any(pattern_covers(w, path) for w in wanted)
        }
        self._merge(rec.grant_id, wanted, values)
        return values

    def _merge(
        self, grant_id: str, wanted: tuple[str, ...], values: dict[str, FieldRecord]
    ) -> None:
        rec = self.book.grant(grant_id)
        if rec.status(self.now()) is not GrantStatus.ACTIVE:
            return  # revoked while the read was in flight: keep nothing
        copy = self.copies.load(grant_id)
        for path in list(copy):  # what was asked and is not there any more has no value
            if path not in values and any(pattern_covers(w, path) for w in wanted):
                del copy[path]
        copy.update(values)
        with self.vault.transaction():
            self.copies.save(grant_id, copy)
            self.vault.audit.append(
                "requester.read",
                {"grant_id": grant_id, "asked": list(wanted), "fields": sorted(values)},
            )

    def _check_local(
        self, rec: GrantRecord, fields: Iterable[str] | None, action: Action
    ) -> tuple[str, ...]:
        """The local half of every access: no network call for a dead grant or a stray field."""
        now = self.now()
        self._expire_due(now, rec.grant_id)
        rec = self.book.grant(rec.grant_id)
        status = rec.status(now)
        if status is GrantStatus.REVOKED:
            raise AccessDenied(
                "this grant was revoked; its data has been deleted", code=ErrorCode.REVOKED
            )
        if status in (GrantStatus.EXPIRED, GrantStatus.DELETED):
            raise AccessDenied("this grant has ended", code=ErrorCode.EXPIRED)
        wanted = rec.grant.scope.fields if fields is None else tuple(fields)
        return check_access(rec.grant, self.peer_id, wanted, action, now)

    def _refused(self, grant_id: str, reply: Error) -> KluisError:
        """Turn a refusal into its exception, after applying what it means locally."""
        exc = error_to_exception(reply)
        if exc.code is ErrorCode.REVOKED:
            self._revoke_locally(grant_id, at=self.now(), reason=DeletionReason.REVOKED)
            self._schedule_receipt(grant_id)
        elif exc.code is ErrorCode.EXPIRED:
            rec = self.book.grant(grant_id)
            if rec.ended_at is None:
                with self.vault.transaction():
                    self.book.put_grant(rec.evolve(ended_at=self.now()))
                    self.vault.audit.append("requester.ended", {"grant_id": grant_id})
            self._expire_due(self.now(), grant_id)
        return exc

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(
        self, grant: GrantRef, fields: Iterable[str] | None = None, *, timeout: float = CALL_TIMEOUT
    ) -> AsyncIterator[Update]:
        """Yield :class:`protocol.Update`\\ s for granted fields as the owner changes them.

        Each update is applied to the sealed local copy before it is yielded.
        The iteration ends cleanly when the vault revokes the grant (the
        revocation contract has run, receipt included, by then); it raises
        :class:`protocol.AccessDenied` on a refusal and the runtime's
        :class:`protocol.TransportError` if the stream breaks.
        """
        rec = self._record(grant)
        wanted = self._check_local(rec, fields, Action.SUBSCRIBE)
        node = self._require_node()
        await self._ensure_connected(rec.vault_peer, rec.vault_addr)
        stream = await node.open_stream(rec.vault_peer, ACCESS)
        try:
            msg = sign(
                Subscribe(
                    grant_id=rec.grant_id,
                    requester=self.peer_id,
                    fields=wanted,
                    nonce=new_nonce(),
                    ts=self.now(),
                ),
                self.identity,
            )
            await stream.send(dump_message(msg))
            first = parse_message(await asyncio.wait_for(stream.receive(), timeout))
            if isinstance(first, Error):
                raise self._refused(rec.grant_id, first)
            if not isinstance(first, Ack) or first.ref != rec.grant_id:
                raise UnexpectedMessage(f"a vault answered a subscribe with {first.type}")
            self.vault.audit.append(
                "requester.subscribe", {"grant_id": rec.grant_id, "fields": list(wanted)}
            )
            while True:
                event = parse_message(await stream.receive())
                if isinstance(event, Update):
                    if event.grant_id != rec.grant_id:
                        raise UnexpectedMessage("an update for another grant")
                    if self._apply_update(rec.grant_id, event, wanted):
                        yield event
                elif isinstance(event, RevokeNotice):
                    self._accept_notice(rec.vault_peer, event)
                    await self._deliver_receipt(rec.grant_id)
                    return
                elif isinstance(event, Error):
                    raise self._refused(rec.grant_id, event)
                else:
                    raise UnexpectedMessage(f"a vault pushed {event.type} on a subscription")
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    def _apply_update(self, grant_id: str, update: Update, wanted: Sequence[str]) -> bool:
        """Apply a pushed update to the sealed copy; False if it is stale or not ours to keep."""
        rec = self.book.grant(grant_id)
        if rec.status(self.now()) is not GrantStatus.ACTIVE or not self.copies.has_key(grant_id):
            return False
        if not any(pattern_covers(w, update.path) for w in wanted) or not any(
            pattern_covers(f, update.path) for f in rec.grant.scope.fields
        ):
            log.warning("ignored an update outside the subscription on grant %s", grant_id)
            return False
        copy = self.copies.load(grant_id)
        current = copy.get(update.path)
        if current is not None and current.version >= update.version:
            return False
        if update.deleted:
            copy.pop(update.path, None)
        else:
            copy[update.path] = FieldRecord(
                value=update.value, version=update.version, updated_at=update.ts
            )
        with self.vault.transaction():
            self.copies.save(grant_id, copy)
            self.vault.audit.append(
                "requester.update",
                {"grant_id": grant_id, "path": update.path, "version": update.version},
            )
        return True

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
        With ``queue=True`` a vault that cannot be reached does not raise: the
        message is kept (sealed) and sent, with the same id, by
        :meth:`flush_contacts` (run at start, and on every retention sweep).
        """
        mid = message_id or new_id()
        try:
            return await send_contact(
                self, grant, category, subject, body, mailing_id=mailing_id, message_id=mid
            )
        except (TransportError, TimeoutError):
            if not queue:
                raise
        rec = self._record(grant)
        self.contacts_out.put(rec.grant_id, str(category), subject, body, mailing_id, mid)
        return mid

    async def flush_contacts(self) -> int:
        """Send queued contact messages (in order); how many the vault accepted."""
        return await self.contacts_out.flush()

    def erasure_receipts(self) -> list[ErasureReceipt]:
        """The signed erasure receipts this business has given."""
        return self.delivery.erasure_receipts()

    # -- revocation and retention --------------------------------------------------------

    def _accept_notice(self, sender: str, notice: RevokeNotice) -> GrantRecord:
        """Check a revoke notice (ours, from the grant's vault, signed by it) and act on it."""
        rec = self.book.find_grant(notice.grant_id)
        if rec is None:
            raise AccessDenied("no such grant", code=ErrorCode.NOT_GRANTED)
        if notice.requester != self.peer_id or notice.vault != rec.vault_peer:
            raise AccessDenied("this notice is about another grant", code=ErrorCode.WRONG_PEER)
        if sender != rec.vault_peer:
            raise AccessDenied("only the grant's vault may revoke it", code=ErrorCode.WRONG_PEER)
        verify(notice, rec.vault_peer)
        reason = DeletionReason.ERASURE if notice.erase else DeletionReason.REVOKED
        return self._revoke_locally(rec.grant_id, at=notice.revoked_at, reason=reason)

    def _revoke_locally(self, grant_id: str, *, at: int, reason: DeletionReason) -> GrantRecord:
        """Mark revoked, delete the data, destroy the key, sign a receipt. Idempotent."""
        rec = self.book.grant(grant_id)
        if rec.revoked_at is not None:
            return rec
        return self._delete(rec, reason, revoked_at=at)

    def _delete(
        self,
        rec: GrantRecord,
        reason: DeletionReason,
        *,
        revoked_at: int | None = None,
        now: int | None = None,
    ) -> GrantRecord:
        when = self.now() if now is None else now
        if rec.data_deleted:  # retention already deleted it; only the revocation is new
            updated = rec.evolve(
                revoked_at=revoked_at if revoked_at is not None else rec.revoked_at
            )
            with self.vault.transaction():
                self.book.put_grant(updated)
                self.vault.audit.append("requester.revoked", {"grant_id": rec.grant_id})
            return updated
        receipt = sign(
            DeletionReceipt(
                receipt_id=new_id(),
                grant_id=rec.grant_id,
                requester=self.peer_id,
                vault=rec.vault_peer,
                reason=reason,
                deleted_fields=rec.grant.scope.fields,
                deleted_at=when,
                key_destroyed=True,
            ),
            self.identity,
        )
        updated = rec.evolve(
            revoked_at=revoked_at,
            deleted_at=when,
            deletion_reason=reason,
            receipt=receipt,
            receipt_acked=False,
        )
        try:
            with self.vault.transaction():
                self.copies.destroy(rec.grant_id)
                self.book.put_grant(updated)
                self.vault.audit.append(
                    "requester.delete",
                    {
                        "grant_id": rec.grant_id,
                        "reason": reason.value,
                        "receipt_id": receipt.receipt_id,
                        "key_destroyed": True,
                    },
                )
        except BaseException:
            # Fail closed: even if the store write failed, this process refuses the grant.
            if revoked_at is not None:
                self.book.remember(rec.evolve(revoked_at=revoked_at))
            raise
        return updated

    def _expire_due(self, now: int, only: str | None = None) -> list[str]:
        """Delete the data of every grant (or just ``only``) whose retention is over."""
        done = []
        for rec in [self.book.grant(only)] if only is not None else self.book.grants():
            if rec.data_deleted or rec.status(now) is not GrantStatus.EXPIRED:
                continue
            if now >= rec.retention_deadline():
                self._delete(rec, DeletionReason.RETENTION_EXPIRED, now=now)
                self._schedule_receipt(rec.grant_id)
                done.append(rec.grant_id)
        return done

    async def enforce_retention(self, now: int | None = None) -> list[str]:
        """Delete data whose grant ended more than ``retention_days`` ago; send the receipts.

        Returns the ids of the grants whose data was deleted now. ``now``
        (integer ms) defaults to the requester's clock. Receipts that cannot be
        delivered stay pending and are retried.
        """
        done = self._expire_due(self.now() if now is None else now)
        await self.send_receipts()
        return done

    async def send_receipts(self) -> int:
        """(Re)send every receipt the vault has not acknowledged; returns how many got through."""
        if self.node is None:
            return 0
        pending = [r.grant_id for r in self.book.grants() if r.receipt and not r.receipt_acked]
        results = await asyncio.gather(*(self._deliver_receipt(g) for g in pending))
        return sum(1 for ok in results if ok)

    def _schedule_receipt(self, grant_id: str) -> None:
        if self.node is None or self._closed:
            return
        task = self._receipt_tasks.get(grant_id)
        if task is None or task.done():
            self._receipt_tasks[grant_id] = self._spawn(self._send_receipt(grant_id))

    async def _deliver_receipt(self, grant_id: str) -> bool:
        """Send ``grant_id``'s receipt (joining a send already under way)."""
        if self.node is None:
            return False
        self._schedule_receipt(grant_id)
        task = self._receipt_tasks.get(grant_id)
        if task is None:
            return False
        return await asyncio.shield(task)

    async def _send_receipt(self, grant_id: str) -> bool:
        rec = self.book.grant(grant_id)
        receipt = rec.receipt
        if receipt is None or rec.receipt_acked:
            return rec.receipt_acked
        try:
            reply = await self._call(rec.vault_peer, rec.vault_addr, receipt, CALL_TIMEOUT)
        except (KluisError, TimeoutError) as exc:
            log.info("deletion receipt for %s not delivered yet: %s", grant_id, exc)
            return False
        if isinstance(reply, Ack) and reply.ref == receipt.receipt_id:
            with self.vault.transaction():
                self.book.put_grant(self.book.grant(grant_id).evolve(receipt_acked=True))
                self.vault.audit.append(
                    "requester.receipt",
                    {"grant_id": grant_id, "receipt_id": receipt.receipt_id, "acked": True},
                )
            return True
        code = reply.code.value if isinstance(reply, Error) else reply.type
        log.warning("the vault did not accept the deletion receipt for %s: %s", grant_id, code)
        return False

    async def drain(self) -> None:
        """Wait until the receipt sends under way have finished (tests and shutdown)."""
        tasks = [t for t in self._receipt_tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _retention_loop(self, interval: float) -> None:
        while True:
            try:
                await self.enforce_retention()
                if self.contacts_out.pending():
                    await self.flush_contacts()
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(interval)

    # -- serving the access protocol (revoke notices, pushed updates) --------------------

    def _handle(self, ctx: Any, payload: bytes) -> bytes | Awaitable[bytes]:
        """Frames a vault sends us: a :class:`RevokeNotice`, or an :class:`Update`.

        Updates are applied inline (the runtime's fast path); a notice is handled
        on the asyncio side, and acknowledged only once the data is deleted.
        """
        sender = str(ctx.remote_peer_id)
        ref: str | None = None
        try:
            msg = parse_message(payload)
            ref = getattr(msg, "grant_id", None)
            if isinstance(msg, RevokeNotice):
                return self._on_notice(sender, msg)
            if isinstance(msg, Update):
                rec = self.book.find_grant(msg.grant_id)
                if rec is None or sender != rec.vault_peer:
                    raise AccessDenied("no such grant from this vault", code=ErrorCode.NOT_GRANTED)
                self._apply_update(msg.grant_id, msg, rec.grant.scope.fields)
                return dump_message(Ack(ref=msg.grant_id))
            raise UnexpectedMessage(f"a requester does not accept {msg.type}")
        except KluisError as exc:
            return dump_message(error_from_exception(exc, ref))
        except Exception:
            log.exception("requester handler failed on a frame from %s", sender)
            return dump_message(error_from_exception(KluisError("internal error"), ref))

    async def _on_notice(self, sender: str, notice: RevokeNotice) -> bytes:
        try:
            self._accept_notice(sender, notice)
        except KluisError as exc:
            return dump_message(error_from_exception(exc, notice.grant_id))
        except Exception:
            log.exception("could not apply a revoke notice for %s", notice.grant_id)
            err = KluisError("internal error")
            return dump_message(error_from_exception(err, notice.grant_id))
        self._schedule_receipt(notice.grant_id)
        return dump_message(Ack(ref=notice.grant_id))

    def _on_protocol_error(self, ctx: Any, exc: BaseException) -> bytes:
        err = exc if isinstance(exc, KluisError) else KluisError("bad framing")
        return dump_message(error_from_exception(err))

    # -- plumbing ------------------------------------------------------------------------

    def _require_node(self) -> Any:
        if self.node is None:
            raise LocalError("this requester was opened without the network")
        return self.node

    async def _ensure_connected(self, vault_peer: str, vault_addr: str) -> None:
        if vault_peer in self._connected:
            return
        node = self._require_node()
        peer = await node.connect(vault_addr)
        if peer != vault_peer:
            raise RequesterError("the vault at this address has another peer id")
        self._connected.add(vault_peer)

    async def _call(
        self, vault_peer: str, vault_addr: str, msg: Message, timeout: float
    ) -> Message:
        """One request/reply exchange with a vault (dialling it first if needed)."""
        node = self._require_node()
        await self._ensure_connected(vault_peer, vault_addr)
        try:
            raw = await node.request(vault_peer, ACCESS, dump_message(msg), timeout=timeout)
        except TransportError:
            self._connected.discard(vault_peer)  # dial again next time
            raise
        return parse_message(raw)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Finish receipt sends (briefly), stop the node, close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(BaseException):
                await self._retention_task
        if self._tasks:
            _done, still = await asyncio.wait(list(self._tasks), timeout=5.0)
            for task in still:
                task.cancel()
        if self.node is not None:
            try:
                await self.node.close()
            except Exception:
                log.exception("libp2p node did not close cleanly")
        self.vault.close()
        self._lock.release()

    async def __aenter__(self) -> Requester:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Requester({self.peer_id}, {self.home})"


def _info(rec: GrantRecord, now: int) -> GrantInfo:
    return GrantInfo(
        grant_id=rec.grant_id,
        vault_peer=rec.vault_peer,
        fields=rec.grant.scope.fields,
        purpose=rec.grant.purpose.code.value,
        status=rec.status(now).value,
        expires_at=rec.grant.expires_at,
        retention_days=rec.grant.retention_days,
        data_deleted=rec.data_deleted,
        deleted_at=rec.deleted_at,
        deletion_reason=None if rec.deletion_reason is None else rec.deletion_reason.value,
        receipt_id=None if rec.receipt is None else rec.receipt.receipt_id,
        receipt_acked=rec.receipt_acked,
    )
