"""What the audit chain says last happened to each grant and request: the rollback check's truth.

A grant or request record is one sealed row. Sealing stops forgery, not an
attacker who copies an *older* sealed row of the same record back into
``vault.db`` (a revoked grant's pre-revocation row reads as active). The audit
chain cannot be rolled back that way (it is hash-linked and held up by the
high-water mark outside the database), so it is the reference:

* every grant and request record stores ``audit_seq``, the seq of the audit
  entry committed with it (same transaction);
* :class:`Trail` replays the chain's grant and request events and remembers, per
  id, the last event's seq (and, for a grant, when it was revoked);
* :class:`~vault.services.grantbook.GrantBook` compares the two at load. A
  record whose ``audit_seq`` is not its last event's seq is a rolled-back copy:
  it is refused (a grant is held revoked) and reported.

Replaying the whole chain at every start would be O(n), so the trail is
checkpointed in a sealed record (``meta``/``grant.trail``) that names the audit
entry it is current to, by seq and hash. At load only the entries after it are
replayed. A rolled-back checkpoint is harmless: it still names a real entry of
this chain, so replaying from there catches every later event (it only costs
time). A checkpoint that names no entry of this chain is ignored.

A chain entry that cannot be read, or a gap in the seqs, means an event may
be hidden there: :attr:`Trail.damaged_at` records the first, and every grant
last written before it is refused too (fail closed: a wrongly refused grant
costs a re-approval; a wrongly live one leaks data).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from protocol import CanonicalError, canonical_dumps, canonical_loads
from vault._exceptions import CorruptRecord
from vault.store.audit import AuditEntry
from vault.store.vault import Vault

__all__ = ["GRANT_EVENTS", "REQUEST_EVENTS", "Event", "RolledBackRecord", "Trail"]

#: Audit kinds that change a grant record (``details.grant_id`` names it).
GRANT_EVENTS = frozenset({"access.approve", "grant.revoke", "grant.notice", "grant.deletion"})
#: Audit kinds that change a request record (``details.request_id`` names it).
REQUEST_EVENTS = frozenset({"access.request", "access.approve", "access.deny"})

CHECKPOINT_KIND = "meta"
CHECKPOINT_NAME = "grant.trail"


class RolledBackRecord(CorruptRecord):
    """A grant or request record older than the audit chain's last event about it."""

    def __init__(self, name: str, *, kind: str) -> None:
        super().__init__(name, kind=kind)
        self.args = (
            f"rolled-back record: {kind} {name} is older than its audit trail "
            "(an old copy was put back); it is refused",
        )


@dataclass(frozen=True, slots=True)
class Event:
    """The last state-changing audit entry about one grant or request."""

    seq: int
    kind: str
    timestamp: int
    grant_id: str | None = None  # for a request: the grant its approval made

    def to_json(self) -> list[Any]:
        return [self.seq, self.kind, self.timestamp, self.grant_id]

    @classmethod
    def from_json(cls, data: Any) -> Event:
        seq, kind, ts, grant_id = data
        return cls(int(seq), str(kind), int(ts), None if grant_id is None else str(grant_id))


@dataclass(slots=True)
class Trail:
    """Per grant and request id, the last event the audit chain holds about it."""

    grants: dict[str, Event] = field(default_factory=dict)
    requests: dict[str, Event] = field(default_factory=dict)
    revoked: dict[str, int] = field(default_factory=dict)  # grant id -> revoked at (ms)
    seq: int = 0  # replayed up to and including this entry
    hash: bytes = b""
    damaged_at: int | None = None
    replayed: int = 0  # entries read by the last :meth:`load` (for figures and tests)

    def observe(self, entry: AuditEntry) -> None:
        details = entry.details
        if entry.kind in GRANT_EVENTS and isinstance(gid := details.get("grant_id"), str):
            self.grants[gid] = Event(entry.seq, entry.kind, entry.timestamp)
            if entry.kind == "grant.revoke":
                self.revoked.setdefault(gid, entry.timestamp)
        if entry.kind in REQUEST_EVENTS and isinstance(rid := details.get("request_id"), str):
            gid = details.get("grant_id")
            self.requests[rid] = Event(
                entry.seq, entry.kind, entry.timestamp, gid if isinstance(gid, str) else None
            )

    # -- load and checkpoint -------------------------------------------------------

    @classmethod
    def load(cls, vault: Vault) -> Trail:
        """The checkpoint (if it belongs to this chain) plus every entry after it."""
        trail = cls._checkpoint(vault) or cls()
        expected, replayed = trail.seq + 1, 0
        for seq, entry in vault.audit.scan(expected):
            replayed += 1
            if entry is None or seq != expected or entry.seq != seq:
                trail.damaged_at = expected if trail.damaged_at is None else trail.damaged_at
            if entry is not None:
                trail.observe(entry)
                trail.seq, trail.hash = seq, entry.hash
            expected = seq + 1
        trail.replayed = replayed
        return trail

    @classmethod
    def _checkpoint(cls, vault: Vault) -> Trail | None:
        try:
            raw = vault.store.get(CHECKPOINT_KIND, CHECKPOINT_NAME)
            if raw is None:
                return None
            data = canonical_loads(raw)
            seq, digest = int(data["seq"]), bytes.fromhex(data["hash"])
            trail = cls(
                grants={k: Event.from_json(v) for k, v in data["grants"].items()},
                requests={k: Event.from_json(v) for k, v in data["requests"].items()},
                revoked={k: int(v) for k, v in data["revoked"].items()},
                seq=seq,
                hash=digest,
            )
        except Exception:  # a damaged checkpoint only costs a full replay
            return None
        named = next(iter(vault.audit.scan(seq)), None)
        if named is None or named[0] != seq or named[1] is None:
            return None
        if not hmac.compare_digest(named[1].hash, digest):
            return None  # not this chain's entry: start from the beginning
        return trail

    def save(self, vault: Vault) -> None:
        """Write the checkpoint (derived data: no audit entry of its own)."""
        if self.damaged_at is not None or not self.seq:
            return  # never vouch for a stretch of chain that could not be read
        body = {
            "seq": self.seq,
            "hash": self.hash.hex(),
            "grants": {k: v.to_json() for k, v in self.grants.items()},
            "requests": {k: v.to_json() for k, v in self.requests.items()},
            "revoked": self.revoked,
        }
        try:
            encoded = canonical_dumps(body)
        except CanonicalError:
            return
        with vault.transaction():
            vault.store.put(CHECKPOINT_KIND, CHECKPOINT_NAME, encoded)

    # -- the check -----------------------------------------------------------------

    def grant_is_current(self, grant_id: str, audit_seq: int | None, revoked: bool) -> bool:
        """True if a grant record is the one its last audit event wrote."""
        last = self.grants.get(grant_id)
        if audit_seq is None:  # written before records carried their seq
            current = last is not None and (revoked or grant_id not in self.revoked)
        else:
            current = last is not None and last.seq == audit_seq
        return current and not self._maybe_hidden(audit_seq)

    def request_is_current(self, request_id: str, audit_seq: int | None, pending: bool) -> bool:
        last = self.requests.get(request_id)
        if audit_seq is None:
            current = last is not None and (not pending or last.kind == "access.request")
        else:
            current = last is not None and last.seq == audit_seq
        return current  # a hidden decision on a request exposes nothing: no fail-closed here

    def _maybe_hidden(self, audit_seq: int | None) -> bool:
        return self.damaged_at is not None and (audit_seq or 0) < self.damaged_at
