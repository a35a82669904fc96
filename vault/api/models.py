"""Request and response bodies of the owner's control API (``/api/v1/``), as pydantic models.

All bodies live here, in one module, so the OpenAPI document can be generated
from them (a later issue) and the CLI client and the server share one shape.
Input bodies forbid unknown keys: a typo is a 400, not a silently ignored option.
Field *values* appear only in the profile routes (the owner reading their own
data); every other body carries ids, peer ids and paths.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from vault.services.grantbook import GrantState, RequestState
from vault.services.rules import Rule

__all__ = [
    "API_PREFIX",
    "ApproveBody",
    "AuditView",
    "BackupBody",
    "BackupResult",
    "DecisionView",
    "DenyBody",
    "ErrorBody",
    "ErrorDetail",
    "FieldView",
    "GrantList",
    "GrantView",
    "LoginLink",
    "PassphraseBody",
    "ProfileView",
    "PutFieldBody",
    "ReceiptList",
    "ReceiptView",
    "RequestList",
    "RequestView",
    "RevokeBody",
    "RevokeResult",
    "RuleList",
    "StatusView",
]

API_PREFIX = "/api/v1"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Out):
    code: str
    message: str


class ErrorBody(_Out):
    """Every 4xx/5xx answer: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class StatusView(_Out):
    peer_id: str
    addrs: list[str]
    control_url: str
    pid: int


class RequestView(_Out):
    request_id: str
    requester: str
    fields: list[str]
    actions: list[str]
    purpose: str
    purpose_text: str
    duration_days: int
    retention_days: int
    offer: str
    offer_cents: int
    status: str
    received_at: int
    decided_at: int | None
    decided_by: str
    reason: str
    grant_id: str | None
    #: who asks: ``BusinessBook.label(...).to_json()`` (name, ``text``, domain check, flags)
    business: dict[str, Any] | None = None

    @classmethod
    def of(cls, s: RequestState, business: dict[str, Any] | None = None) -> RequestView:
        r = s.request
        return cls(
            request_id=r.request_id,
            requester=r.requester,
            fields=list(r.scope.fields),
            actions=[a.value for a in r.scope.actions],
            purpose=r.purpose.code.value,
            purpose_text=r.purpose.text,
            duration_days=r.duration_days,
            retention_days=r.retention_days,
            offer=r.offer.description,
            offer_cents=r.offer.value_cents,
            status=s.status.value,
            received_at=s.received_at,
            decided_at=s.decided_at,
            decided_by=s.decided_by,
            reason=s.reason,
            grant_id=s.grant_id,
            business=business,
        )


class RequestList(_Out):
    requests: list[RequestView]


class GrantView(_Out):
    grant_id: str
    request_id: str
    requester: str
    fields: list[str]
    actions: list[str]
    purpose: str
    issued_at: int
    expires_at: int
    retention_days: int
    status: str  # active | expired | revoked
    revoked_at: int | None
    notice_delivered: bool | None
    receipts: list[str]
    business: dict[str, Any] | None = None

    @classmethod
    def of(cls, s: GrantState, now_ms: int, business: dict[str, Any] | None = None) -> GrantView:
        g = s.grant
        return cls(
            grant_id=g.grant_id,
            request_id=g.request_id,
            requester=g.requester,
            fields=list(g.scope.fields),
            actions=[a.value for a in g.scope.actions],
            purpose=g.purpose.code.value,
            issued_at=g.issued_at,
            expires_at=g.expires_at,
            retention_days=g.retention_days,
            status=s.status(now_ms),
            revoked_at=s.revoked_at,
            notice_delivered=s.notice_delivered,
            receipts=list(s.receipts),
            business=business,
        )


class GrantList(_Out):
    grants: list[GrantView]


class ApproveBody(_In):
    """Approve, optionally narrowed: fewer fields or actions, fewer days."""

    fields: Annotated[list[str], Field(min_length=1, max_length=64)] | None = None
    actions: Annotated[list[str], Field(min_length=1, max_length=3)] | None = None
    days: Annotated[int, Field(ge=1, le=3650)] | None = None


class DenyBody(_In):
    reason: Annotated[str, Field(max_length=280)] = ""


class DecisionView(_Out):
    request: RequestView
    grant: GrantView | None = None


class RevokeBody(_In):
    reason: Annotated[str, Field(max_length=280)] = ""
    erase: bool = False


class RevokeResult(_Out):
    """The revocation is in force when this is returned; ``notice`` is the signed notice."""

    grant: GrantView
    notice: dict[str, Any]


class RuleList(_Out):
    rules: list[Rule]


class FieldView(_Out):
    path: str
    value: Any
    version: int
    updated_at: int


class ProfileView(_Out):
    fields: list[FieldView]
    corrupt: list[str] = []


class PutFieldBody(_In):
    """Set a field: a typed ``value``, or ``text`` parsed like the CLI does (lists by commas)."""

    value: Any = None
    text: Annotated[str, Field(max_length=4096)] | None = None


class AuditView(_Out):
    entries: list[dict[str, Any]]
    verify: dict[str, Any] | None = None


class ReceiptView(_Out):
    """One consent receipt: ``receipt`` as signed; ``kantara`` (Kantara v1.1) or
    ``iso27560`` (DPV JSON-LD), each with its detached signature, when asked for."""

    receipt_id: str
    kind: str  # grant | revocation | erasure | deletion
    grant_id: str
    requester: str
    issued_at: int
    receipt: dict[str, Any]
    kantara: dict[str, Any] | None = None
    iso27560: dict[str, Any] | None = None
    business: dict[str, Any] | None = None


class ReceiptList(_Out):
    receipts: list[ReceiptView]


class LoginLink(_Out):
    """A one-time dashboard login link (works once, for ten minutes)."""

    url: str
    dashboard_url: str
    expires_in_s: int


Passphrase = Annotated[str, Field(min_length=1, max_length=1024)]


class BackupBody(_In):
    """Write an encrypted backup to ``path`` (absolute, on the node's machine)."""

    path: Annotated[str, Field(min_length=1, max_length=4096)]
    passphrase: Passphrase
    force: bool = False


class BackupResult(_Out):
    path: str
    records: int
    audit_entries: int


class PassphraseBody(_In):
    """Change the passphrase: ``current`` must unlock the vault; ``new`` must be strong enough."""

    current: Passphrase
    new: Passphrase
