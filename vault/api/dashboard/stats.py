"""Access statistics derived from the audit log, kept up to date incrementally.

The audit log is the one record of every access, so the dashboard's counts
come from it: reads, subscriptions and pushes per grant (with the last access),
and reads per business per day (for the plot). :meth:`AccessStats.refresh`
decrypts only the entries appended since the last call (the head is O(1)), so
rendering a page does not re-walk the chain.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from protocol.clock import DAY_MS
from vault._exceptions import CorruptRecord
from vault.store.audit import AuditLog

__all__ = ["ACCESS_KINDS", "AccessStats", "GrantUse"]

log = logging.getLogger(__name__)

#: Audit kinds that count as an access by a business under a grant.
ACCESS_KINDS = ("access.read", "access.subscribe", "access.push")


@dataclass(slots=True)
class GrantUse:
    reads: int = 0
    subscribes: int = 0
    pushes: int = 0
    last_access: int | None = None

    @property
    def total(self) -> int:
        return self.reads + self.subscribes + self.pushes


@dataclass(slots=True)
class AccessStats:
    """Per-grant use and per-business daily reads, from the audit log."""

    seen: int = 0
    by_grant: dict[str, GrantUse] = field(default_factory=dict)
    reads_by_day: dict[str, Counter[int]] = field(default_factory=dict)  # requester -> day -> n
    refusals: int = 0

    def refresh(self, audit: AuditLog) -> None:
        head, _ = audit.head()
        if head <= self.seen:
            return
        try:
            for entry in audit.entries(self.seen + 1, head + 1):
                self.seen = entry.seq
                if entry.kind == "access.refused":
                    self.refusals += 1
                    continue
                if entry.kind not in ACCESS_KINDS:
                    continue
                grant_id = str(entry.details.get("grant_id", ""))
                use = self.by_grant.setdefault(grant_id, GrantUse())
                if entry.kind == "access.read":
                    use.reads += 1
                    who = str(entry.details.get("requester", ""))
                    self.reads_by_day.setdefault(who, Counter())[entry.timestamp // DAY_MS] += 1
                elif entry.kind == "access.subscribe":
                    use.subscribes += 1
                else:
                    use.pushes += 1
                if use.last_access is None or entry.timestamp > use.last_access:
                    use.last_access = entry.timestamp
        except CorruptRecord as exc:  # the audit page reports it; skip past the bad entry
            log.warning("access stats: %s", exc.message)
            self.seen += 1

    def use(self, grant_id: str) -> GrantUse:
        return self.by_grant.get(grant_id, GrantUse())
