"""The PostgreSQL store's schema, as numbered migrations that ship with the code.

Each migration runs once, in its own transaction, under a transaction-level
advisory lock, so several workers starting at the same moment migrate the
database exactly once; the others wait and find it done. ``kluis_schema``
records what ran. A database migrated by newer code than this one is refused
(:class:`~vault._exceptions.StorageError`) rather than written with old rules.

Add a migration by appending to :data:`MIGRATIONS`; never edit one that shipped.
The tables hold nothing in plaintext but kinds, row ids (HMACs) and lease
bookkeeping; values are sealed by :class:`~vault.store.records.Store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault._exceptions import StorageError

if TYPE_CHECKING:
    from vault.store.pgdb import PgDatabase

__all__ = ["MIGRATE_LOCK", "MIGRATIONS", "SCHEMA_VERSION", "migrate"]

#: The advisory lock key migrations run under (any fixed 64-bit number; "kluis-mg").
MIGRATE_LOCK = 0x6B6C7569732D6D67

#: ``(version, what it does, SQL)``, in order.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "sealed records, the audit chain, the write-lock row",
        """
        CREATE TABLE records (
            kind   TEXT  NOT NULL,
            rid    BYTEA NOT NULL,
            sealed BYTEA NOT NULL,
            PRIMARY KEY (kind, rid)
        );
        CREATE TABLE audit (
            seq    BIGINT PRIMARY KEY,
            sealed BYTEA NOT NULL
        );
        CREATE TABLE kluis_meta (
            one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            version BIGINT NOT NULL
        );
        INSERT INTO kluis_meta (one, version) VALUES (TRUE, 0);
        """,
    ),
    (
        2,
        "worker leases over shards of the vault relationships (D28)",
        """
        CREATE TABLE kluis_workers (
            worker  TEXT PRIMARY KEY,
            seen_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE kluis_leases (
            shard      INTEGER PRIMARY KEY,
            owner      TEXT,
            expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
        );
        """,
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(db: PgDatabase) -> int:
    """Apply the migrations this database lacks; the version it is at afterwards."""
    db._raw("BEGIN")
    try:
        db._raw("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        db._raw(
            "CREATE TABLE IF NOT EXISTS kluis_schema ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        db._raw("COMMIT")
    except BaseException:
        db._quiet("ROLLBACK")
        raise
    current = _current(db)
    if current > SCHEMA_VERSION:
        raise StorageError(
            f"the database is at schema {current}, newer than this kluis ({SCHEMA_VERSION}); "
            "upgrade kluis"
        )
    for version, description, sql in MIGRATIONS:
        if version <= current:
            continue
        db._raw("BEGIN")
        try:
            db._raw("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            if _current(db) < version:  # another worker may have run it while we waited
                for statement in filter(str.strip, sql.split(";")):
                    db._raw(statement)
                db._raw(
                    "INSERT INTO kluis_schema (version, description) VALUES (%s, %s)",
                    (version, description),
                )
            db._raw("COMMIT")
        except BaseException:
            db._quiet("ROLLBACK")
            raise
    return max(current, SCHEMA_VERSION)


def _current(db: PgDatabase) -> int:
    return int(db._raw("SELECT coalesce(max(version), 0) FROM kluis_schema")[0][0])
