"""The SQLite file under the vault: durability settings, schema, transactions.

Why these settings:

* ``journal_mode=WAL`` lets readers run while one writer commits, and makes a
  commit one sequential append to the ``-wal`` file.
* ``synchronous=FULL`` fsyncs the WAL on every commit, so a write the CLI has
  reported as done survives a crash or power loss (``NORMAL`` would only
  survive a process crash).
* **Group commit for peer-driven audit entries.** A transaction opened with
  ``durable=False`` commits under ``synchronous=NORMAL`` (durable against a
  process crash at once, since the WAL is in the OS page cache) and a
  background flusher fsyncs the WAL within :data:`FLUSH_INTERVAL` seconds, so a
  power cut can lose at most that window of such entries. It is used only for
  the high-volume entries that peers cause (reads, pushes, refusals): one fsync
  per scoped read would cap the vault near a thousand reads per second on an
  ordinary disk. The owner's own writes and decisions stay ``FULL``: durable
  before they are acknowledged. Decision D6 in ``docs/architecture.md``.
* Every write transaction is ``BEGIN IMMEDIATE``: it takes the write lock
  *before* reading, so read-modify-write sequences (the audit head, a field's
  version) are consistent even if a second process writes the same vault.
  ``busy_timeout`` makes that second process wait instead of failing.

The schema holds no names or values in plaintext: ``records`` is keyed by
``(kind, HMAC record id)`` and ``audit`` by sequence number; both columns of
payload are AEAD-sealed blobs.

:meth:`Database.transaction` nests: only the outermost block commits. Callbacks
registered with :meth:`Database.after_commit` run once the outermost block has
committed (they are dropped on rollback), which is how profile change-listeners
see only durable changes.

A :class:`Database` is used by one thread at a time (the node's event loop);
``check_same_thread`` is off only so that a handle may move between threads.
Work that must run beside the loop (verifying the audit chain) opens its own
read-only connection with :meth:`Database.open_reader`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vault._exceptions import StorageError
from vault.store.pgdb import PgDatabase, is_postgres_url

__all__ = ["SCHEMA_VERSION", "AnyDatabase", "Database", "open_database"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: Longest a relaxed (``durable=False``) commit waits for its fsync, in seconds.
FLUSH_INTERVAL = 0.02

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind   TEXT NOT NULL,
    rid    BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (kind, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY,
    sealed BLOB NOT NULL
);
"""


class Database:
    """One connection to the vault's SQLite file, with nested transactions."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        self._dirty = threading.Event()
        self._closing = False
        self._flusher: threading.Thread | None = None
        self._relaxed_now = False
        self._flush_hooks: list[Callable[[], Callable[[], None] | None]] = []

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Database:
        """Open (or with ``create`` make) the file and apply the durability pragmas."""
        if not create and not path.exists():
            raise StorageError(f"vault database missing: {path}")
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError("the vault's file system does not support WAL mode")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if create:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                os.chmod(path, 0o600)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the vault database: {exc}") from exc
        if version != SCHEMA_VERSION:
            conn.close()
            raise StorageError(f"unsupported vault database version {version}")
        return cls(conn, path)

    @classmethod
    def open_reader(cls, path: Path) -> Database:
        """A read-only connection for another thread (the audit walk in a worker).

        A connection is used by one thread at a time; a worker gets its own.
        In WAL mode it reads a snapshot and never blocks the writer.
        """
        try:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA busy_timeout = 10000")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the vault database: {exc}") from exc
        return cls(conn, path)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def relaxed(self) -> bool:
        """True inside a transaction whose commit will not wait for its fsync."""
        return self._relaxed_now

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """A write transaction; nested blocks join the outer one.

        Everything inside commits together or not at all. The write lock is
        taken at the start (``BEGIN IMMEDIATE``). ``durable=False`` (outermost
        block only) commits without waiting for the fsync; see the module notes.
        """
        if not durable and not self._depth:
            with self._relaxed():
                with self.transaction():
                    yield
            self._schedule_flush()
            return
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot start a transaction: {exc}") from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._after_commit.clear()
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._after_commit.clear()
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise StorageError(f"commit failed: {exc}") from exc
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    @contextlib.contextmanager
    def _relaxed(self) -> Iterator[None]:
        try:
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc
        self._relaxed_now = True
        try:
            yield
        finally:
            self._relaxed_now = False
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA synchronous = FULL")

    def _schedule_flush(self) -> None:
        self._dirty.set()
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"kluis-wal-flush:{self.path.name}", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Group commit: one fsync covers every relaxed commit of the last interval."""
        while not self._closing:
            self._dirty.wait()
            if self._closing:
                return
            time.sleep(FLUSH_INTERVAL)
            self._dirty.clear()
            self.flush()

    def on_flush(self, hook: Callable[[], Callable[[], None] | None]) -> None:
        """Call ``hook`` before each WAL fsync; what it returns runs once the fsync succeeded.

        The hook runs first so that it can only name commits the fsync covers
        (the audit high-water mark follows the group-flushed entries this way).
        """
        self._flush_hooks.append(hook)

    def flush(self) -> None:
        """fsync the WAL: every relaxed commit so far becomes power-loss durable."""
        done = [d for hook in self._flush_hooks if (d := hook()) is not None]
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            # checkpointed and removed: everything is in the main file already
            for callback in done:
                callback()
            return
        except OSError as exc:
            log.warning("cannot open the WAL to flush it: %s", exc.strerror)
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            log.warning("fsync of the WAL failed: %s", exc.strerror)
            return
        finally:
            os.close(fd)
        for callback in done:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits (now, if none is open)."""
        if self._depth:
            self._after_commit.append(callback)
        else:
            callback()

    def erase_freed_pages(self) -> bool:
        """Turn on ``PRAGMA secure_delete``: deleted content is overwritten, not just freed.

        True if this SQLite build honours it (any current build does).
        """
        try:
            self.execute("PRAGMA secure_delete = ON")
            rows = self.execute("PRAGMA secure_delete")
        except StorageError:  # pragma: no cover - any SQLite build has secure_delete
            return False
        return bool(rows and rows[0][0] == 1)

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it, so no old frame lingers.

        Skipped (False) inside a transaction; a busy reader may leave it for the
        next checkpoint (also False).
        """
        if self.in_transaction:
            return False
        try:
            rows = self.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except StorageError:  # pragma: no cover - a busy reader; the next one catches up
            return False
        return bool(rows and rows[0][0] == 0)

    def data_version(self) -> int:
        """A number that changes whenever *another* connection commits to this file.

        In-memory caches (the profile snapshot, the audit head) remember it and
        are dropped when it moves, so a second handle on the same vault (another
        process, say) never reads stale data through them.
        """
        return int(self.execute("PRAGMA data_version")[0][0])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return all rows; sqlite errors become StorageError."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc

    def iterate(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Stream rows (for large scans such as verifying the audit chain)."""
        try:
            cursor = self._conn.execute(sql, params)
            while rows := cursor.fetchmany(1000):
                yield from rows
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc

    def close(self) -> None:
        """Close; the last connection checkpoints the WAL and removes ``-wal``/``-shm``."""
        self._closing = True
        self._dirty.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __repr__(self) -> str:
        return f"Database({self.path})"


#: The seam the sealed store runs on: this SQLite file, or PostgreSQL (D28).
AnyDatabase = Database | PgDatabase


def open_database(path: Path, store: str | None, *, create: bool = False) -> AnyDatabase:
    """The vault's SQLite file at ``path``, or the PostgreSQL database ``store`` names."""
    if store is None:
        return Database.open(path, create=create)
    if not is_postgres_url(store):
        raise StorageError("a store must be a postgresql:// connection string")
    return PgDatabase.open(store, create=create)
