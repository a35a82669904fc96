"""The sealed record store: a generic ``(kind, name) -> bytes`` map at rest in SQLite.

Everything the vault keeps (profile fields, the identity seed, later grants,
requests and inbox messages) goes through this one API, so the privacy rule is
enforced in one place:

* The row key is ``(kind, rid)`` where ``rid = HMAC-SHA256(id_key, kind NUL name)``.
  Without the data key, a row says *which kind* of thing it is but not its name.
* The row value is ``AES-256-GCM(seal subkey, u32 len(name) || name || value)`` with
  associated data ``kluis-record-v1 NUL kind NUL rid``. A ciphertext copied to
  another row (or kind) fails to open, so records cannot be swapped.
* A record that fails to open raises :class:`CorruptRecord` naming it (by name
  when the caller gave one, otherwise by kind and record id); other records stay
  readable, and :meth:`Store.items` can collect the bad ones instead of stopping.

``kind`` is a short lowercase tag chosen by code (``profile``, ``identity``,
``grant`` ...), never user data.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from vault._exceptions import CorruptRecord
from vault.store.crypto import CryptoFailure, Keyring, mac
from vault.store.db import AnyDatabase

__all__ = ["Store", "record_ad"]

_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
_LEN = struct.Struct(">I")


def record_ad(kind: str, rid: bytes) -> bytes:
    """Associated data binding a sealed value to its row."""
    return b"kluis-record-v1\x00" + kind.encode("ascii") + b"\x00" + rid


def _check_kind(kind: str) -> None:
    if not _KIND.match(kind):
        raise ValueError(f"invalid record kind {kind!r}")


class Store:
    """Sealed key-value records grouped by kind. All values are bytes."""

    #: Record ids kept in memory; a read touches the same few names again and again.
    ID_CACHE_SIZE = 8192

    def __init__(self, db: AnyDatabase, keyring: Keyring) -> None:
        self._db = db
        self._keys = keyring
        self._ids: dict[tuple[str, str], bytes] = {}

    def record_id(self, kind: str, name: str) -> bytes:
        """The pseudonymous row id of ``(kind, name)``; stable for a given data key."""
        rid = self._ids.get((kind, name))
        if rid is None:
            _check_kind(kind)
            rid = mac(self._keys.id_key, kind.encode("ascii") + b"\x00" + name.encode("utf-8"))
            if len(self._ids) >= self.ID_CACHE_SIZE:
                self._ids.clear()
            self._ids[(kind, name)] = rid
        return rid

    def use_keyring(self, keyring: Keyring) -> None:
        """Switch to a new data key (after ``kluis rekey``); record ids change with it."""
        self._keys = keyring
        self._ids.clear()

    def transaction(self) -> AbstractContextManager[None]:
        """Group several puts/deletes (and audit appends) into one atomic commit."""
        return self._db.transaction()

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def data_version(self) -> int:
        """Changes when another connection commits (see :meth:`Database.data_version`)."""
        return self._db.data_version()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction commits (dropped on rollback)."""
        self._db.after_commit(callback)

    def put(self, kind: str, name: str, value: bytes) -> None:
        """Insert or replace the value of ``(kind, name)``."""
        rid = self.record_id(kind, name)
        raw_name = name.encode("utf-8")
        sealed = self._keys.sealer.seal(
            _LEN.pack(len(raw_name)) + raw_name + value, record_ad(kind, rid)
        )
        self._db.execute(
            "INSERT INTO records (kind, rid, sealed) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, rid) DO UPDATE SET sealed = excluded.sealed",
            (kind, rid, sealed),
        )

    def get(self, kind: str, name: str) -> bytes | None:
        """The value of ``(kind, name)``, or None. Raises :class:`CorruptRecord` if tampered."""
        rid = self.record_id(kind, name)
        rows = self._db.execute(
            "SELECT sealed FROM records WHERE kind = ? AND rid = ?", (kind, rid)
        )
        if not rows:
            return None
        stored_name, value = self._open(kind, rid, rows[0][0], known_name=name)
        if stored_name != name:
            raise CorruptRecord(name, kind=kind, record_id=rid.hex())
        return value

    def contains(self, kind: str, name: str) -> bool:
        rid = self.record_id(kind, name)
        return bool(
            self._db.execute("SELECT 1 FROM records WHERE kind = ? AND rid = ?", (kind, rid))
        )

    def delete(self, kind: str, name: str) -> bool:
        """Remove ``(kind, name)``; True if it existed."""
        rid = self.record_id(kind, name)
        existed = self.contains(kind, name)
        self._db.execute("DELETE FROM records WHERE kind = ? AND rid = ?", (kind, rid))
        return existed

    def items(
        self, kind: str, *, errors: list[CorruptRecord] | None = None
    ) -> list[tuple[str, bytes]]:
        """All ``(name, value)`` of a kind, sorted by name, decrypting each.

        A record that fails to open raises :class:`CorruptRecord`, unless
        ``errors`` is given: then it is appended there and the scan goes on.
        """
        _check_kind(kind)
        out: list[tuple[str, bytes]] = []
        for rid, sealed in self._db.iterate(
            "SELECT rid, sealed FROM records WHERE kind = ?", (kind,)
        ):
            try:
                out.append(self._open(kind, rid, sealed, known_name=None))
            except CorruptRecord as exc:
                if errors is None:
                    raise
                errors.append(exc)
        out.sort(key=lambda item: item[0])
        return out

    def count(self, kind: str) -> int:
        _check_kind(kind)
        return int(self._db.execute("SELECT count(*) FROM records WHERE kind = ?", (kind,))[0][0])

    def kinds(self) -> list[str]:
        return [
            row[0] for row in self._db.execute("SELECT DISTINCT kind FROM records ORDER BY kind")
        ]

    def raw_rows(self) -> Iterator[tuple[str, bytes, bytes]]:
        """Every ``(kind, rid, sealed)`` row as stored, still sealed (for backups)."""
        yield from self._db.iterate("SELECT kind, rid, sealed FROM records ORDER BY kind, rid")

    def _open(
        self, kind: str, rid: bytes, sealed: bytes, *, known_name: str | None
    ) -> tuple[str, bytes]:
        label = known_name if known_name is not None else f"{kind} record {rid.hex()[:16]}"
        try:
            plain = self._keys.sealer.open(sealed, record_ad(kind, rid))
            (length,) = _LEN.unpack_from(plain)
            name = plain[_LEN.size : _LEN.size + length].decode("utf-8")
        except (CryptoFailure, struct.error, UnicodeDecodeError) as exc:
            raise CorruptRecord(label, kind=kind, record_id=rid.hex()) from exc
        if known_name is None and self.record_id(kind, name) != rid:
            raise CorruptRecord(label, kind=kind, record_id=rid.hex())
        return name, plain[_LEN.size + length :]

    def __repr__(self) -> str:
        return f"Store({self._db.path})"
