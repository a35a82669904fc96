"""The sealed store's tables in PostgreSQL: the same seam as :class:`~vault.store.db.Database`.

A business that outgrows one machine keeps its book (requests, grants, sealed
copies, receipts owed, outbox) in PostgreSQL and runs several worker processes
against it (decision D28 in ``docs/architecture.md``). Everything above this
module is unchanged: :class:`~vault.store.records.Store` seals each row exactly
as on SQLite (HMAC row ids, AES-256-GCM values bound to their row), so the
server and its backups see kinds, row ids and ciphertext only; a grant's copy
is still sealed under its own grant key, and revocation still deletes that key.

How the SQLite guarantees carry over:

* **Write lock first.** Every write transaction starts by bumping the one row
  of ``kluis_meta`` (``UPDATE ... RETURNING version``). The row lock it takes is
  held to commit, so writers queue exactly as under SQLite's ``BEGIN
  IMMEDIATE``, and read-modify-write sequences (the audit head) stay consistent
  across workers. A lone write outside a transaction gets a transaction of its own.
* **data_version.** The bumped counter is what :meth:`data_version` returns:
  inside a transaction it is this transaction's number, afterwards it moves
  only when someone else commits, which is what the in-memory caches (the audit
  head, the profile snapshot) need.
* **Durability.** Every commit waits for the server's WAL flush
  (``synchronous_commit`` as the server has it, ``on`` by default). The relaxed
  (``durable=False``) group commit of the SQLite store is a vault-side measure
  for peer-driven reads and is not used here: a relaxed transaction commits
  durably.
* **Deleted content.** PostgreSQL has no ``secure_delete``: a deleted row's bytes
  stay in its page until vacuumed and overwritten. Crypto-shredding is what
  holds: the grant key's row is deleted in the same transaction as the data, so
  a leftover data blob cannot be opened (see ``vault/requester/_copies.py``).

Connection strings never reach logs or ``repr``: only host, port and database
name do (:func:`safe_label`).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vault._exceptions import StorageError

__all__ = ["PgDatabase", "is_postgres_url", "is_unique_violation", "safe_label"]

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\?")
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def is_postgres_url(store: str | None) -> bool:
    """True for a ``postgresql://`` / ``postgres://`` connection string."""
    return store is not None and store.startswith(("postgresql://", "postgres://"))


def safe_label(url: str) -> str:
    """``postgresql://host:port/dbname``: no user, password or options (for logs, repr)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(url)
    except Exception:
        return "postgresql://?"
    host = str(info.get("host") or "localhost")
    if host.startswith("/"):
        host = "[socket]"
    return f"postgresql://{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def _pg(sql: str) -> str:
    """The store's SQL uses ``?`` placeholders (sqlite3); psycopg wants ``%s``."""
    return _PLACEHOLDER.sub("%s", sql)


class PgDatabase:
    """One connection to the business's PostgreSQL database, with nested transactions."""

    def __init__(self, conn: Any, label: str) -> None:
        self._conn = conn
        #: Where the data lives, safe to print (never the connection string).
        self.path = label
        self._depth = 0
        self._version = 0
        self._after_commit: list[Callable[[], None]] = []
        self._flush_hooks: list[Callable[[], Callable[[], None] | None]] = []

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> PgDatabase:
        """Connect and bring the schema up to date (:mod:`vault.store.pgschema`).

        ``create`` only says that the caller is about to make a new store; the
        schema is migrated either way, so a fresh database needs no manual step.
        """
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - the extra is not installed
            raise StorageError(
                "a PostgreSQL store needs psycopg: pip install 'kluis[postgresql]'"
            ) from exc
        from vault.store.pgschema import migrate

        label = safe_label(url)
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to {label}: {_first_line(exc)}") from exc
        db = cls(conn, label)
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    # -- the Database seam -----------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def relaxed(self) -> bool:
        """Always False: every commit here waits for the server's WAL flush."""
        return False

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """A write transaction holding the store's write lock; nested blocks join it."""
        del durable  # every commit is durable here (module notes)
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._after_commit.clear()
            self._quiet("ROLLBACK")
            raise
        self._depth = 0
        try:
            self._raw("COMMIT")
        except StorageError:
            self._after_commit.clear()
            self._quiet("ROLLBACK")
            raise
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def _begin(self) -> None:
        self._raw("BEGIN")
        try:
            rows = self._raw("UPDATE kluis_meta SET version = version + 1 RETURNING version")
        except BaseException:
            self._quiet("ROLLBACK")
            raise
        self._version = int(rows[0][0])

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits (now, if none is open)."""
        if self._depth:
            self._after_commit.append(callback)
        else:
            callback()

    def on_flush(self, hook: Callable[[], Callable[[], None] | None]) -> None:
        """Kept for the seam: commits are durable at once, so :meth:`flush` just runs hooks."""
        self._flush_hooks.append(hook)

    def flush(self) -> None:
        done = [d for hook in self._flush_hooks if (d := hook()) is not None]
        for callback in done:
            callback()

    def erase_freed_pages(self) -> bool:
        """False: PostgreSQL cannot zero a deleted row's bytes (crypto-shredding holds)."""
        return False

    def checkpoint(self) -> bool:
        """Nothing to fold: the server owns its WAL. True outside a transaction."""
        return not self.in_transaction

    def data_version(self) -> int:
        """This transaction's number inside one; else the last committed number."""
        if self._depth:
            return self._version
        return int(self._raw("SELECT version FROM kluis_meta")[0][0])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; a write outside a transaction gets its own (write lock first)."""
        if not self._depth and _WRITE.match(sql):
            with self.transaction():
                return self._raw(_pg(sql), params)
        return self._raw(_pg(sql), params)

    def iterate(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """All rows of a query (fetched at once: the book's scans are bounded by its size)."""
        yield from self._raw(_pg(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        import psycopg

        with self.transaction():
            try:
                with self._conn.cursor() as cur:
                    cur.executemany(_pg(sql), rows)
            except psycopg.Error as exc:
                raise _storage_error(exc) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    # -- plumbing ----------------------------------------------------------------------

    def _raw(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params or None)
                return list(cur.fetchall()) if cur.description is not None else []
        except psycopg.Error as exc:
            raise _storage_error(exc) from exc

    def _quiet(self, sql: str) -> None:
        with contextlib.suppress(Exception):
            self._conn.execute(sql)

    def __repr__(self) -> str:
        return f"PgDatabase({self.path})"


def is_unique_violation(exc: BaseException | None) -> bool:
    """True if ``exc`` (a StorageError's cause) says a row with that key exists already."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - then no PgDatabase raised it
        return False
    return isinstance(exc, psycopg.errors.UniqueViolation)


def _storage_error(exc: Exception) -> StorageError:
    return StorageError(f"database error: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
