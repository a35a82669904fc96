"""What the SDK hands back: a :class:`GrantHandle` and a :class:`PendingRequest`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocol import AccessRequest, Action, Grant, Purpose

if TYPE_CHECKING:
    from vault.requester._book import GrantRecord
    from vault.requester._requester import Requester

__all__ = ["GrantHandle", "GrantInfo", "PendingRequest"]


@dataclass(frozen=True, slots=True)
class GrantHandle:
    """A verified grant (vault-signed, bound to this requester, no wider than asked).

    Pass it (or just its ``grant_id``) to :meth:`Requester.read`,
    :meth:`Requester.subscribe` and :meth:`Requester.local_copy`.
    """

    grant: Grant
    vault_addr: str

    @property
    def grant_id(self) -> str:
        return self.grant.grant_id

    @property
    def vault_peer(self) -> str:
        return self.grant.vault

    @property
    def fields(self) -> tuple[str, ...]:
        return self.grant.scope.fields

    @property
    def actions(self) -> tuple[Action, ...]:
        return self.grant.scope.actions

    @property
    def purpose(self) -> Purpose:
        return self.grant.purpose

    @property
    def expires_at(self) -> int:
        return self.grant.expires_at

    @property
    def retention_days(self) -> int:
        return self.grant.retention_days

    def __str__(self) -> str:
        return self.grant_id


@dataclass(frozen=True, slots=True)
class GrantInfo:
    """A row of :meth:`Requester.grants`: a grant and its local status."""

    grant_id: str
    vault_peer: str
    fields: tuple[str, ...]
    purpose: str
    status: str  # active | expired | revoked | deleted
    expires_at: int
    retention_days: int
    data_deleted: bool
    deleted_at: int | None
    deletion_reason: str | None
    receipt_id: str | None
    receipt_acked: bool

    @classmethod
    def of(cls, rec: GrantRecord, now: int) -> GrantInfo:
        """The row for a local grant record, with its status at ``now`` (ms)."""
        return cls(
            grant_id=rec.grant_id,
            vault_peer=rec.vault_peer,
            fields=rec.grant.scope.fields,
            purpose=rec.grant.purpose.code.value,
            status=rec.status(now).value,
            expires_at=rec.grant.expires_at,
            retention_days=rec.grant.retention_days,
            data_deleted=rec.data_deleted,
            deleted_at=rec.deleted_at,
            deletion_reason=None if rec.deletion_reason is None else rec.deletion_reason.value,
            receipt_id=None if rec.receipt is None else rec.receipt.receipt_id,
            receipt_acked=rec.receipt_acked,
        )


class PendingRequest:
    """An access request sent to a vault; :meth:`decision` waits for the owner."""

    def __init__(self, requester: Requester, request: AccessRequest, vault_addr: str) -> None:
        self._requester = requester
        self.request = request
        self.vault_addr = vault_addr

    @property
    def request_id(self) -> str:
        return self.request.request_id

    @property
    def vault_peer(self) -> str:
        return self.request.vault

    async def decision(self, timeout: float = 60.0) -> GrantHandle:
        """Long-poll the vault until the owner decides (or ``timeout`` seconds pass).

        Returns the verified :class:`GrantHandle` on approval. Raises
        :class:`protocol.AccessDenied` (``code=denied``) on denial,
        :class:`~vault.requester.DecisionPending` on timeout (ask again later),
        :class:`~vault.requester.InvalidGrant` if the vault's grant cannot be trusted.
        """
        rec = await self._requester.asking.await_decision(self.request_id, timeout)
        assert rec.grant_id is not None  # an approved record names its grant
        return self._requester.handle(rec.grant_id)

    def __repr__(self) -> str:
        return f"PendingRequest({self.request_id} -> {self.vault_peer})"
