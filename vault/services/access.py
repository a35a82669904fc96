"""The vault's ``/kluis/access/1.0.0`` handler: every frame a requester sends lands here.

:class:`AccessService` is a function of *(authenticated peer id, frame bytes) →
reply bytes* (:meth:`AccessService.handle_bytes`), so it is tested without
sockets; :meth:`AccessService.handle` is the same thing with the runtime's
``PeerContext``. Each frame goes through, in this order:

1. **Per-peer budget** (:class:`~vault.services.ratelimit.RateLimiter`, keyed by the Noise
   peer id; a frame costs 1 plus 1 per 16 KiB) and the **frame size** limit.
2. **Parse** (:func:`protocol.parse_message`: strict pydantic, typed errors).
3. For signed messages: the signer named in the message must be the
   Noise-authenticated peer (``wrong_peer`` otherwise), and the signature must
   verify (``bad_signature``).
4. **Replay guard** (nonce + timestamp, :class:`protocol.ReplayGuard`) for every
   message that carries a nonce.
5. **Dispatch**: ``access_request`` (queued pending, owner rules run, answered
   with a :class:`~protocol.Decision`), ``await_decision`` (long-poll; only the
   requester who asked may wait), ``read`` (answered from the grant book's O(1)
   check; a read that mixes in one out-of-scope field is refused whole),
   ``subscribe`` (acked, then :class:`~protocol.Update` frames are pushed on
   the stream on every in-scope profile change, and a
   :class:`~protocol.RevokeNotice` closes it), ``deletion_receipt`` (recorded,
   acked). Anything else is ``unexpected_message``.

Every refusal is a typed :class:`~protocol.Error` reply *and* an
``access.refused`` audit entry (peer, code, reason, message type); the handler
never raises, and other peers keep being served. Rate-limit refusals are
audited once per burst, then counted (``access.rate_limited`` with the number
suppressed) so a flood cannot turn the audit log into its amplifier.

The ``read`` path is a **sync** fast path: no awaits, so the runtime runs it
inline. Only ``await_decision`` returns an awaitable.

**Purpose.** A ``read`` or ``subscribe`` names no purpose: the grant's purpose
is fixed at approval (it is what the request declared, shown to the owner),
and every access under a grant is by definition under that purpose. Contact
(a later feature) will check the contact purpose against the grant's.

Audit details name grant ids, peer ids and field *paths*; never values.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from protocol import (
    ACCESS,
    AccessDenied,
    AccessRequest,
    Ack,
    Action,
    AwaitDecision,
    Decision,
    DecisionStatus,
    DeletionReceipt,
    ErrorCode,
    FieldRecord,
    FrameTooLarge,
    KluisError,
    Message,
    RateLimited,
    Read,
    ReadResult,
    ReplayGuard,
    RevokeNotice,
    Signed,
    Subscribe,
    UnexpectedMessage,
    Update,
    dump_message,
    error_from_exception,
    parse_message,
    verify,
)
from protocol.connection import REQUEST_REF
from protocol.framing import MAX_FRAME_SIZE
from protocol.limits import MAX_VALUES_PER_MESSAGE
from protocol.scopes import SUBTREE, pattern_covers
from vault._exceptions import CorruptRecord, UnknownField
from vault.services.grantbook import GrantBook, GrantState, NotFound, RequestState
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleAction, RuleBook
from vault.store.profile import ProfileField
from vault.store.vault import Vault

__all__ = ["AccessService", "Outbound", "PeerLink", "Reply"]

log = logging.getLogger(__name__)

#: What a frame handler returns: reply bytes now, or later (long-poll).
Reply = bytes | Awaitable[bytes]

#: Bytes of payload that cost one extra token in the per-peer budget.
SIZE_UNIT = 16 * 1024
MAX_WAITERS_PER_PEER = 8
MAX_SUBSCRIPTIONS_PER_PEER = 16
NOTICE_TIMEOUT_S = 5.0


class PeerLink(Protocol):
    """The part of the runtime's ``PeerContext`` this service uses."""

    @property
    def remote_peer_id(self) -> str: ...

    def send(self, payload: bytes) -> Any: ...  # may be sync or async

    def close(self) -> Any: ...


class Outbound(Protocol):
    """The part of the runtime's ``Node`` used to deliver revoke notices."""

    async def request(
        self, peer_id: str, protocol_id: str, payload: bytes, timeout: float = 10.0
    ) -> bytes: ...


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


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
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._waiting_per_peer: dict[str, int] = {}
        self._subs: dict[str, list[_Subscription]] = {}  # grant id -> subscriptions
        self._throttled: dict[str, int] = {}  # peer -> refusals not yet audited
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deliveries: dict[str, asyncio.Task[bool]] = {}
        # (path, version) -> its wire form. A field's versions never repeat (unset
        # leaves a tombstone with the next one), so an entry never goes stale.
        self._wire: dict[tuple[str, int], FieldRecord] = {}
        self._unhooks = [
            grants.on_decision(self._on_decision),
            grants.on_revoke(self._on_revoke),
            vault.profile.on_change(self._on_profile_change),
        ]

    # -- entry points ------------------------------------------------------------

    def handle(self, ctx: PeerLink, payload: bytes) -> Reply:
        """The runtime frame handler: ``(ctx, payload) -> reply bytes | awaitable``."""
        return self.handle_bytes(ctx.remote_peer_id, payload, ctx)

    def on_protocol_error(self, ctx: PeerLink, exc: BaseException) -> bytes:
        """The runtime's hook for oversized or malformed framing: audit, typed error reply."""
        err = exc if isinstance(exc, KluisError) else FrameTooLarge("bad framing")
        return self._refuse(ctx.remote_peer_id, err, None, None)

    def handle_bytes(self, peer_id: str, payload: bytes, link: PeerLink | None = None) -> Reply:
        """One frame from ``peer_id`` (Noise-authenticated) → the reply. Never raises."""
        kind: str | None = None
        ref: str | None = None
        try:
            cost = 1.0 + len(payload) / SIZE_UNIT
            if not self.limiter.try_acquire(peer_id, cost):
                return self._throttle(peer_id)
            if peer_id in self._throttled:
                self._unthrottle(peer_id)
            if len(payload) > self.max_frame_size:
                raise FrameTooLarge(
                    f"frame of {len(payload)} bytes is over the {self.max_frame_size}-byte limit"
                )
            msg = parse_message(payload)
            kind = msg.type
            ref_field = REQUEST_REF.get(kind)
            ref = getattr(msg, ref_field) if ref_field else None
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
            reply = self._dispatch(peer_id, msg, link)
        except KluisError as exc:
            return self._refuse(peer_id, exc, kind, ref)
        except Exception:
            log.exception("access handler failed on a %s from %s", kind, peer_id)
            return self._refuse(peer_id, KluisError("internal error"), kind, ref)
        if isinstance(reply, bytes):
            return reply
        return self._guard(peer_id, reply, kind, ref)

    async def _guard(
        self, peer_id: str, reply: Awaitable[bytes], kind: str | None, ref: str | None
    ) -> bytes:
        try:
            return await reply
        except KluisError as exc:
            return self._refuse(peer_id, exc, kind, ref)
        except Exception:
            log.exception("access handler failed on a %s from %s", kind, peer_id)
            return self._refuse(peer_id, KluisError("internal error"), kind, ref)

    # -- refusals ----------------------------------------------------------------

    def _refuse(self, peer_id: str, exc: KluisError, kind: str | None, ref: str | None) -> bytes:
        error = error_from_exception(exc, ref)
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
        return dump_message(error)

    def _throttle(self, peer_id: str) -> bytes:
        if peer_id in self._throttled:
            self._throttled[peer_id] += 1
            error = error_from_exception(RateLimited("too many requests; slow down"))
            return dump_message(error)
        self._throttled[peer_id] = 0
        return self._refuse(peer_id, RateLimited("too many requests; slow down"), None, None)

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

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, peer_id: str, msg: Message, link: PeerLink | None) -> Reply:
        if isinstance(msg, Read):
            return self._read(peer_id, msg)
        if isinstance(msg, AccessRequest):
            return self._request(msg)
        if isinstance(msg, AwaitDecision):
            return self._await_decision(peer_id, msg)
        if isinstance(msg, Subscribe):
            return self._subscribe(peer_id, msg, link)
        if isinstance(msg, DeletionReceipt):
            return self._deletion(msg)
        raise UnexpectedMessage(f"a vault does not accept {msg.type}")

    # read: the sync fast path ------------------------------------------------------

    def _read(self, peer_id: str, msg: Read) -> bytes:
        self.grants.check(peer_id, msg.grant_id, msg.fields, Action.READ)
        values = self._collect(msg.fields)
        result = ReadResult(grant_id=msg.grant_id, values=values)
        data = dump_message(result)
        if len(data) > self.max_frame_size:
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
        return data

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

    def _request(self, msg: AccessRequest) -> bytes:
        state = self.grants.submit(msg)
        if state.status is DecisionStatus.PENDING and self.rules is not None:
            self._apply_rules(state)
            state = self.grants.request(msg.request_id)
        return dump_message(self._decision(state))

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

    def _await_decision(self, peer_id: str, msg: AwaitDecision) -> Reply:
        try:
            state = self.grants.request(msg.request_id)
        except NotFound:
            raise AccessDenied("no such access request", code=ErrorCode.NOT_FOUND) from None
        if state.request.requester != peer_id:
            raise AccessDenied("this request belongs to another peer", code=ErrorCode.WRONG_PEER)
        if state.status is not DecisionStatus.PENDING or msg.wait_ms == 0:
            return dump_message(self._decision(state))
        if self._waiting_per_peer.get(peer_id, 0) >= MAX_WAITERS_PER_PEER:
            raise RateLimited("too many open long-polls from this peer")
        return self._wait(peer_id, msg)

    async def _wait(self, peer_id: str, msg: AwaitDecision) -> bytes:
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
        return dump_message(self._decision(self.grants.request(msg.request_id)))

    def _on_decision(self, state: RequestState, grant: object) -> None:
        for future in self._waiters.pop(state.request_id, []):
            if not future.done():
                future.set_result(None)

    # subscriptions --------------------------------------------------------------------

    def _subscribe(self, peer_id: str, msg: Subscribe, link: PeerLink | None) -> bytes:
        self.grants.check(peer_id, msg.grant_id, msg.fields, Action.SUBSCRIBE)
        if link is None:
            raise UnexpectedMessage("subscribe needs a stream to push updates on")
        mine = sum(1 for subs in self._subs.values() for s in subs if s.peer_id == peer_id)
        if mine >= MAX_SUBSCRIPTIONS_PER_PEER:
            raise RateLimited("too many subscriptions from this peer")
        sub = _Subscription(msg.grant_id, peer_id, tuple(msg.fields), link)
        self._subs.setdefault(msg.grant_id, []).append(sub)
        sub.task = self._spawn(self._pump(sub))
        self.vault.audit.append(
            "access.subscribe",
            {"grant_id": msg.grant_id, "requester": peer_id, "fields": list(msg.fields)},
        )
        return dump_message(Ack(ref=msg.grant_id))

    def subscriptions(self, grant_id: str | None = None) -> int:
        """How many subscriptions are open (for one grant, or in all)."""
        if grant_id is not None:
            return len(self._subs.get(grant_id, []))
        return sum(len(s) for s in self._subs.values())

    async def _pump(self, sub: _Subscription) -> None:
        """Send a subscription's queued frames in order; close the stream at the end."""
        try:
            while True:
                item = await sub.queue.get()
                if item is _CLOSE:
                    break
                assert isinstance(item, tuple)
                payload, is_notice = item
                await _maybe_await(sub.link.send(payload))
                if is_notice:
                    sub.notice_sent = True
                    break
        except Exception as exc:
            log.info("subscription of %s on %s ended: %s", sub.peer_id, sub.grant_id, exc)
        finally:
            subs = self._subs.get(sub.grant_id, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._subs.pop(sub.grant_id, None)
            with contextlib.suppress(Exception):
                await _maybe_await(sub.link.close())

    def _on_profile_change(self, rec: ProfileField) -> None:
        for grant_id, subs in list(self._subs.items()):
            for sub in list(subs):
                if getattr(sub.link, "closed", False):  # the requester went away
                    sub.queue.put_nowait(_CLOSE)
                    continue
                if not sub.covers(rec.path):
                    continue
                try:
                    self.grants.check(sub.peer_id, grant_id, (rec.path,), Action.SUBSCRIBE)
                except AccessDenied as exc:  # expired (revocation closes streams itself)
                    sub.queue.put_nowait((dump_message(error_from_exception(exc, grant_id)), False))
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
                sub.queue.put_nowait((dump_message(update), False))
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

    def _deletion(self, msg: DeletionReceipt) -> bytes:
        self.grants.record_deletion(msg)
        return dump_message(Ack(ref=msg.receipt_id))

    # -- revocation delivery --------------------------------------------------------------

    def _on_revoke(self, state: GrantState, notice: RevokeNotice) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.warning("revoked %s outside the event loop; notice not sent", state.grant_id)
            return
        self._deliveries[state.grant_id] = self._spawn(self.deliver(notice))

    def delivery(self, grant_id: str) -> asyncio.Task[bool] | None:
        """The task delivering ``grant_id``'s revoke notice (await it for the outcome)."""
        return self._deliveries.get(grant_id)

    async def deliver(self, notice: RevokeNotice) -> bool:
        """Send ``notice`` on the grant's open subscriptions, else by a request; record it.

        Returns True if the requester got it. The revocation holds either way.
        """
        delivered, via = False, "none"
        subs = list(self._subs.get(notice.grant_id, []))
        payload = dump_message(notice)
        for sub in subs:
            sub.queue.put_nowait((payload, True))
            sub.queue.put_nowait(_CLOSE)
        for sub in subs:
            if sub.task is not None:
                with contextlib.suppress(Exception):
                    await sub.task
            if sub.notice_sent:
                delivered, via = True, "subscription"
        if not delivered and self.outbound is not None:
            delivered, via = await self._send_notice(notice, payload)
        try:
            self.grants.mark_notice(notice.grant_id, delivered=delivered, via=via)
        except Exception:
            log.exception("could not record the notice delivery of %s", notice.grant_id)
        return delivered

    async def _send_notice(self, notice: RevokeNotice, payload: bytes) -> tuple[bool, str]:
        assert self.outbound is not None
        try:
            raw = await self.outbound.request(
                notice.requester, ACCESS, payload, timeout=NOTICE_TIMEOUT_S
            )
            reply = parse_message(raw)
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

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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
        tasks = list(self._tasks)
        if tasks:
            _done, still = await asyncio.wait(tasks, timeout=2.0)
            for task in still:
                task.cancel()
        self.flush_throttled()


def _wire_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
