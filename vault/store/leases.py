"""Business workers dividing the vault relationships among themselves: leases in PostgreSQL.

Decision D28 in ``docs/architecture.md``. The vault relationships are hashed
into :data:`SHARDS` fixed shards (by the vault's peer id); a worker acts for a
vault (holds its subscriptions, sends its deletion receipts, sweeps its
retention) only while it holds a lease on the vault's shard. Each worker calls
:meth:`Leases.tick` every ``ttl / 3`` seconds; one tick, in one transaction:

1. says the worker is alive (``kluis_workers.seen_at``);
2. renews its unexpired leases to ``now() + ttl``;
3. works out its fair share, ``ceil(SHARDS / live workers)``, and releases the
   leases above it (so a newcomer gets work) or claims expired or free leases up
   to it (``FOR UPDATE SKIP LOCKED``: two claimers never wait on each other).

All times are the database server's clock, so the workers' clocks may disagree.
A worker killed with ``kill -9`` stops renewing; its leases expire at most
``ttl`` after its last tick, and the survivors claim them on their next tick:
**failover within ttl + interval** (plus one tick's run time). With the
defaults, 15 s + 5 s.

Fencing: a worker trusts a lease only until ``ttl`` after the tick *started*
by its own monotonic clock (earlier than the server's expiry), so a worker that
stalls stops acting before anyone else may take its shards. What can still
overlap is a send already in flight; the vault treats a second copy of a
deletion receipt or a read as idempotent, so that is harmless.

This module opens its own connection, so a heartbeat never waits behind the
store's write lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from vault._exceptions import StorageError
from vault.store.pgdb import PgDatabase, safe_label

__all__ = ["DEFAULT_TTL", "SHARDS", "LeaseChange", "Leases", "shard_of"]

#: Fixed number of shards; more than any sensible count of workers, few enough to scan.
SHARDS = 64
#: Seconds a lease lasts without renewal.
DEFAULT_TTL = 15.0


def shard_of(vault_peer: str, shards: int = SHARDS) -> int:
    """The shard a vault relationship belongs to: stable, evenly spread, same in every worker."""
    digest = hashlib.sha256(vault_peer.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % shards


@dataclass(frozen=True, slots=True)
class LeaseChange:
    """What one tick changed: shards gained and lost, and all now held."""

    gained: frozenset[int]
    lost: frozenset[int]
    owned: frozenset[int]


class Leases:
    """One worker's leases on the shards of a shared PostgreSQL store."""

    def __init__(
        self, url: str, worker: str, *, ttl: float = DEFAULT_TTL, shards: int = SHARDS
    ) -> None:
        if not 0 < ttl <= 3600:
            raise ValueError("ttl must be between 0 and 3600 seconds")
        self.worker = worker
        self.ttl = ttl
        self.shards = shards
        self._db = PgDatabase.open(url)  # migrates, so the lease tables exist
        self._owned: frozenset[int] = frozenset()
        self._valid_until = 0.0
        self.label = safe_label(url)

    @property
    def interval(self) -> float:
        """How often to :meth:`tick`: three renewals per ttl."""
        return self.ttl / 3

    @property
    def owned(self) -> frozenset[int]:
        """The shards held now (empty once the leases may have lapsed: fencing)."""
        return self._owned if time.monotonic() < self._valid_until else frozenset()

    def owns(self, vault_peer: str) -> bool:
        """True if this worker may act for ``vault_peer`` now."""
        return shard_of(vault_peer, self.shards) in self.owned

    def tick(self) -> LeaseChange:
        """Heartbeat, renew, rebalance (module notes); what changed."""
        started = time.monotonic()
        before = self.owned
        ttl, me = self.ttl, self.worker
        with self._transaction():
            q = self._db._raw
            q(
                "INSERT INTO kluis_leases (shard) SELECT generate_series(0, %s - 1) "
                "ON CONFLICT DO NOTHING",
                (self.shards,),
            )
            q(
                "INSERT INTO kluis_workers (worker, seen_at) VALUES (%s, now()) "
                "ON CONFLICT (worker) DO UPDATE SET seen_at = now()",
                (me,),
            )
            held = _shards(
                q(
                    "UPDATE kluis_leases SET expires_at = now() + make_interval(secs => %s) "
                    "WHERE owner = %s AND expires_at > now() RETURNING shard",
                    (ttl, me),
                )
            )
            live = int(
                q(
                    "SELECT count(*) FROM kluis_workers "
                    "WHERE seen_at > now() - make_interval(secs => %s)",
                    (ttl,),
                )[0][0]
            )
            share = math.ceil(self.shards / max(live, 1))
            if len(held) > share:
                extra = sorted(held)[share:]
                q(
                    "UPDATE kluis_leases SET owner = NULL, expires_at = '-infinity' "
                    "WHERE owner = %s AND shard = ANY(%s)",
                    (me, extra),
                )
                held -= set(extra)
            elif len(held) < share:
                held |= _shards(
                    q(
                        "UPDATE kluis_leases SET owner = %s, "
                        "expires_at = now() + make_interval(secs => %s) "
                        "WHERE shard IN (SELECT shard FROM kluis_leases "
                        "WHERE expires_at <= now() ORDER BY shard LIMIT %s "
                        "FOR UPDATE SKIP LOCKED) RETURNING shard",
                        (me, ttl, share - len(held)),
                    )
                )
            q(
                "DELETE FROM kluis_workers WHERE seen_at < now() - make_interval(secs => %s)",
                (ttl * 10,),
            )
        self._owned = frozenset(held)
        self._valid_until = started + ttl
        return LeaseChange(
            gained=self._owned - before, lost=before - self._owned, owned=self._owned
        )

    def release(self) -> None:
        """Give every lease back (a clean shutdown hands its work over at once)."""
        self._owned, self._valid_until = frozenset(), 0.0
        with contextlib.suppress(StorageError), self._transaction():
            self._db._raw(
                "UPDATE kluis_leases SET owner = NULL, expires_at = '-infinity' WHERE owner = %s",
                (self.worker,),
            )
            self._db._raw("DELETE FROM kluis_workers WHERE worker = %s", (self.worker,))

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db._raw("BEGIN")
        try:
            yield
        except BaseException:
            self._db._quiet("ROLLBACK")
            raise
        self._db._raw("COMMIT")

    def __repr__(self) -> str:
        return f"Leases({self.worker!r} on {self.label}, {len(self.owned)} shards)"


def _shards(rows: list[tuple[Any, ...]]) -> set[int]:
    return {int(r[0]) for r in rows}
