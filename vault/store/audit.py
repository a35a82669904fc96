"""The audit log: append-only, hash-chained, signed, and sealed at rest.

Each entry has ``seq`` (1, 2, ...), ``timestamp`` (integer ms from an injected
clock), ``kind`` (a short tag such as ``profile.set`` or ``vault.unlock``),
``details`` (a canonical-JSON dict), ``prev_hash``, ``hash`` and ``signature``:

* ``hash = SHA-256("kluis-audit-v1" NUL canonical_json({seq, ts, kind, details, prev}))``
* ``prev`` of entry 1 is ``SHA-256("kluis-audit-genesis-v1" NUL peer_id)``, so a
  chain belongs to one vault identity.
* ``signature = Ed25519(identity, hash)``: the vault's libp2p identity key, so a
  chain exported to someone else can be checked against the peer id alone.

At rest a row is ``(seq, AEAD(seal_key, canonical_json(entry), AD = "kluis-audit-v1" NUL seq))``:
details, kinds and timestamps are all sealed; only the count of entries shows.

Why appending is O(1): the newest ``(seq, hash)`` is kept in one sealed record
(``meta``/``audit.head``), read and rewritten inside the same write transaction
as the new row. Opening the vault reads that one record; it never walks the
chain. The head record also catches a truncated tail, which a chain by itself
cannot. :meth:`AuditLog.verify` is the explicit, O(n) check: it streams every
row and reports the first bad ``seq`` and why.

Why a head inside the database is not enough: an attacker who can write to the
disk can put an older head row back, with the chain cut to match. So every
commit also raises the :class:`~vault.store.highwater.HighWaterMark` kept
outside ``vault.db``, :meth:`AuditLog.check_floor` compares the two at every
open, and :meth:`AuditLog.verify` reports a chain that ends below it.

Why verification is incremental and off the loop: walking 12,400 entries took
4.3 s, and a node that did it on its event loop served nothing meanwhile. A
passing verification seals a checkpoint (``meta``/``audit.verified``: the last
seq checked and its hash), and the next one walks only what came after it,
once it has checked that the named entry still opens with that hash and that no
row of the prefix is missing. What it gives up: a row of the prefix altered in
place after it was verified is found only by a full walk (``full=True``;
``kluis audit --verify`` always walks it all). Rows are AEAD-sealed with their
seq as associated data, so such a change is damage, never a forgery.
:meth:`AuditLog.verify_off_loop` runs the walk in a worker thread with its own
read-only connection (decision D32).

Audit details record facts (which path, which version), not personal values.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import computed_field

from protocol import (
    CanonicalError,
    Identity,
    PublicIdentity,
    SignatureError,
    canonical_dumps,
    canonical_loads,
)
from protocol.clock import Clock, now_ms
from vault._exceptions import AuditError, CorruptRecord, StorageError
from vault.store.crypto import CryptoFailure, Sealer
from vault.store.db import AnyDatabase, Database
from vault.store.highwater import HighWaterMark, RollbackDetected
from vault.store.jsonform import HexBytes, JsonRecord, parse_record
from vault.store.pgdb import is_unique_violation
from vault.store.records import Store

__all__ = ["AuditEntry", "AuditLog", "VerifyReport", "genesis_hash"]

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
HEAD_KIND = "meta"
HEAD_NAME = "audit.head"
#: The sealed checkpoint of the prefix verified last: ``{seq, hash, at}``.
VERIFIED_NAME = "audit.verified"


@dataclass(slots=True)
class _Plan:
    """What a walk starts from: read on the caller's thread before it."""

    who: PublicIdentity
    own: bool  # our own chain (not an export checked against another key)
    head_seq: int
    head_hash: bytes
    start: int
    prev: bytes


@dataclass(frozen=True, slots=True)
class _Walked:
    """Where a walk stopped: the next seq expected, the last hash, and any problem."""

    expected: int
    prev: bytes
    checked: int
    bad: tuple[int, str] | None


def genesis_hash(peer_id: str) -> bytes:
    """The ``prev_hash`` of entry 1: binds the chain to one vault identity."""
    return hashlib.sha256(b"kluis-audit-genesis-v1\x00" + peer_id.encode("ascii")).digest()


def _row_ad(seq: int) -> bytes:
    return b"kluis-audit-v1\x00" + seq.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class AuditEntry(JsonRecord):
    """One link of the chain."""

    seq: int
    timestamp: int
    kind: str
    details: dict[str, Any]
    prev_hash: HexBytes
    hash: HexBytes
    signature: HexBytes

    @staticmethod
    def compute_hash(
        seq: int, timestamp: int, kind: str, details: Mapping[str, Any], prev_hash: bytes
    ) -> bytes:
        body = {
            "seq": seq,
            "ts": timestamp,
            "kind": kind,
            "details": dict(details),
            "prev": prev_hash.hex(),
        }
        return hashlib.sha256(b"kluis-audit-v1\x00" + canonical_dumps(body)).digest()

    @classmethod
    def from_json(cls, data: Any) -> AuditEntry:
        """An entry as :meth:`to_json` wrote it; anything else is an :class:`AuditError`."""
        try:
            return parse_record(cls, data)
        except ValueError as exc:
            raise AuditError("malformed audit entry") from exc


@dataclass(frozen=True, slots=True)
class VerifyReport(JsonRecord):
    """The outcome of :meth:`AuditLog.verify`. ``first_bad`` is a seq, or None if intact.

    ``checked`` counts the entries known good, ``skipped`` those of them vouched
    for by the checkpoint of an earlier verification rather than walked again.
    """

    checked: int
    head_seq: int
    first_bad: int | None = None
    reason: str | None = None
    skipped: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.first_bad is None


class AuditLog:
    """The vault's audit chain. Appends join the caller's transaction if one is open."""

    def __init__(
        self,
        db: AnyDatabase,
        store: Store,
        sealer: Sealer,
        identity: Identity,
        clock: Clock = now_ms,
        *,
        mark: HighWaterMark | None = None,
    ) -> None:
        self._db = db
        self._store = store
        self._sealer = sealer
        self._identity = identity
        self._clock = clock
        self._mark = mark
        self._genesis = genesis_hash(identity.peer_id)
        # The committed head, kept so an append need not read and decrypt it: set
        # after a commit, dropped by every append (a rollback leaves it unset), and
        # ignored once another handle on the same file has committed (data_version).
        self._head: tuple[int, bytes, int] | None = None

    def head(self) -> tuple[int, bytes]:
        """``(seq, hash)`` of the newest entry; ``(0, genesis)`` for an empty log. O(1)."""
        return self._head_at(self._db.data_version())

    def _head_at(self, version: int) -> tuple[int, bytes]:
        if self._head is not None and self._head[2] == version:
            return self._head[0], self._head[1]
        raw = self._store.get(HEAD_KIND, HEAD_NAME)
        if raw is None:
            return 0, self._genesis
        try:
            data = canonical_loads(raw)
            return int(data["seq"]), bytes.fromhex(data["hash"])
        except (CanonicalError, KeyError, TypeError, ValueError) as exc:
            raise CorruptRecord("audit head", kind=HEAD_KIND) from exc

    def __len__(self) -> int:
        return self.head()[0]

    def append(
        self, kind: str, details: Mapping[str, Any] | None = None, *, durable: bool = True
    ) -> AuditEntry:
        """Add one signed entry after the current head, atomically with the caller's changes.

        ``durable=False`` is for the high-volume entries peers cause (reads,
        pushes, refusals): the commit is group-flushed within milliseconds
        instead of fsynced before returning (see ``vault/store/db.py``).
        """
        if not _KIND.match(kind):
            raise ValueError(f"invalid audit kind {kind!r}")
        body = dict(details or {})
        with self._db.transaction(durable=durable):
            # read under our write lock: no other handle can commit before we do
            version = self._db.data_version()
            last_seq, prev = self._head_at(version)
            seq = last_seq + 1
            ts = int(self._clock())
            try:  # encoding the body for the hash is also its check: one pass, not two
                digest = AuditEntry.compute_hash(seq, ts, kind, body, prev)
            except CanonicalError as exc:
                raise AuditError(f"audit details not encodable: {exc.message}") from exc
            entry = AuditEntry(seq, ts, kind, body, prev, digest, self._identity.sign(digest))
            sealed = self._sealer.seal(canonical_dumps(entry.to_json()), _row_ad(seq))
            try:
                self._db.execute("INSERT INTO audit (seq, sealed) VALUES (?, ?)", (seq, sealed))
            except StorageError as exc:  # seq is the primary key: the row exists already
                if isinstance(exc.__cause__, sqlite3.IntegrityError) or is_unique_violation(
                    exc.__cause__
                ):
                    raise AuditError(f"audit entry {seq} exists beyond the recorded head") from exc
                raise
            self._head = None
            self._store.put(
                HEAD_KIND, HEAD_NAME, canonical_dumps({"seq": seq, "hash": digest.hex()})
            )
            relaxed = self._db.relaxed  # the outermost block decides when it is on disk
            self._db.after_commit(lambda: self._committed(seq, digest, version, relaxed))
        return entry

    def _committed(self, seq: int, digest: bytes, version: int, relaxed: bool) -> None:
        self._head = (seq, digest, version)
        if self._mark is not None:
            if relaxed:  # on disk after the flusher's fsync; the mark follows it there
                self._mark.committed_relaxed(seq, digest)
            else:
                self._mark.advance(seq, digest)

    def use_sealer(self, sealer: Sealer, mark: HighWaterMark | None) -> None:
        """Switch to a new data key's sealer and mark (after ``kluis rekey``)."""
        self._sealer, self._mark, self._head = sealer, mark, None

    def check_floor(self, floor: tuple[int, bytes] | None = None) -> None:
        """Refuse a log that is older than its high-water mark (run at every open). O(1).

        Reads the mark (or takes ``floor``, already read), the head record, the
        highest row number and the one entry the mark names; raises
        :class:`RollbackDetected` on any mismatch.
        """
        if floor is None:
            if self._mark is None:
                return
            floor = self._mark.read()
        reason = self._floor_problem(*floor)
        if reason is not None:
            raise RollbackDetected(reason)

    def _floor_problem(self, seq: int, digest: bytes) -> str | None:
        head_seq, head_hash = self.head()
        last = int(self._db.execute("SELECT coalesce(max(seq), 0) FROM audit")[0][0])
        if head_seq < seq:
            return f"the audit log ends at entry {head_seq}, but entry {seq} was committed"
        if last != head_seq:
            return f"the audit head names entry {head_seq}, but the log holds entries up to {last}"
        rows = self._db.execute("SELECT sealed FROM audit WHERE seq = ?", (seq,))
        if not rows:
            return f"audit entry {seq} is missing"
        try:
            entry = self._open(seq, rows[0][0])
        except CorruptRecord:
            return f"audit entry {seq} fails authentication"
        if not hmac.compare_digest(entry.hash, digest) or (
            seq == head_seq and not hmac.compare_digest(head_hash, digest)
        ):
            return f"audit entry {seq} is not the one the vault committed"
        return None

    def entries(self, start: int = 1, stop: int | None = None) -> Iterator[AuditEntry]:
        """Decrypt entries with ``start <= seq < stop`` in order. A bad row raises CorruptRecord."""
        sql, params = "SELECT seq, sealed FROM audit WHERE seq >= ?", [start]
        if stop is not None:
            sql += " AND seq < ?"
            params.append(stop)
        for seq, sealed in self._db.iterate(sql + " ORDER BY seq", params):
            yield self._open(seq, sealed)

    def scan(self, start: int = 1) -> Iterator[tuple[int, AuditEntry | None]]:
        """``(seq, entry)`` from ``start`` on; ``entry`` is None for a row that fails to open.

        For readers that must notice damage without stopping (the grant book's
        rollback check); gaps in ``seq`` show as a jump the caller can see.
        """
        for seq, sealed in self._db.iterate(
            "SELECT seq, sealed FROM audit WHERE seq >= ? ORDER BY seq", (start,)
        ):
            try:
                yield seq, self._open(seq, sealed)
            except CorruptRecord:
                yield seq, None

    def tail(self, count: int) -> list[AuditEntry]:
        """The newest ``count`` entries, oldest first."""
        last, _ = self.head()
        return list(self.entries(max(1, last - count + 1)))

    def raw_rows(self) -> Iterator[tuple[int, bytes]]:
        """Every ``(seq, sealed)`` row as stored (for backups)."""
        yield from self._db.iterate("SELECT seq, sealed FROM audit ORDER BY seq")

    def verify(
        self, signer: PublicIdentity | None = None, *, incremental: bool = False
    ) -> VerifyReport:
        """Walk the chain; report the first bad seq and why. O(n), streaming, on this thread.

        ``incremental`` starts after the sealed checkpoint of the prefix verified
        before (and moves it up when the chain is intact); the default walks the
        whole chain and writes nothing. The node verifies with
        :meth:`verify_off_loop` instead, which walks in a worker thread.
        """
        plan = self._plan(signer, incremental)
        return self._finish(plan, self._walk(self._db, plan), save=incremental)

    async def verify_off_loop(
        self,
        *,
        full: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> VerifyReport:
        """Verify without holding the event loop: the walk runs in a worker thread.

        Only the O(1) bookends run on the caller's loop (reading the head and the
        checkpoint before, the head and mark checks and the new checkpoint after).
        The walk opens its own read-only SQLite connection (a connection is used
        by one thread at a time, ``vault/store/db.py``) and, in WAL mode, reads a
        snapshot, so appends carry on meanwhile; it checks entries up to the head
        it was given. ``progress`` is called from the worker with each seq checked.
        """
        plan = self._plan(None, not full)
        if not isinstance(self._db, Database):
            # PostgreSQL (a business's book, D28): its connection is not shared with a
            # thread and no second one is kept, so the walk runs here; a business's
            # chain is checked offline, not on its request path.
            return self._finish(plan, self._walk(self._db, plan, progress), save=True)
        path = Path(self._db.path)

        def walk() -> _Walked:
            reader = Database.open_reader(path)
            try:
                return self._walk(reader, plan, progress)
            finally:
                reader.close()

        import asyncio  # here: `kluis get` opens the store without an event loop

        walked = await asyncio.to_thread(walk)
        return self._finish(plan, walked, save=True)

    def checkpoint(self) -> tuple[int, bytes, int] | None:
        """The verified prefix as recorded: ``(seq, hash, verified_at)``, or None."""
        raw = self._store.get(HEAD_KIND, VERIFIED_NAME)
        if raw is None:
            return None
        try:
            data = canonical_loads(raw)
            return int(data["seq"]), bytes.fromhex(data["hash"]), int(data["at"])
        except (CanonicalError, KeyError, TypeError, ValueError):
            return None  # a damaged checkpoint only costs a full walk

    def _plan(self, signer: PublicIdentity | None, incremental: bool) -> _Plan:
        who = signer or self._identity
        try:
            head_seq, head_hash = self.head()
        except CorruptRecord:
            head_seq, head_hash = -1, b""
        plan = _Plan(who, signer is None, head_seq, head_hash, 1, genesis_hash(who.peer_id))
        mark = self.checkpoint() if incremental and signer is None else None
        if mark is None or not 0 < mark[0] <= head_seq:
            return plan
        seq, digest, _ = mark
        rows = self._db.execute("SELECT sealed FROM audit WHERE seq = ?", (seq,))
        try:
            named = self._open(seq, rows[0][0]) if rows else None
        except CorruptRecord:
            named = None
        if named is None or not hmac.compare_digest(named.hash, digest):
            return plan  # not this chain's entry any more: walk it all
        plan.start, plan.prev = seq + 1, digest
        return plan

    def _walk(
        self, db: AnyDatabase, plan: _Plan, progress: Callable[[int], None] | None = None
    ) -> _Walked:
        """Check the entries ``plan.start .. plan.head_seq`` (pure: reads ``db`` only)."""
        who, expected_seq, prev, checked = plan.who, plan.start, plan.prev, 0
        if plan.start > 1:  # every row of the verified prefix must still be there
            count = int(db.execute("SELECT count(*) FROM audit WHERE seq < ?", (plan.start,))[0][0])
            if count != plan.start - 1:
                return _Walked(expected_seq, prev, 0, (1, "entries of the verified prefix missing"))
        sql = "SELECT seq, sealed FROM audit WHERE seq >= ?"
        params: list[int] = [plan.start]
        if plan.head_seq >= 0:  # entries appended while we walk are the next walk's
            sql += " AND seq <= ?"
            params.append(plan.head_seq)
        for seq, sealed in db.iterate(sql + " ORDER BY seq", params):
            if seq != expected_seq:
                return _Walked(expected_seq, prev, checked, (expected_seq, "entry missing"))
            problem = self._check_row(who, seq, sealed, prev)
            if isinstance(problem, str):
                return _Walked(expected_seq, prev, checked, (seq, problem))
            prev, expected_seq, checked = problem.hash, seq + 1, checked + 1
            if progress is not None:
                progress(seq)
        return _Walked(expected_seq, prev, checked, None)

    def _check_row(
        self, who: PublicIdentity, seq: int, sealed: bytes, prev: bytes
    ) -> AuditEntry | str:
        """The entry if it is sound and links to ``prev``; else why not."""
        try:
            entry = self._open(seq, sealed)
        except (CorruptRecord, AuditError):
            return "sealed entry fails authentication (altered or swapped)"
        if entry.seq != seq:
            return "sequence number altered"
        if not hmac.compare_digest(entry.prev_hash, prev):
            return "link to the previous entry is broken"
        try:
            recomputed = AuditEntry.compute_hash(
                entry.seq, entry.timestamp, entry.kind, entry.details, entry.prev_hash
            )
        except CanonicalError:
            return "content not canonical"
        if not hmac.compare_digest(recomputed, entry.hash):
            return "hash mismatch (content altered)"
        try:
            who.verify(entry.signature, entry.hash)
        except SignatureError:
            return "signature does not verify"
        return entry

    def _finish(self, plan: _Plan, walked: _Walked, *, save: bool) -> VerifyReport:
        """The checks at the end of the walk (head, rows past it, the mark); O(1)."""
        head_seq, head_hash, skipped = plan.head_seq, plan.head_hash, plan.start - 1
        checked = skipped + walked.checked

        def bad(seq: int, reason: str) -> VerifyReport:
            return VerifyReport(checked, head_seq, seq, reason, skipped)

        if walked.bad is not None:
            return bad(*walked.bad)
        last, prev = walked.expected - 1, walked.prev
        # rows past the head we walked to: the head has moved (fine) or they were slipped in
        now_seq = self.head()[0] if head_seq >= 0 else head_seq
        beyond = int(self._db.execute("SELECT coalesce(max(seq), 0) FROM audit")[0][0])
        if head_seq < 0:
            return bad(last + 1, "the audit head record is corrupt")
        if head_seq > last:
            return bad(last + 1, f"entries {last + 1}..{head_seq} missing (log truncated)")
        if beyond > max(now_seq, head_seq):
            return bad(
                head_seq + 1, "entries beyond the recorded head (appended outside the vault)"
            )
        if last and not hmac.compare_digest(head_hash, prev):
            return bad(last, "newest entry does not match the recorded head")
        if self._mark is not None and plan.own:
            try:
                mark_seq, mark_hash = self._mark.read()
            except RollbackDetected as exc:
                return bad(last + 1, exc.reason)
            problem = self._floor_problem(mark_seq, mark_hash)
            if problem is not None:
                return bad(min(mark_seq, last + 1), f"rolled back: {problem}")
        if save and plan.own and last:
            body = {"seq": last, "hash": prev.hex(), "at": int(self._clock())}
            with self._db.transaction(durable=False):  # derived data: no entry of its own
                self._store.put(HEAD_KIND, VERIFIED_NAME, canonical_dumps(body))
        return VerifyReport(checked, head_seq, skipped=skipped)

    def _open(self, seq: int, sealed: bytes) -> AuditEntry:
        try:
            plain = self._sealer.open(sealed, _row_ad(seq))
            return AuditEntry.from_json(canonical_loads(plain))
        except (CryptoFailure, CanonicalError) as exc:
            raise CorruptRecord(f"audit entry {seq}", kind="audit", record_id=str(seq)) from exc

    def __repr__(self) -> str:
        return f"AuditLog({self._identity.peer_id})"
