"""The vault's book of access requests, grants, revocations and deletion receipts.

Why it looks like this:

* **Sealed at rest, indexed in memory.** Every record is a sealed store record
  (kinds ``request``, ``grant``, ``receipt``; names are the ids). The book loads
  them once when it is opened and keeps a dict per kind, so the check that runs
  on *every* access (:meth:`GrantBook.check`) is one dict lookup plus
  :func:`protocol.check_access`: O(1), no SQLite, never the KDF.
* **Revocation is in force before** :meth:`GrantBook.revoke` **returns.** The
  in-memory index is flipped first (fail closed: even if the store write then
  fails, this process refuses the grant), then the grant record, the signed
  :class:`~protocol.RevokeNotice` and the audit entry commit in one transaction.
* **Time is injected** (``clock``, integer ms), so expiry is tested with a fake
  clock. Expiry is never stored as a state: it is computed on every access.
* **Decisions notify.** :meth:`on_decision` and :meth:`on_revoke` listeners run
  after the commit (the access service resolves long-polls and delivers revoke
  notices from them); a broken listener is logged, never undoes a decision.

Audit entries (``access.request``, ``access.approve``, ``access.deny``,
``grant.revoke``, ``grant.notice``, ``grant.deletion``) carry ids, peer ids, purposes and
field *paths*, never values.

Statuses a request goes through: ``pending`` → ``approved`` | ``denied``.
A request is also denied, with ``decided_by`` saying why, when it waited longer
than ``pending_days`` (``"expiry"``) or was the oldest request from an unknown
business when the inbox was full (``"eviction"``); see decision D31.
A grant's status is derived: ``active``, ``expired`` or ``revoked``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from protocol import (
    AccessDenied,
    AccessRequest,
    Action,
    DecisionStatus,
    DeletionReceipt,
    ErrorCode,
    Grant,
    KluisError,
    RateLimited,
    RevokeNotice,
    UnexpectedMessage,
    canonical_dumps,
    canonical_loads,
    check_access,
    make_grant,
    sign,
)
from protocol.clock import Clock
from vault._exceptions import CorruptRecord, VaultError
from vault.services.trail import RolledBackRecord, Trail
from vault.store.jsonform import JsonRecord
from vault.store.schema import check_pattern
from vault.store.vault import Vault

__all__ = [
    "DecisionListener",
    "GrantBook",
    "GrantState",
    "NotFound",
    "RequestListener",
    "RequestState",
    "RevokeListener",
]

log = logging.getLogger(__name__)

REQUEST_KIND = "request"
GRANT_KIND = "grant"
RECEIPT_KIND = "receipt"

#: Pending requests one peer may have open at once, and all peers together. A
#: request is a sealed store write; without a cap a peer could fill the disk.
MAX_PENDING_PER_PEER = 32
#: A business the owner does not know yet (it never held a grant) gets fewer:
#: peer ids cost nothing to make, so its share is what one honest newcomer needs.
MAX_PENDING_PER_UNKNOWN_PEER = 4
MAX_PENDING_TOTAL = 1000
#: Of the total, the room unknown businesses may fill together; the rest is kept
#: for businesses that hold or held a grant, so a flood of new ids never locks
#: them out. When it is full the oldest unknown request is evicted (audited).
MAX_PENDING_UNKNOWN = 800
#: How long a request waits for the owner before it expires (denied, audited).
#: ``[requests] pending_days`` in ``config.toml`` changes it.
PENDING_DAYS = 7
DAY_MS = 86_400_000

#: Audit entries replayed at load past which the trail's checkpoint is rewritten,
#: so the next start replays only what came after it (trail.py).
TRAIL_CHECKPOINT_AFTER = 256


class NotFound(VaultError):
    """No request or grant with that id."""

    code = ErrorCode.NOT_FOUND


@dataclass(slots=True)
class RequestState(JsonRecord):
    """One access request and what became of it."""

    request: AccessRequest
    status: DecisionStatus
    received_at: int
    decided_at: int | None = None
    decided_by: str = ""  # "owner" or "rule:<id>"
    reason: str = ""
    grant_id: str | None = None
    audit_seq: int | None = None  # the audit entry written with this state (trail.py)

    @property
    def request_id(self) -> str:
        return self.request.request_id


@dataclass(slots=True)
class GrantState(JsonRecord):
    """One grant, its revocation and the requester's deletion receipts."""

    grant: Grant
    revoked_at: int | None = None
    notice: RevokeNotice | None = None
    notice_delivered: bool | None = None  # None: not tried yet
    receipts: list[str] = field(default_factory=list)
    audit_seq: int | None = None  # the audit entry written with this state (trail.py)

    @property
    def grant_id(self) -> str:
        return self.grant.grant_id

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def status(self, now_ms: int) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if now_ms >= self.grant.expires_at else "active"


#: Called after a new access request commits, with its (pending) state.
RequestListener = Callable[[RequestState], None]
#: Called after a decision commits, with the decided request (and its grant, if approved).
DecisionListener = Callable[[RequestState, Grant | None], None]
#: Called after a revocation commits, with the grant's state and the signed notice.
RevokeListener = Callable[[GrantState, RevokeNotice], None]


class GrantBook:
    """Requests, grants, revocations and deletion receipts of one vault."""

    def __init__(
        self, vault: Vault, *, clock: Clock | None = None, pending_days: int = PENDING_DAYS
    ) -> None:
        if pending_days < 1:
            raise ValueError("pending_days is at least 1")
        self._vault = vault
        self._clock: Clock = clock or vault.clock
        self.pending_ms = pending_days * DAY_MS
        self._requests: dict[str, RequestState] = {}
        # Pending requests in arrival order (the eviction and expiry order) and per peer.
        self._pending: dict[str, RequestState] = {}
        self._pending_per_peer: dict[str, int] = {}
        self._grants: dict[str, GrantState] = {}
        self._receipts: dict[str, DeletionReceipt] = {}
        self._granted_peers: set[str] = set()
        self._decision_listeners: list[DecisionListener] = []
        self._request_listeners: list[RequestListener] = []
        self._revoke_listeners: list[RevokeListener] = []
        self.corrupt: list[CorruptRecord] = []
        self.rolled_back: list[RolledBackRecord] = []
        self._load()

    # -- loading ---------------------------------------------------------------

    def _load(self) -> None:
        store = self._vault.store
        for name, raw in store.items(REQUEST_KIND, errors=self.corrupt):
            try:
                self._requests[name] = RequestState.from_json(canonical_loads(raw))
            except (KluisError, KeyError, TypeError, ValueError):
                self.corrupt.append(CorruptRecord(name, kind=REQUEST_KIND))
        for name, raw in store.items(GRANT_KIND, errors=self.corrupt):
            try:
                state = GrantState.from_json(canonical_loads(raw))
            except (KluisError, KeyError, TypeError, ValueError):
                self.corrupt.append(CorruptRecord(name, kind=GRANT_KIND))
                continue
            self._grants[name] = state
            self._granted_peers.add(state.grant.requester)
        for name, raw in store.items(RECEIPT_KIND, errors=self.corrupt):
            try:
                self._receipts[name] = DeletionReceipt.model_validate(canonical_loads(raw))
            except (KluisError, KeyError, TypeError, ValueError):
                self.corrupt.append(CorruptRecord(name, kind=RECEIPT_KIND))
        self._check_trail()
        for pending in self.requests(DecisionStatus.PENDING):
            self._hold(pending)
        for exc in self.corrupt:
            log.warning("grant book: %s", exc.message)

    def _check_trail(self) -> None:
        """Refuse records older than the audit chain's last event about them (trail.py).

        A rolled-back grant is held revoked (fail closed: revocation can never be
        undone by copying rows); a rolled-back request takes the decision the
        chain recorded. Each is reported in :attr:`rolled_back` and :attr:`corrupt`.
        """
        trail = Trail.load(self._vault)
        for gid, state in self._grants.items():
            if not trail.grant_is_current(gid, state.audit_seq, state.revoked):
                state.revoked_at = trail.revoked.get(gid, state.revoked_at or self.now())
                self.rolled_back.append(RolledBackRecord(gid, kind=GRANT_KIND))
        for rid, req in self._requests.items():
            pending = req.status is DecisionStatus.PENDING
            if not trail.request_is_current(rid, req.audit_seq, pending):
                last = trail.requests.get(rid)
                if last is None or last.kind == "access.deny":
                    req.status = DecisionStatus.DENIED
                elif last.kind == "access.approve":
                    req.status, req.grant_id = DecisionStatus.APPROVED, last.grant_id
                self.rolled_back.append(RolledBackRecord(rid, kind=REQUEST_KIND))
        self.corrupt.extend(self.rolled_back)
        if trail.replayed > TRAIL_CHECKPOINT_AFTER:
            trail.save(self._vault)

    # -- queries ---------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return self._vault.peer_id

    def now(self) -> int:
        return int(self._clock())

    def request(self, request_id: str) -> RequestState:
        state = self._requests.get(request_id)
        if state is None:
            raise NotFound(f"no access request {request_id}")
        return state

    def requests(self, status: DecisionStatus | str | None = None) -> list[RequestState]:
        """Requests, oldest first; only those with ``status`` if given."""
        wanted = None if status is None else DecisionStatus(status)
        out = [r for r in self._requests.values() if wanted is None or r.status is wanted]
        return sorted(out, key=lambda r: (r.received_at, r.request_id))

    def grant(self, grant_id: str) -> GrantState:
        state = self._grants.get(grant_id)
        if state is None:
            raise NotFound(f"no grant {grant_id}")
        return state

    def grants(self, requester: str | None = None) -> list[GrantState]:
        """Grants, oldest first; only ``requester``'s if given."""
        out = [
            g for g in self._grants.values() if requester is None or g.grant.requester == requester
        ]
        return sorted(out, key=lambda g: (g.grant.issued_at, g.grant_id))

    def receipts(self, grant_id: str | None = None) -> list[DeletionReceipt]:
        return [r for r in self._receipts.values() if grant_id is None or r.grant_id == grant_id]

    def has_pending(self, peer_id: str) -> bool:
        """True if ``peer_id`` has a request waiting for the owner. O(1)."""
        return peer_id in self._pending_per_peer

    def has_granted(self, peer_id: str) -> bool:
        """True if this vault ever granted ``peer_id`` anything (the rules' "known" peers)."""
        return peer_id in self._granted_peers

    def live_grants(self, requester: str | None = None) -> list[GrantState]:
        now = self.now()
        return [g for g in self.grants(requester) if g.status(now) == "active"]

    # -- the per-access check (hot path) ----------------------------------------

    def check(
        self,
        peer_id: str,
        grant_id: str,
        fields: Iterable[str],
        action: Action | str,
        now_ms: int | None = None,
    ) -> Grant:
        """Allow ``peer_id`` to do ``action`` on ``fields`` under ``grant_id``, or raise.

        O(1): one dict lookup and :func:`protocol.check_access` (wrong peer →
        revoked → expired → out of scope). Unknown grant ids are ``not_granted``.
        """
        state = self._grants.get(grant_id)
        if state is None:
            raise AccessDenied("no such grant", code=ErrorCode.NOT_GRANTED)
        now = self.now() if now_ms is None else now_ms
        check_access(state.grant, peer_id, tuple(fields), action, now, revoked=state.revoked)
        return state.grant

    # -- requests ----------------------------------------------------------------

    def submit(self, request: AccessRequest) -> RequestState:
        """Queue a verified access request as pending (idempotent for an identical resend)."""
        existing = self._requests.get(request.request_id)
        if existing is not None:
            if existing.request == request:
                return existing
            raise UnexpectedMessage("this request id is already used")
        if request.vault != self.peer_id:
            raise AccessDenied(
                "this request is addressed to another vault", code=ErrorCode.WRONG_PEER
            )
        for pattern in request.scope.fields:
            check_pattern(pattern)  # a field no profile has: refused, never approvable
        self.expire_pending()
        self._make_room(request.requester)
        state = RequestState(request, DecisionStatus.PENDING, received_at=self.now())
        with self._vault.transaction():
            entry = self._vault.audit.append(
                "access.request",
                {
                    "request_id": request.request_id,
                    "requester": request.requester,
                    "fields": list(request.scope.fields),
                    "actions": [a.value for a in request.scope.actions],
                    "purpose": request.purpose.code.value,
                    "duration_days": request.duration_days,
                    "retention_days": request.retention_days,
                },
            )
            self._put_request(state, entry.seq)
        self._requests[request.request_id] = state
        self._hold(state)
        for listener in list(self._request_listeners):
            try:
                listener(state)
            except Exception:
                log.exception("request listener failed for %s", state.request_id)
        return state

    def approve(
        self,
        request_id: str,
        fields: Iterable[str] | None = None,
        days: int | None = None,
        *,
        actions: Iterable[str | Action] | None = None,
        retention_days: int | None = None,
        decided_by: str = "owner",
    ) -> Grant:
        """Approve a pending request, optionally narrowed; returns the vault-signed grant.

        ``fields``/``actions`` may only narrow the requested scope and ``days``
        only shorten it (:class:`~protocol.ScopeError` otherwise).
        """
        state = self._pending_state(request_id)
        now = self.now()
        grant = make_grant(
            state.request,
            self._vault.identity,
            now_ms=now,
            fields=None if fields is None else list(fields),
            actions=None if actions is None else list(actions),
            duration_days=days,
            retention_days=retention_days,
        )
        decided = replace(
            state,
            status=DecisionStatus.APPROVED,
            decided_at=now,
            decided_by=decided_by,
            grant_id=grant.grant_id,
        )
        gstate = GrantState(grant)
        with self._vault.transaction():
            entry = self._vault.audit.append(
                "access.approve",
                {
                    "request_id": request_id,
                    "grant_id": grant.grant_id,
                    "requester": grant.requester,
                    "fields": list(grant.scope.fields),
                    "actions": [a.value for a in grant.scope.actions],
                    "purpose": grant.purpose.code.value,
                    "expires_at": grant.expires_at,
                    "decided_by": decided_by,
                },
            )
            self._put_request(decided, entry.seq)
            self._put_grant(gstate, entry.seq)
        self._requests[request_id] = decided
        self._release(state)
        self._grants[grant.grant_id] = gstate
        self._granted_peers.add(grant.requester)
        self._notify_decision(decided, grant)
        return grant

    def deny(self, request_id: str, reason: str = "", *, decided_by: str = "owner") -> RequestState:
        """Deny a pending request."""
        return self._deny_all([self._pending_state(request_id)], reason, decided_by)[0]

    def deny_unknown(self, reason: str = "") -> list[RequestState]:
        """Deny every pending request from a business that never held a grant (one commit).

        The owner's "deny all from unknown businesses": the answer to a flood of
        fresh peer ids. Each denial is its own ``access.deny`` entry.
        """
        doomed = [s for s in self._pending.values() if not self.has_granted(s.request.requester)]
        return self._deny_all(doomed, reason or "denied in bulk: unknown business", "owner")

    def expire_pending(self) -> list[RequestState]:
        """Deny (``decided_by="expiry"``) every request older than :attr:`pending_ms`.

        Runs before each new request is queued and when the node starts; a
        requester waiting on it is answered ``denied``.
        """
        cutoff = self.now() - self.pending_ms
        doomed = []
        for state in self._pending.values():  # arrival order: stop at the first young one
            if state.received_at > cutoff:
                break
            doomed.append(state)
        return self._deny_all(doomed, "expired: the owner did not decide in time", "expiry")

    def _deny_all(
        self, doomed: list[RequestState], reason: str, decided_by: str
    ) -> list[RequestState]:
        if not doomed:
            return []
        with self._vault.transaction():
            decided = [self._deny(s, reason, decided_by) for s in doomed]
        for before, after in zip(doomed, decided, strict=True):  # the index follows the commit
            self._requests[after.request_id] = after
            self._release(before)
        for state in decided:
            self._notify_decision(state, None)
        return decided

    def _make_room(self, requester: str) -> None:
        """Refuse a peer over its own cap; evict the oldest unknown request if a pool is full."""
        known = self.has_granted(requester)
        mine = self._pending_per_peer.get(requester, 0)
        if mine >= (MAX_PENDING_PER_PEER if known else MAX_PENDING_PER_UNKNOWN_PEER):
            raise RateLimited("too many pending access requests; wait for a decision")
        unknown = [s for s in self._pending.values() if not self.has_granted(s.request.requester)]
        full = len(self._pending) >= MAX_PENDING_TOTAL or (
            not known and len(unknown) >= MAX_PENDING_UNKNOWN
        )
        if not full:
            return
        if not unknown:  # the whole inbox is businesses the owner knows
            raise RateLimited("too many pending access requests; wait for a decision")
        self._deny_all(
            [unknown[0]],
            "evicted: the inbox was full of requests from unknown businesses",
            "eviction",
        )

    def _deny(self, state: RequestState, reason: str, decided_by: str) -> RequestState:
        """Write one denial inside the caller's transaction (the caller updates the index)."""
        decided = replace(
            state,
            status=DecisionStatus.DENIED,
            decided_at=self.now(),
            decided_by=decided_by,
            reason=reason[:280],
        )
        entry = self._vault.audit.append(
            "access.deny",
            {
                "request_id": state.request_id,
                "requester": state.request.requester,
                "purpose": state.request.purpose.code.value,
                "decided_by": decided_by,
            },
        )
        self._put_request(decided, entry.seq)
        return decided

    def _hold(self, state: RequestState) -> None:
        self._pending[state.request_id] = state
        peer = state.request.requester
        self._pending_per_peer[peer] = self._pending_per_peer.get(peer, 0) + 1

    def _release(self, state: RequestState) -> None:
        if self._pending.pop(state.request_id, None) is None:
            return
        peer = state.request.requester
        left = self._pending_per_peer.get(peer, 1) - 1
        if left > 0:
            self._pending_per_peer[peer] = left
        else:
            self._pending_per_peer.pop(peer, None)

    def _pending_state(self, request_id: str) -> RequestState:
        state = self.request(request_id)
        if state.status is not DecisionStatus.PENDING:
            raise VaultError(f"request {request_id} is already {state.status.value}")
        return state

    # -- revocation ----------------------------------------------------------------

    def revoke(self, grant_id: str, *, reason: str = "", erase: bool = False) -> RevokeNotice:
        """Revoke a grant. In force (index and store, audited) when this returns.

        Returns the vault-signed :class:`~protocol.RevokeNotice` to deliver. Revoking
        a revoked grant returns its existing notice and changes nothing.
        """
        state = self.grant(grant_id)
        if state.notice is not None:
            return state.notice
        now = self.now()
        # Fail closed: the in-memory index refuses the grant from this instant,
        # even if the store write below fails.
        state.revoked_at = now
        notice = sign(
            RevokeNotice(
                grant_id=grant_id,
                vault=self.peer_id,
                requester=state.grant.requester,
                revoked_at=now,
                erase=erase,
                reason=reason[:280],
            ),
            self._vault.identity,
        )
        updated = replace(state, revoked_at=now, notice=notice)
        with self._vault.transaction():
            entry = self._vault.audit.append(
                "grant.revoke",
                {
                    "grant_id": grant_id,
                    "requester": state.grant.requester,
                    "erase": erase,
                },
            )
            self._put_grant(updated, entry.seq)
        state.notice = notice
        for listener in list(self._revoke_listeners):
            try:
                listener(state, notice)
            except Exception:
                log.exception("revoke listener failed for %s", grant_id)
        return notice

    def mark_notice(self, grant_id: str, *, delivered: bool, via: str) -> None:
        """Record whether the revoke notice reached the requester (``via``: how)."""
        state = self.grant(grant_id)
        updated = replace(state, notice_delivered=delivered)
        with self._vault.transaction():
            entry = self._vault.audit.append(
                "grant.notice",
                {
                    "grant_id": grant_id,
                    "requester": state.grant.requester,
                    "delivered": delivered,
                    "via": via,
                },
            )
            self._put_grant(updated, entry.seq)
        state.notice_delivered = delivered

    def record_deletion(self, receipt: DeletionReceipt) -> bool:
        """Store a verified deletion receipt; False if this receipt id was already recorded.

        The receipt must be from the grant's requester, addressed to this vault.
        """
        known = self._receipts.get(receipt.receipt_id)
        if known is not None:
            if known == receipt:
                return False
            raise UnexpectedMessage("this receipt id is already used")
        if receipt.vault != self.peer_id:
            raise AccessDenied(
                "this receipt is addressed to another vault", code=ErrorCode.WRONG_PEER
            )
        state = self._grants.get(receipt.grant_id)
        if state is None:
            raise AccessDenied("no such grant", code=ErrorCode.NOT_GRANTED)
        if state.grant.requester != receipt.requester:
            raise AccessDenied("this grant belongs to another peer", code=ErrorCode.WRONG_PEER)
        updated = replace(state, receipts=[*state.receipts, receipt.receipt_id])
        with self._vault.transaction():
            entry = self._vault.audit.append(
                "grant.deletion",
                {
                    "grant_id": receipt.grant_id,
                    "receipt_id": receipt.receipt_id,
                    "requester": receipt.requester,
                    "reason": receipt.reason.value,
                    "fields": list(receipt.deleted_fields),
                    "key_destroyed": receipt.key_destroyed,
                },
            )
            self._vault.store.put(
                RECEIPT_KIND,
                receipt.receipt_id,
                canonical_dumps(receipt.model_dump(mode="json")),
            )
            self._put_grant(updated, entry.seq)
        state.receipts.append(receipt.receipt_id)
        self._receipts[receipt.receipt_id] = receipt
        return True

    # -- listeners ------------------------------------------------------------------

    def on_request(self, listener: RequestListener) -> Callable[[], None]:
        """Call ``listener`` after each new request commits (pending, before any rule runs)."""
        self._request_listeners.append(listener)
        return lambda: self._remove(self._request_listeners, listener)

    def on_decision(self, listener: DecisionListener) -> Callable[[], None]:
        """Call ``listener`` after each approve/deny commits; returns an unregister function."""
        self._decision_listeners.append(listener)
        return lambda: self._remove(self._decision_listeners, listener)

    def on_revoke(self, listener: RevokeListener) -> Callable[[], None]:
        """Call ``listener`` after each revocation commits; returns an unregister function."""
        self._revoke_listeners.append(listener)
        return lambda: self._remove(self._revoke_listeners, listener)

    @staticmethod
    def _remove(listeners: list[Any], listener: Any) -> None:
        if listener in listeners:
            listeners.remove(listener)

    def _notify_decision(self, state: RequestState, grant: Grant | None) -> None:
        for listener in list(self._decision_listeners):
            try:
                listener(state, grant)
            except Exception:
                log.exception("decision listener failed for %s", state.request_id)

    # -- persistence ----------------------------------------------------------------

    def _put_request(self, state: RequestState, audit_seq: int) -> None:
        """Store a request with the seq of the audit entry committed with it (the trail)."""
        state.audit_seq = audit_seq
        self._vault.store.put(REQUEST_KIND, state.request_id, canonical_dumps(state.to_json()))

    def _put_grant(self, state: GrantState, audit_seq: int) -> None:
        """Store a grant with the seq of the audit entry committed with it (the trail)."""
        state.audit_seq = audit_seq
        self._vault.store.put(GRANT_KIND, state.grant_id, canonical_dumps(state.to_json()))

    def __repr__(self) -> str:
        return f"GrantBook({len(self._requests)} requests, {len(self._grants)} grants)"
