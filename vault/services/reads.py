"""How often each grant was used, and when last: counted from the audit chain.

Every read and every subscription a business makes under a grant is an audit
entry (``access.read``, ``access.subscribe``; :mod:`vault.services.access`), so
the chain is the one source of "who read what, when". :class:`AccessTally`
scans it once, then only the entries appended since its last look, so listing
grants stays cheap on a long chain. A row that cannot be opened is skipped
here (the audit verification reports it; a count is not a security decision).
"""

from __future__ import annotations

from dataclasses import dataclass

from vault.store.audit import AuditLog

__all__ = ["ACCESS_KINDS", "Access", "AccessTally"]

#: The audit kinds that count as a business using a grant.
ACCESS_KINDS = frozenset({"access.read", "access.subscribe"})


@dataclass(slots=True)
class Access:
    reads: int = 0  # reads and subscriptions
    last_at: int | None = None  # ms since the epoch


class AccessTally:
    """Per grant id: how many accesses, and the last one (see the module docstring)."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit
        self._next = 1
        self._by_grant: dict[str, Access] = {}

    def refresh(self) -> None:
        for seq, entry in self._audit.scan(self._next):
            self._next = seq + 1
            if entry is None or entry.kind not in ACCESS_KINDS:
                continue
            grant_id = entry.details.get("grant_id")
            if isinstance(grant_id, str):
                seen = self._by_grant.setdefault(grant_id, Access())
                seen.reads += 1
                seen.last_at = max(seen.last_at or 0, entry.timestamp)

    def of(self, grant_id: str) -> Access:
        return self._by_grant.get(grant_id, Access())
