"""The business's local book of its access requests and grants (sealed store records).

A request record (kind ``req.request``) holds the signed
:class:`~protocol.AccessRequest`, the vault's multiaddr (so a later process can
resume waiting), and what became of it. A grant record (kind ``req.grant``)
holds the verified :class:`~protocol.Grant`, the request it answers, the vault
address, and its end of life: when access ended, when the data was deleted and
why, and the signed :class:`~protocol.DeletionReceipt` with whether the vault
acknowledged it.

A grant's local **status** is derived, never guessed:

``active``   usable: not revoked, not past ``expires_at``
``expired``  access ended (``expires_at`` passed, or the vault said so); the
             data is kept for at most the grant's ``retention_days``
``revoked``  the owner revoked it; the data and its key were destroyed at once
``deleted``  access ended and the retention period ran out (or the owner asked
             for erasure); the data and its key were destroyed
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from protocol import (
    AccessRequest,
    CanonicalError,
    DeletionReason,
    DeletionReceipt,
    Grant,
    canonical_dumps,
    canonical_loads,
)
from protocol.clock import DAY_MS
from vault._exceptions import CorruptRecord
from vault.requester._errors import UnknownGrant, UnknownRequest
from vault.store.jsonform import JsonRecord
from vault.store.vault import Vault

__all__ = [
    "DAY_MS",
    "GRANT_KIND",
    "REQUEST_KIND",
    "GrantRecord",
    "GrantStatus",
    "LocalBook",
    "RequestRecord",
]

REQUEST_KIND = "req.request"
GRANT_KIND = "req.grant"


class GrantStatus(StrEnum):
    """Where a grant stands, as this business sees it (:meth:`GrantRecord.status`)."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class RequestRecord(JsonRecord):
    """One access request this business sent, and its outcome."""

    request: AccessRequest
    vault_addr: str
    created_at: int
    status: str = "pending"  # pending | approved | denied
    grant_id: str | None = None
    reason: str = ""

    @property
    def request_id(self) -> str:
        return self.request.request_id


@dataclass(frozen=True, slots=True)
class GrantRecord(JsonRecord):
    """One grant this business holds (or held), and the fate of its data."""

    grant: Grant
    request: AccessRequest
    vault_addr: str
    received_at: int
    ended_at: int | None = None  # set when the vault said revoked/expired before expires_at
    revoked_at: int | None = None
    deleted_at: int | None = None
    deletion_reason: DeletionReason | None = None
    receipt: DeletionReceipt | None = None
    receipt_acked: bool = False

    @property
    def grant_id(self) -> str:
        return self.grant.grant_id

    @property
    def vault_peer(self) -> str:
        return self.grant.vault

    @property
    def data_deleted(self) -> bool:
        return self.deleted_at is not None

    def access_ended_at(self) -> int:
        """When access ended (or will end): the earliest of expiry, revocation, vault's word."""
        ends = [self.grant.expires_at]
        ends += [t for t in (self.ended_at, self.revoked_at) if t is not None]
        return min(ends)

    def retention_deadline(self) -> int:
        """When the data must be gone if access ended normally."""
        return self.access_ended_at() + self.grant.retention_days * DAY_MS

    def status(self, now_ms: int) -> GrantStatus:
        if self.revoked_at is not None:
            return GrantStatus.REVOKED
        if self.deleted_at is not None:
            return GrantStatus.DELETED
        if now_ms >= self.access_ended_at():
            return GrantStatus.EXPIRED
        return GrantStatus.ACTIVE

    def evolve(self, **changes: Any) -> GrantRecord:
        return replace(self, **changes)


class LocalBook:
    """Requests and grants, sealed in the requester's store and indexed in memory."""

    def __init__(self, vault: Vault) -> None:
        self._store = vault.store
        self._requests: dict[str, RequestRecord] = {}
        self._grants: dict[str, GrantRecord] = {}
        self.corrupt: list[CorruptRecord] = []
        self.reload()

    def reload(self) -> None:
        """Read the book from the store again.

        The index is this process's; with a shared PostgreSQL store (D28) a worker
        that takes over vault relationships reloads it to see what the others wrote.
        """
        self._requests, self._grants, self.corrupt = {}, {}, []
        for name, raw in self._store.items(REQUEST_KIND, errors=self.corrupt):
            try:
                self._requests[name] = RequestRecord.from_json(canonical_loads(raw))
            except (CanonicalError, KeyError, TypeError, ValueError):
                self.corrupt.append(CorruptRecord(name, kind=REQUEST_KIND))
        for name, raw in self._store.items(GRANT_KIND, errors=self.corrupt):
            try:
                self._grants[name] = GrantRecord.from_json(canonical_loads(raw))
            except (CanonicalError, KeyError, TypeError, ValueError):
                self.corrupt.append(CorruptRecord(name, kind=GRANT_KIND))

    # requests --------------------------------------------------------------------------

    def request(self, request_id: str) -> RequestRecord:
        rec = self._requests.get(request_id)
        if rec is None:
            raise UnknownRequest(request_id)
        return rec

    def requests(self) -> list[RequestRecord]:
        return sorted(self._requests.values(), key=lambda r: (r.created_at, r.request_id))

    def put_request(self, rec: RequestRecord) -> None:
        self._store.put(REQUEST_KIND, rec.request_id, canonical_dumps(rec.to_json()))
        self._requests[rec.request_id] = rec

    # grants ----------------------------------------------------------------------------

    def grant(self, grant_id: str) -> GrantRecord:
        rec = self._grants.get(grant_id)
        if rec is None:
            raise UnknownGrant(grant_id)
        return rec

    def find_grant(self, grant_id: str) -> GrantRecord | None:
        return self._grants.get(grant_id)

    def grants(self) -> list[GrantRecord]:
        return sorted(self._grants.values(), key=lambda g: (g.received_at, g.grant_id))

    def reread_grant(self, grant_id: str) -> GrantRecord:
        """``grant_id``'s record as the store holds it now, the index brought up to date.

        With a shared store (D28) another worker may have changed it since this
        index was read; called inside a write transaction it cannot change again
        before this one ends (the write lock serialises writers).
        """
        raw = self._store.get(GRANT_KIND, grant_id)
        if raw is None:
            return self.grant(grant_id)
        try:
            rec = GrantRecord.from_json(canonical_loads(raw))
        except (CanonicalError, KeyError, TypeError, ValueError):
            return self.grant(grant_id)
        self._grants[grant_id] = rec
        return rec

    def put_grant(self, rec: GrantRecord) -> None:
        self._store.put(GRANT_KIND, rec.grant_id, canonical_dumps(rec.to_json()))
        self._grants[rec.grant_id] = rec

    def remember(self, rec: GrantRecord) -> None:
        """Update the in-memory index only (fail closed when the store write failed)."""
        self._grants[rec.grant_id] = rec
