"""The vault's ``/kluis/access/1.0.0`` handler: every message a requester sends lands here.

The node serves ``ACCESS_GRAMMAR``, so every inbound access stream runs through
the h11-style :class:`~protocol.connection.Connection` (server side) before
anything here sees it: the **frame size** limit, the **parse** (strict
pydantic, typed errors) and the **state** (a request in ``IDLE`` only; a reply
must answer the request in flight) are checked there, and a frame that fails
them puts that one stream in ``ERROR``: :meth:`AccessService.on_protocol_error`
audits it and gives the typed ``error`` the peer gets before the stream is
closed. :meth:`AccessService.handle` is then a function of *(the stream's
context, one message) → reply message*, tested without sockets through the
same Connection (``tests/vault/serving.py``). Each message goes through,
in this order:

1. **Per-peer budget** (:class:`~vault.services.ratelimit.RateLimiter`, keyed by the Noise
   peer id; a frame costs 1 plus 1 per 16 KiB). Protocol errors are charged too.
2. For signed messages: the signer named in the message must be the
   Noise-authenticated peer (``wrong_peer`` otherwise), and the signature must
   verify (``bad_signature``).
3. **Replay guard** (nonce + timestamp, :class:`protocol.ReplayGuard`) for every
   message that carries a nonce.
4. **Dispatch** by message type (:data:`ROUTES` names the requests a vault
   serves, all of them requests of the grammar): ``access_request`` (queued
   pending, owner rules run, answered with a :class:`~protocol.Decision`),
   ``await_decision`` (long-poll; only the requester who asked may wait),
   ``read`` (answered from the grant book's O(1) check; a read that mixes in
   one out-of-scope field is refused whole),
   ``subscribe`` (acked, then :class:`~protocol.Update` frames are pushed on
   the stream on every in-scope profile change, and a
   :class:`~protocol.RevokeNotice` closes it), ``deletion_receipt`` (recorded,
   acked). A ``revoke_notice`` (valid in the grammar, but only a vault sends
   one) is ``unexpected_message``.

Every refusal is a typed :class:`~protocol.Error` reply *and* an
``access.refused`` audit entry (peer, code, reason, message type); the handler
never raises, and other peers keep being served. A refusal answers the request
in flight, so the stream stays usable; a protocol error ends the stream.
Rate-limit refusals are audited once per burst, then counted
(``access.rate_limited`` with the number suppressed) so a flood cannot turn the
audit log into its amplifier. Refusals of a *stranger* (a peer with no grant
and no pending request) are not written one by one at all: they are tallied,
one ``access.refused`` entry per stranger per window with a ``count``
(:class:`~vault.services.refusals.RefusalTally`, which also bounds the set of
strangers tracked and states the bound on the log).

The ``read`` path is a **sync** fast path: no awaits, so the runtime runs it
inline. ``await_decision`` and ``subscribe`` return awaitables; ``subscribe``
sends its ``ack`` itself, so that no pushed update can go out before it.

Background work (subscription pumps, revoke-notice deliveries) runs in one task
group (:class:`protocol.lifecycle.Background`): :meth:`AccessService.start`
opens it, :meth:`AccessService.aclose` ends it.

**Purpose.** A ``read`` or ``subscribe`` names no purpose: the grant's purpose
is fixed at approval (it is what the request declared, shown to the owner),
and every access under a grant is by definition under that purpose. Contact
(a later feature) will check the contact purpose against the grant's.

Audit details name grant ids, peer ids and field *paths*; never values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from protocol import (
    AccessDenied,
    AccessRequest,
    Ack,
    Action,
    AwaitDecision,
    Decision,
    DecisionStatus,
    DeletionReceipt,
    Error,
    ErrorCode,
    FieldRecord,
    FrameTooLarge,
    KluisError,
    Message,
    RateLimited,
    Read,
    ReadResult,
    RemoteProtocolError,
    ReplayGuard,
    RevokeNotice,
    Signed,
    Subscribe,
    UnexpectedMessage,
    Update,
    dump_message,
    error_from_exception,
    verify,
)
from protocol.connection import ACCESS_GRAMMAR, Grammar
from protocol.framing import MAX_FRAME_SIZE
from protocol.lifecycle import Background
from protocol.limits import MAX_VALUES_PER_MESSAGE
from protocol.scopes import SUBTREE, pattern_covers
from vault._exceptions import CorruptRecord, UnknownField
from vault.services.grantbook import GrantBook, GrantState, NotFound, RequestState
from vault.services.ratelimit import RateLimiter
from vault.services.refusals import RefusalTally
from vault.services.rules import RuleAction, RuleBook
from vault.store.profile import ProfileField
from vault.store.vault import Vault

__all__ = ["ROUTES", "AccessService", "Outbound", "PeerLink", "Reply"]

log = logging.getLogger(__name__)

#: What the handler returns: the reply now, later (long-poll), or None (sent already).
Reply = Message | Awaitable[Message | None] | None

#: The requests a vault serves (every one a request of ``ACCESS_GRAMMAR``).
ROUTES: Final = ("access_request", "await_decision", "read", "subscribe", "deletion_receipt")

#: Bytes of payload that cost one extra token in the per-peer budget.
SIZE_UNIT = 16 * 1024
MAX_WAITERS_PER_PEER = 8
MAX_SUBSCRIPTIONS_PER_PEER = 16
NOTICE_TIMEOUT_S = 5.0
#: Frames waiting to be sent on one subscription. A subscriber this far behind is
#: not reading; it is dropped (an error frame, the stream closed, an audit entry)
#: instead of holding the owner's updates in memory; the requester SDK subscribes
#: again and re-reads. Large enough for a bulk edit of a whole profile (a few
#: hundred fields) to reach an honest subscriber; a peer holds at most
#: MAX_SUBSCRIPTIONS_PER_PEER x this many queued updates.
MAX_SUBSCRIPTION_BACKLOG = 256
#: How long one push may wait for a subscriber's flow-control window. A send that
#: blocks longer means the subscriber stopped reading: the stream is closed, and a
#: revoke notice on it counts as undelivered (and goes the request way instead).
PUSH_SEND_TIMEOUT_S = 5.0


class PeerLink(Protocol):
    """The part of the runtime's ``PeerContext`` this service uses."""

    @property
    def remote_peer_id(self) -> str: ...

    @property
    def frame_size(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    async def send(self, event: Message) -> None: ...

    async def close(self) -> None: ...

    async def reset(self) -> None: ...

    def on_end(self, callback: Callable[[], None]) -> None: ...


class Outbound(Protocol):
    """The part of the runtime's ``Node`` used to deliver revoke notices."""

    async def request(
        self, peer_id: str, protocol: Grammar, payload: Message, timeout: float = 10.0
    ) -> Message: ...


_CLOSE = object()


@dataclass(eq=False)
class _Subscription:
    grant_id: str
    peer_id: str
    patterns: tuple[str, ...]
    link: PeerLink
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    notice_sent: bool = False
    dropped: bool = False

    def covers(self, path: str) -> bool:
        return any(pattern_covers(p, path) for p in self.patterns)


#: Wire forms of fields kept ready for reads (a vault has a few hundred fields at most).
WIRE_CACHE_SIZE = 4096


class AccessService:
    """The access protocol, vault side. See the module docstring for the pipeline."""

    def __init__(
        self,
        vault: Vault,
        grants: GrantBook,
        rules: RuleBook | None = None,
        *,
        limiter: RateLimiter | None = None,
        replay: ReplayGuard | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
        outbound: Outbound | None = None,
    ) -> None:
        self.vault = vault
        self.grants = grants
        self.rules = rules
        self.limiter = limiter if limiter is not None else RateLimiter()
        self.replay = replay if replay is not None else ReplayGuard()
        self.max_frame_size = max_frame_size
        #: Set by the node: how revoke notices reach a requester with no subscription.
        self.outbound = outbound
        #: Per subscription: queued frames before the subscriber is dropped, and how
        #: long one push may block (module constants; tests lower them).
        self.max_backlog = MAX_SUBSCRIPTION_BACKLOG
        self.push_send_timeout = PUSH_SEND_TIMEOUT_S
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._waiting_per_peer: dict[str, int] = {}
        self._subs: dict[str, list[_Subscription]] = {}  # grant id -> subscriptions
        self._throttled: dict[str, int] = {}  # peer -> refusals not yet audited
        self.strangers = RefusalTally(self._write_tally)
        self._tasks = Background("access")
        self._deliveries: dict[str, asyncio.Task[bool | None]] = {}
        # (path, version) -> its wire form. A field's versions never repeat (unset
        # leaves a tombstone with the next one), so an entry never goes stale.
        self._wire: dict[tuple[str, int], FieldRecord] = {}
        self._unhooks = [
            grants.on_decision(self._on_decision),
            grants.on_revoke(self._on_revoke),
            vault.profile.on_change(self._on_profile_change),
        ]
        self._routes: Mapping[str, Callable[[str, Any, PeerLink], Reply]] = {
            "access_request": self._request,
            "await_decision": self._await_decision,
            "read": self._read,
            "subscribe": self._subscribe,
            "deletion_receipt": self._deletion,
        }
        assert tuple(self._routes) == ROUTES

    async def start(self) -> None:
        """Open the task group that subscriptions and notice deliveries run in."""
        await self._tasks.start()

    # -- entry points ------------------------------------------------------------

    def handle(self, ctx: PeerLink, msg: Message) -> Reply:
        """One message from the stream's Noise-authenticated peer → the reply. Never raises.

        The runtime's handler for ``ACCESS_GRAMMAR``: ``msg`` is a request the
        stream's Connection accepted in ``IDLE``.
        """
        peer_id = ctx.remote_peer_id
        kind = msg.type
        self.strangers.flush_due(self.grants.now())
        ref_field = ACCESS_GRAMMAR.request_ref.get(kind)
        ref: str | None = getattr(msg, ref_field) if ref_field else None
        try:
            cost = 1.0 + ctx.frame_size / SIZE_UNIT
            if not self.limiter.try_acquire(peer_id, cost):
                return self._throttle(peer_id, ref)
            if peer_id in self._throttled:
                self._unthrottle(peer_id)
            if isinstance(msg, Signed):
                if msg.signer != peer_id:
                    raise AccessDenied(
                        f"this {kind} is signed for another peer than the one on this stream",
                        code=ErrorCode.WRONG_PEER,
                    )
                verify(msg, peer_id)
            nonce = getattr(msg, "nonce", None)
            if isinstance(nonce, str):
                self.replay.check(peer_id, nonce, msg.ts)  # type: ignore[attr-defined]
            route = self._routes.get(kind)
            if route is None:
                raise UnexpectedMessage(f"a vault does not accept {kind}")
            reply = route(peer_id, msg, ctx)
        except KluisError as exc:
            return self._refuse(peer_id, exc, kind, ref)
        except Exception:
            log.exception("access handler failed on a %s from %s", kind, peer_id)
            return self._refuse(peer_id, KluisError("internal error"), kind, ref)
        if reply is None or isinstance(reply, Message):
            return reply
        return self._guard(peer_id, reply, kind, ref)

    def on_protocol_error(self, ctx: PeerLink, exc: RemoteProtocolError) -> Error:
        """The stream broke the protocol (and is now closed): charge it, audit it, the reply."""
        peer_id = ctx.remote_peer_id
        self.strangers.flush_due(self.grants.now())
        if not self.limiter.try_acquire(peer_id, 1.0):
            return self._throttle(peer_id, None)
        if peer_id in self._throttled:
            self._unthrottle(peer_id)
        return self._refuse(peer_id, exc, None, None)

    async def _guard(
        self, peer_id: str, reply: Awaitable[Message | None], kind: str | None, ref: str | None
    ) -> Message | None:
        try:
            return await reply
        except KluisError as exc:
            return self._refuse(peer_id, exc, kind, ref)
        except Exception:
            log.exception("access handler failed on a %s from %s", kind, peer_id)
            return self._refuse(peer_id, KluisError("internal error"), kind, ref)

    # -- refusals ----------------------------------------------------------------

    def _is_stranger(self, peer_id: str) -> bool:
        """No grant ever, no request waiting: nothing this peer sends can be served."""
        return not self.grants.has_granted(peer_id) and not self.grants.has_pending(peer_id)

    def _refuse(self, peer_id: str, exc: KluisError, kind: str | None, ref: str | None) -> Error:
        error = error_from_exception(exc, ref)
        if self._is_stranger(peer_id):
            self.strangers.note(
                peer_id, error.code.value, error.message, kind, error.ref, self.grants.now()
            )
            return error
        try:
            self.vault.audit.append(
                "access.refused",
                {
                    "peer": peer_id,
                    "code": error.code.value,
                    "reason": error.message,
                    "message_type": kind,
                    "ref": error.ref,
                },
                durable=False,
            )
        except Exception:
            log.exception("could not audit a refusal for %s", peer_id)
        return error

    def _write_tally(self, details: dict[str, Any]) -> None:
        try:
            self.vault.audit.append("access.refused", details, durable=False)
        except Exception:
            log.exception("could not audit the refusal count of %s", details["peer"])

    def _throttle(self, peer_id: str, ref: str | None) -> Error:
        if self._is_stranger(peer_id):  # counted in its window; no per-peer state here
            return self._refuse(peer_id, RateLimited("too many requests; slow down"), None, ref)
        if peer_id in self._throttled:
            self._throttled[peer_id] += 1
            return error_from_exception(RateLimited("too many requests; slow down"), ref)
        self._throttled[peer_id] = 0
        return self._refuse(peer_id, RateLimited("too many requests; slow down"), None, ref)

    def _unthrottle(self, peer_id: str) -> None:
        suppressed = self._throttled.pop(peer_id, 0)
        if suppressed:
            with contextlib.suppress(Exception):
                self.vault.audit.append(
                    "access.rate_limited", {"peer": peer_id, "refused": suppressed}
                )

    def flush_throttled(self) -> None:
        """Audit the counts of rate-limited frames not yet written (called on shutdown)."""
        for peer_id in list(self._throttled):
            self._unthrottle(peer_id)

    # read: the sync fast path ------------------------------------------------------

    def _read(self, peer_id: str, msg: Read, link: PeerLink) -> ReadResult:
        self.grants.check(peer_id, msg.grant_id, msg.fields, Action.READ)
        values = self._collect(msg.fields)
        result = ReadResult(grant_id=msg.grant_id, values=values)
        if not self._surely_fits(values) and len(dump_message(result)) > self.max_frame_size:
            # Refused here, as an answer: the Connection would poison the stream instead.
            raise FrameTooLarge("the result is over the frame limit; read fewer fields")
        self.vault.audit.append(
            "access.read",
            {
                "grant_id": msg.grant_id,
                "requester": peer_id,
                "asked": list(msg.fields),
                "fields": sorted(values),
            },
            durable=False,
        )
        return result

    def _surely_fits(self, values: Mapping[str, FieldRecord]) -> bool:
        """A cheap upper bound on the encoded result (≤ 4 UTF-8 bytes per character,
        ≤ 120 bytes of keys and numbers per field), so most reads encode once."""
        bound = 200
        for path, rec in values.items():
            value = rec.value
            texts = value if isinstance(value, tuple) else (value,)
            bound += 120 + 4 * len(path) + sum(4 * len(t) + 3 for t in texts if isinstance(t, str))
        return bound <= self.max_frame_size

    def _collect(self, patterns: Iterable[str]) -> dict[str, FieldRecord]:
        profile = self.vault.profile
        snapshot = profile.snapshot()  # one freshness check for the whole read
        records: dict[str, ProfileField] = {}
        for pattern in patterns:
            try:
                if pattern.endswith(SUBTREE):
                    base = pattern.removesuffix(SUBTREE)
                    for rec in profile.fields(base):
                        if rec.path != base:
                            records[rec.path] = rec
                else:
                    # an unknown path is simply absent from the snapshot
                    one = snapshot.get(pattern) if snapshot is not None else profile.record(pattern)
                    if one is not None and one.is_set:
                        records[one.path] = one
            except UnknownField:
                continue  # a path outside the schema simply has no value
            except CorruptRecord as exc:
                log.warning("read skipped a corrupt record: %s", exc.name)
        if len(records) > MAX_VALUES_PER_MESSAGE:
            raise FrameTooLarge("too many values for one read; read fewer fields")
        out: dict[str, FieldRecord] = {}
        for path, rec in sorted(records.items()):
            try:
                out[path] = self._wire_field(rec)
            except ValueError:  # stored before the profile checked the wire's limits
                log.warning("read skipped %s: its value is not representable on the wire", path)
        return out

    def _wire_field(self, rec: ProfileField) -> FieldRecord:
        key = (rec.path, rec.version)
        wire = self._wire.get(key)
        if wire is None:
            if len(self._wire) >= WIRE_CACHE_SIZE:
                self._wire.clear()
            wire = FieldRecord(
                value=_wire_value(rec.value), version=rec.version, updated_at=rec.updated_at
            )
            self._wire[key] = wire
        return wire

    # access requests ----------------------------------------------------------------

    def _request(self, peer_id: str, msg: AccessRequest, link: PeerLink) -> Decision:
        state = self.grants.submit(msg)
        if state.status is DecisionStatus.PENDING and self.rules is not None:
            self._apply_rules(state)
            state = self.grants.request(msg.request_id)
        return self._decision(state)

    def _apply_rules(self, state: RequestState) -> None:
        assert self.rules is not None
        request = state.request
        match = self.rules.match(request, known=self.grants.has_granted(request.requester))
        if match is None:
            return
        try:
            if match.rule.action is RuleAction.APPROVE:
                self.grants.approve(
                    request.request_id, days=match.days, decided_by=match.decided_by
                )
            else:
                self.grants.deny(
                    request.request_id, "denied by the owner's rule", decided_by=match.decided_by
                )
        except KluisError as exc:  # the request stays pending for the owner
            log.warning(
                "rule %s could not decide %s: %s",
                match.rule.rule_id,
                request.request_id,
                exc.message,
            )

    def _decision(self, state: RequestState) -> Decision:
        grant = None
        if state.status is DecisionStatus.APPROVED and state.grant_id is not None:
            grant = self.grants.grant(state.grant_id).grant
        return Decision(
            request_id=state.request_id, status=state.status, grant=grant, reason=state.reason
        )

    def _await_decision(self, peer_id: str, msg: AwaitDecision, link: PeerLink) -> Reply:
        try:
            state = self.grants.request(msg.request_id)
        except NotFound:
            raise AccessDenied("no such access request", code=ErrorCode.NOT_FOUND) from None
        if state.request.requester != peer_id:
            raise AccessDenied("this request belongs to another peer", code=ErrorCode.WRONG_PEER)
        if state.status is not DecisionStatus.PENDING or msg.wait_ms == 0:
            return self._decision(state)
        if self._waiting_per_peer.get(peer_id, 0) >= MAX_WAITERS_PER_PEER:
            raise RateLimited("too many open long-polls from this peer")
        return self._wait(peer_id, msg)

    async def _wait(self, peer_id: str, msg: AwaitDecision) -> Message:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(msg.request_id, []).append(future)
        self._waiting_per_peer[peer_id] = self._waiting_per_peer.get(peer_id, 0) + 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, msg.wait_ms / 1000)
        finally:
            waiters = self._waiters.get(msg.request_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(msg.request_id, None)
            left = self._waiting_per_peer.get(peer_id, 1) - 1
            if left:
                self._waiting_per_peer[peer_id] = left
            else:
                self._waiting_per_peer.pop(peer_id, None)
        return self._decision(self.grants.request(msg.request_id))

    def _on_decision(self, state: RequestState, grant: object) -> None:
        for future in self._waiters.pop(state.request_id, []):
            if not future.done():
                future.set_result(None)

    # subscriptions --------------------------------------------------------------------

    def _subscribe(self, peer_id: str, msg: Subscribe, link: PeerLink) -> Reply:
        self.grants.check(peer_id, msg.grant_id, msg.fields, Action.SUBSCRIBE)
        mine = [s for subs in self._subs.values() for s in subs if s.peer_id == peer_id]
        for stale in [s for s in mine if s.link.closed]:  # its stream is gone (D50)
            self._end(stale)
        mine = [s for s in mine if not s.dropped]
        if len(mine) >= MAX_SUBSCRIPTIONS_PER_PEER:
            # The peer's connections may have died without a FIN (a peer cut off): a
            # new subscription on a grant it holds one on replaces its oldest (D50).
            same = [s for s in mine if s.grant_id == msg.grant_id]
            if not same:
                raise RateLimited("too many subscriptions from this peer")
            self._end(same[0])
        sub = _Subscription(msg.grant_id, peer_id, tuple(msg.fields), link)
        self._subs.setdefault(msg.grant_id, []).append(sub)  # changes queue from now on
        link.on_end(lambda: self._end(sub))  # its stream ended: forget it at once (D50)
        return self._start_pushing(sub)

    def _end(self, sub: _Subscription) -> None:
        """Forget a subscription whose stream ended (or is replaced); its pump stops."""
        if sub.dropped:
            return
        sub.dropped = True
        self._forget(sub)
        sub.queue.put_nowait(_CLOSE)

    async def _start_pushing(self, sub: _Subscription) -> None:
        """Ack first (the stream is then ``SUBSCRIBED``), then start the pump."""
        try:
            await sub.link.send(Ack(ref=sub.grant_id))
            sub.task = self._tasks.spawn(self._pump(sub), name=f"subscription {sub.grant_id}")
        except BaseException:
            self._forget(sub)
            raise
        self.vault.audit.append(
            "access.subscribe",
            {"grant_id": sub.grant_id, "requester": sub.peer_id, "fields": list(sub.patterns)},
        )

    def _forget(self, sub: _Subscription) -> None:
        subs = self._subs.get(sub.grant_id, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(sub.grant_id, None)

    def subscriptions(self, grant_id: str | None = None) -> int:
        """How many subscriptions are open (for one grant, or in all)."""
        if grant_id is not None:
            return len(self._subs.get(grant_id, []))
        return sum(len(s) for s in self._subs.values())

    async def _pump(self, sub: _Subscription) -> None:
        """Send a subscription's queued frames in order; close the stream at the end
        (reset it if a send blocked: a graceful close would wait on the same window)."""
        stuck = False
        try:
            while True:
                item = await sub.queue.get()
                if item is _CLOSE:
                    break
                assert isinstance(item, tuple)
                message, is_notice = item
                await asyncio.wait_for(sub.link.send(message), self.push_send_timeout)
                if is_notice:
                    sub.notice_sent = True
                    break
        except TimeoutError:
            stuck = True
            log.info("subscriber %s on %s stopped reading", sub.peer_id, sub.grant_id)
            if not sub.dropped:
                sub.dropped = True
                with contextlib.suppress(Exception):
                    self.vault.audit.append(
                        "access.subscription_dropped",
                        {
                            "grant_id": sub.grant_id,
                            "requester": sub.peer_id,
                            "backlog": sub.queue.qsize(),
                        },
                    )
        except Exception as exc:
            log.info("subscription of %s on %s ended: %s", sub.peer_id, sub.grant_id, exc)
        finally:
            self._forget(sub)
            with contextlib.suppress(Exception):
                await (sub.link.reset() if stuck else sub.link.close())

    def _on_profile_change(self, rec: ProfileField) -> None:
        for grant_id, subs in list(self._subs.items()):
            for sub in list(subs):
                if sub.link.closed:  # the requester went away
                    sub.queue.put_nowait(_CLOSE)
                    continue
                if not sub.covers(rec.path):
                    continue
                try:
                    self.grants.check(sub.peer_id, grant_id, (rec.path,), Action.SUBSCRIBE)
                except AccessDenied as exc:  # expired (revocation closes streams itself)
                    sub.queue.put_nowait((error_from_exception(exc, grant_id), False))
                    sub.queue.put_nowait(_CLOSE)
                    self._refuse_audit_only(sub.peer_id, exc, grant_id)
                    continue
                try:
                    update = Update(
                        grant_id=grant_id,
                        path=rec.path,
                        value=_wire_value(rec.value),
                        deleted=rec.value is None,
                        version=rec.version,
                        ts=rec.updated_at,
                    )
                except ValueError:
                    log.warning("cannot push %s: not representable on the wire", rec.path)
                    continue
                if sub.queue.qsize() >= self.max_backlog:
                    self._drop_slow(sub)
                    continue
                sub.queue.put_nowait((update, False))
                with contextlib.suppress(Exception):
                    self.vault.audit.append(
                        "access.push",
                        {
                            "grant_id": grant_id,
                            "requester": sub.peer_id,
                            "path": rec.path,
                            "version": rec.version,
                        },
                        durable=False,
                    )

    def _drop_slow(self, sub: _Subscription) -> None:
        """End a subscription whose subscriber does not read: forget its backlog, queue
        an error and the close (the pump's send timeout ends a blocked send), audit it."""
        backlog = sub.queue.qsize()
        sub.dropped = True
        self._forget(sub)  # no more updates are queued for it
        while not sub.queue.empty():
            sub.queue.get_nowait()
        err = RateLimited(f"subscription dropped: {backlog} updates unread")
        sub.queue.put_nowait((error_from_exception(err, sub.grant_id), False))
        sub.queue.put_nowait(_CLOSE)
        log.info("dropped a slow subscription of %s on %s", sub.peer_id, sub.grant_id)
        with contextlib.suppress(Exception):
            self.vault.audit.append(
                "access.subscription_dropped",
                {"grant_id": sub.grant_id, "requester": sub.peer_id, "backlog": backlog},
            )

    def _refuse_audit_only(self, peer_id: str, exc: KluisError, grant_id: str) -> None:
        with contextlib.suppress(Exception):
            self.vault.audit.append(
                "access.refused",
                {
                    "peer": peer_id,
                    "code": exc.code.value,
                    "reason": exc.message,
                    "message_type": "update",
                    "ref": grant_id,
                },
                durable=False,
            )

    # deletion receipts -----------------------------------------------------------------

    def _deletion(self, peer_id: str, msg: DeletionReceipt, link: PeerLink) -> Ack:
        self.grants.record_deletion(msg)
        return Ack(ref=msg.receipt_id)

    # -- revocation delivery --------------------------------------------------------------

    def _on_revoke(self, state: GrantState, notice: RevokeNotice) -> None:
        try:
            task = self._tasks.spawn(self.deliver(notice), name=f"revoke {state.grant_id}")
        except RuntimeError:  # outside the event loop, or this service is closed
            log.warning("revoked %s with the service stopped; notice not sent", state.grant_id)
            return
        self._deliveries[state.grant_id] = task

    def delivery(self, grant_id: str) -> asyncio.Task[bool | None] | None:
        """The task delivering ``grant_id``'s revoke notice (await it for the outcome)."""
        return self._deliveries.get(grant_id)

    async def deliver(self, notice: RevokeNotice) -> bool:
        """Send ``notice`` on the grant's open subscriptions, else by a request; record it.

        Returns True if the requester got it. The revocation holds either way.
        """
        delivered, via = False, "none"
        subs = list(self._subs.get(notice.grant_id, []))
        for sub in subs:
            sub.queue.put_nowait((notice, True))
            sub.queue.put_nowait(_CLOSE)
        for sub in subs:
            if sub.task is not None:
                with contextlib.suppress(Exception):
                    await sub.task
            if sub.notice_sent:
                delivered, via = True, "subscription"
        if not delivered and self.outbound is not None:
            delivered, via = await self._send_notice(notice)
        try:
            self.grants.mark_notice(notice.grant_id, delivered=delivered, via=via)
        except Exception:
            log.exception("could not record the notice delivery of %s", notice.grant_id)
        return delivered

    async def _send_notice(self, notice: RevokeNotice) -> tuple[bool, str]:
        assert self.outbound is not None
        try:
            reply = await self.outbound.request(
                notice.requester, ACCESS_GRAMMAR, notice, timeout=NOTICE_TIMEOUT_S
            )
        except Exception as exc:
            log.info("revoke notice for %s not delivered: %s", notice.grant_id, exc)
            return False, "request"
        if isinstance(reply, Ack) and reply.ref == notice.grant_id:
            return True, "request"
        if isinstance(reply, DeletionReceipt) and reply.grant_id == notice.grant_id:
            try:
                verify(reply, notice.requester)
                self.grants.record_deletion(reply)
            except KluisError as exc:
                self._refuse_audit_only(notice.requester, exc, notice.grant_id)
            return True, "request"
        return False, "request"

    # -- lifecycle ---------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for pending revoke deliveries (tests and shutdown)."""
        pending = [t for t in self._deliveries.values() if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop: unhook listeners, end subscriptions and long-polls, audit throttle counts."""
        for unhook in self._unhooks:
            unhook()
        self._unhooks = []
        for subs in list(self._subs.values()):
            for sub in subs:
                sub.queue.put_nowait(_CLOSE)
        for futures in list(self._waiters.values()):
            for fut in futures:
                if not fut.done():
                    fut.set_result(None)
        await self._tasks.aclose(grace=2.0)  # pumps end on _CLOSE; deliveries get 2 s
        self.flush_throttled()
        self.strangers.flush_all(self.grants.now())


def _wire_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
