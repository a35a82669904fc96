"""``kluis rekey``: move every sealed row from the old data key to a new one, crash-safely.

Why it exists: ``kluis passphrase`` only rewraps the data key, so an old copy of
``keyfile.json`` plus an old (leaked) passphrase still yields the key that opens
``vault.db``. Rekeying draws a new data key and re-seals every record and audit
row under it, with new record ids (the id key is derived from the data key too)
and a new high-water-mark key. Afterwards the old key opens nothing.

How it survives ``kill -9`` at any point:

1. The keyfile is rewritten (atomically) to hold the current key *and* the
   next one (``next_key``), both wrapped under the passphrase. From here on
   every open knows both keys.
2. :func:`convert` walks the rows in batches, one transaction each. A row that
   opens under the new key is already done and skipped; any other row is
   opened under the old key and re-sealed under the new one (records move to
   their new record id). So running it again after a crash simply carries on.
3. The mark is rewritten under the new key, then the keyfile is rewritten with
   only the new key. That rename is the commit point of the whole rotation.

:meth:`vault.store.vault.Vault.open` finishes an interrupted rotation by itself
(steps 2 and 3). Audit entries and their hashes are untouched: only the
sealing changes, so the chain verifies the same before and after.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from vault.store.audit import _row_ad
from vault.store.crypto import CryptoFailure, Keyring, mac
from vault.store.db import AnyDatabase
from vault.store.records import record_ad

__all__ = ["BATCH_SIZE", "Progress", "RekeyCounts", "convert"]

#: Rows re-sealed per transaction: big enough to amortise the commit's fsync,
#: small enough that a crash loses little work.
BATCH_SIZE = 500

#: Called after each committed batch with (rows done, rows in total).
Progress = Callable[[int, int], None]

_LEN = struct.Struct(">I")


@dataclass(slots=True)
class RekeyCounts:
    """What one :func:`convert` run did."""

    records: int = 0  # re-sealed now
    audit_entries: int = 0  # re-sealed now
    already: int = 0  # found done (a resumed run)
    unreadable: int = 0  # opened under neither key: left as they were (reported as corrupt)


def convert(
    db: AnyDatabase,
    old: Keyring,
    new: Keyring,
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> RekeyCounts:
    """Re-seal every record and audit row from ``old`` to ``new``; idempotent."""
    batch_size = batch_size or BATCH_SIZE
    counts = RekeyCounts()
    total = int(db.execute("SELECT count(*) FROM records")[0][0]) + int(
        db.execute("SELECT count(*) FROM audit")[0][0]
    )
    done = 0
    after: tuple[str, bytes] = ("", b"")
    while True:
        rows = db.execute(
            "SELECT kind, rid, sealed FROM records WHERE (kind, rid) > (?, ?) "
            "ORDER BY kind, rid LIMIT ?",
            (*after, batch_size),
        )
        if not rows:
            break
        with db.transaction():
            for kind, rid, sealed in rows:
                _record(db, old, new, kind, rid, sealed, counts)
        after = (rows[-1][0], rows[-1][1])
        done += len(rows)
        if progress is not None:
            progress(min(done, total), total)
    last_seq = 0
    while True:
        rows = db.execute(
            "SELECT seq, sealed FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
            (last_seq, batch_size),
        )
        if not rows:
            break
        with db.transaction():
            for seq, sealed in rows:
                _audit_row(db, old, new, seq, sealed, counts)
        last_seq = rows[-1][0]
        done += len(rows)
        if progress is not None:
            progress(min(done, total), total)
    return counts


def _record(
    db: AnyDatabase,
    old: Keyring,
    new: Keyring,
    kind: str,
    rid: bytes,
    sealed: bytes,
    counts: RekeyCounts,
) -> None:
    try:
        new.sealer.open(sealed, record_ad(kind, rid))
    except CryptoFailure:
        pass
    else:
        counts.already += 1
        return
    try:
        plain = old.sealer.open(sealed, record_ad(kind, rid))
        (length,) = _LEN.unpack_from(plain)
        name = plain[_LEN.size : _LEN.size + length]
    except (CryptoFailure, struct.error):
        counts.unreadable += 1
        return
    new_rid = mac(new.id_key, kind.encode("ascii") + b"\x00" + name)
    db.execute("DELETE FROM records WHERE kind = ? AND rid = ?", (kind, rid))
    db.execute(
        "INSERT OR REPLACE INTO records (kind, rid, sealed) VALUES (?, ?, ?)",
        (kind, new_rid, new.sealer.seal(plain, record_ad(kind, new_rid))),
    )
    counts.records += 1


def _audit_row(
    db: AnyDatabase, old: Keyring, new: Keyring, seq: int, sealed: bytes, counts: RekeyCounts
) -> None:
    ad = _row_ad(seq)
    try:
        new.sealer.open(sealed, ad)
    except CryptoFailure:
        pass
    else:
        counts.already += 1
        return
    try:
        plain = old.sealer.open(sealed, ad)
    except CryptoFailure:
        counts.unreadable += 1
        return
    db.execute("UPDATE audit SET sealed = ? WHERE seq = ?", (new.sealer.seal(plain, ad), seq))
    counts.audit_entries += 1
