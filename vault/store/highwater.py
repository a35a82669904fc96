"""The audit chain's high-water mark: kept outside ``vault.db``, so copied rows cannot undo it.

Everything inside ``vault.db`` is sealed, but sealing does not stop an attacker
who can write to the disk from putting *older* sealed rows back: an old audit
head plus a shortened chain still verifies, and so does an empty log. What
catches that is a fact the database itself cannot roll back: the newest audit
entry the vault has ever committed, ``(seq, hash)``, kept in
``KLUIS_HOME/audit.hwm`` and checked at every open (:meth:`HighWaterMark.check`).

The file is two fixed-size slots, each ``magic || seq || hash || HMAC``, MACed
under a key derived from the data key (so only the owner's vault can write a
mark it accepts). An update overwrites the slot holding the lower mark, in
place, and reading takes the higher valid slot. Why not a temp file and a
rename: that costs two fsyncs per owner action (about 11 ms here), and the mark
needs neither. Its one invariant is that it is never *ahead* of what the
database holds durably, and that holds because it is written only after the
commit it names is on disk (durable commits: right after ``COMMIT``; the
peer-driven, group-flushed ones: after the flusher's fsync). If a power cut
loses a mark update or tears a slot, the other slot still holds an older mark:
the check is then weaker for that window, never a false alarm.

What it does not catch: an attacker who keeps an older copy of the *whole*
``KLUIS_HOME`` (mark file included) and puts all of it back. No local check can
tell that from the real thing; see docs/threat-model.md.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from vault._exceptions import AuditError
from vault.home.atomic import atomic_write
from vault.store.crypto import SecretKey, mac

__all__ = ["HWM_FILE", "HighWaterMark", "RollbackDetected"]

HWM_FILE = "audit.hwm"
_MAGIC = b"KLUISHW1"
_SLOT = struct.Struct(">8sQ32s32s")  # magic, seq, hash, mac


class RollbackDetected(AuditError):
    """The database is older than the vault's own record of its audit chain.

    Rows were copied back or deleted outside the vault. The vault refuses to
    open; ``kluis audit --verify`` shows where, and ``kluis import`` (into an
    empty KLUIS_HOME) is the explicit way back to an older state.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"rollback detected: {reason}. The vault refuses to open; run `kluis audit --verify` "
            "for details, or restore a backup with `kluis import` into an empty KLUIS_HOME"
        )
        self.reason = reason


class HighWaterMark:
    """The sealed ``(seq, hash)`` floor of one vault's audit chain, in ``audit.hwm``.

    Thread-safe: the group-commit flusher advances it from its own thread.
    """

    def __init__(self, path: Path, key: SecretKey) -> None:
        self.path = path
        self._key = key
        self._lock = threading.Lock()
        self._written = 0  # highest seq this process has put in the file
        self._pending: tuple[int, bytes] | None = None  # committed, not yet fsynced

    # -- the file ------------------------------------------------------------

    def _slot(self, seq: int, digest: bytes) -> bytes:
        tag = mac(self._key, _MAGIC + seq.to_bytes(8, "big") + digest)
        return _SLOT.pack(_MAGIC, seq, digest, tag)

    def _parse(self, raw: bytes) -> tuple[int, bytes] | None:
        magic, seq, digest, tag = _SLOT.unpack(raw)
        good = magic == _MAGIC and hmac.compare_digest(
            tag, mac(self._key, _MAGIC + seq.to_bytes(8, "big") + digest)
        )
        return (seq, digest) if good else None

    def _slots(self) -> list[tuple[int, bytes] | None]:
        data = self.path.read_bytes()
        if len(data) != 2 * _SLOT.size:
            return [None, None]
        return [self._parse(data[: _SLOT.size]), self._parse(data[_SLOT.size :])]

    def exists(self) -> bool:
        return self.path.exists()

    def create(self, seq: int, digest: bytes) -> None:
        """Write a fresh file (both slots) atomically: at create, restore and upgrade."""
        slot = self._slot(seq, digest)
        atomic_write(self.path, slot + slot)
        with self._lock:
            self._written = max(self._written, seq)

    def read(self) -> tuple[int, bytes]:
        """The mark; :class:`RollbackDetected` if the file is missing or neither slot is valid."""
        try:
            slots = self._slots()
        except FileNotFoundError:
            raise RollbackDetected(f"the high-water mark {self.path.name} is missing") from None
        except OSError as exc:
            raise AuditError(f"cannot read {self.path}: {exc.strerror}") from exc
        valid = [s for s in slots if s is not None]
        if not valid:
            raise RollbackDetected(f"the high-water mark {self.path.name} fails authentication")
        return max(valid, key=lambda s: s[0])

    def advance(self, seq: int, digest: bytes) -> None:
        """Raise the mark to ``(seq, digest)``; call only once that commit is durable.

        Overwrites the lower slot in place (one pwrite, no fsync: see the module
        notes). A lower or equal ``seq`` changes nothing.
        """
        with self._lock:
            if seq <= self._written:
                return
            try:
                fd = os.open(self.path, os.O_RDWR)
            except OSError:
                return  # the vault is being removed or restored; the next open checks
            try:
                raw = os.pread(fd, 2 * _SLOT.size, 0)
                slots = (
                    [self._parse(raw[: _SLOT.size]), self._parse(raw[_SLOT.size :])]
                    if len(raw) == 2 * _SLOT.size
                    else [None, None]
                )
                seqs = [-1 if s is None else s[0] for s in slots]
                if max(seqs) >= seq:  # another handle on this vault wrote a newer mark
                    self._written = max(seqs)
                    return
                index = 0 if seqs[0] <= seqs[1] else 1
                os.pwrite(fd, self._slot(seq, digest), index * _SLOT.size)
                self._written = seq
            except OSError:
                pass  # a mark that lags is safe; the next commit tries again
            finally:
                os.close(fd)

    # -- group commit ---------------------------------------------------------

    def committed_relaxed(self, seq: int, digest: bytes) -> None:
        """Note a group-flushed commit; :meth:`before_flush` raises the mark after its fsync."""
        with self._lock:
            if self._pending is None or seq > self._pending[0]:
                self._pending = (seq, digest)

    def before_flush(self) -> Callable[[], None] | None:
        """Taken just before the WAL fsync: what may be marked once that fsync is done."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return None
        return lambda: self.advance(*pending)

    def flush_pending(self) -> None:
        """At close: the database has been fsynced, so a pending mark may be written."""
        done = self.before_flush()
        if done is not None:
            done()

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def __repr__(self) -> str:
        return f"HighWaterMark({self.path})"
