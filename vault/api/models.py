"""Request and response bodies of the owner's control API (``/api/v1/``), as pydantic models.

All bodies live here, in one module, so the OpenAPI document is generated from
them (:mod:`vault.api.spec`) and the CLI client and the server share one shape.
Input bodies forbid unknown keys: a typo is a 400, not a silently ignored option.
Field *values* appear only in the profile routes (the owner reading their own
data); every other body carries ids, peer ids and paths.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from protocol import ErrorCode
from vault.services.grantbook import GrantState, RequestState
from vault.services.identity import BusinessLabel
from vault.services.inbox import InboxMessage
from vault.services.reads import Access
from vault.services.rules import Rule

__all__ = [
    "API_PREFIX",
    "AgreementList",
    "ApproveBody",
    "AuditView",
    "BackupBody",
    "BackupResult",
    "BusinessContact",
    "ContactReport",
    "DealList",
    "DealView",
    "DecisionView",
    "DenyBody",
    "EraseBody",
    "ErasureList",
    "ErasureView",
    "FieldView",
    "GrantList",
    "GrantView",
    "InboxItem",
    "InboxList",
    "IntentBody",
    "IntentList",
    "IntentRef",
    "LoginLink",
    "MailingView",
    "PassphraseBody",
    "PrefsBody",
    "PrefsView",
    "Problem",
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
    # bodies carry profile values: their validation errors must not (logs, tracebacks)
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)


class Problem(_Out):
    """Every 4xx/5xx answer: RFC 9457 problem details, as application/problem+json.

    code is the stable code to act on; type is the same code as a URI
    (urn:kluis:problem:<code>); title is fixed per code; detail describes this
    occurrence in one line.
    """

    type: str
    title: str
    status: int
    detail: str
    code: ErrorCode


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
    reads: int = 0  # reads and subscriptions under this grant (from the audit chain)
    last_access: int | None = None  # ms since the epoch; None: never used

    @classmethod
    def of(
        cls,
        s: GrantState,
        now_ms: int,
        business: dict[str, Any] | None = None,
        access: Access | None = None,
    ) -> GrantView:
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
            reads=access.reads if access else 0,
            last_access=access.last_at if access else None,
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


class PassphraseCheckBody(_In):
    """Is this the vault's passphrase? (one a command was given while the node runs)"""

    passphrase: Passphrase


class PassphraseBody(_In):
    """Change the passphrase: ``current`` must unlock the vault; ``new`` must be strong enough."""

    current: Passphrase
    new: Passphrase


# -- contact and erasure (docs/protocol.md 13-14) ---------------------------------------------

_PEER = r"^[1-9A-HJ-NP-Za-km-z]{40,64}$"


class InboxItem(_Out):
    message_id: str
    requester: str
    grant_id: str
    category: str
    mailing_id: str | None
    subject: str
    body: str
    received_at: int
    channels: list[str]
    muted: bool
    read_at: int | None

    @classmethod
    def of(cls, m: InboxMessage) -> InboxItem:
        return cls(**m.to_json())


class InboxList(_Out):
    messages: list[InboxItem]


class MailingView(_Out):
    mailing_id: str
    delivered: int
    read: int
    yield_pct: int


class BusinessContact(_Out):
    requester: str
    sent: dict[str, int]
    read: int
    refused: dict[str, int]
    muted: bool
    blocked: bool
    mailings: list[MailingView]


class ContactReport(_Out):
    businesses: list[BusinessContact]


class PrefsBody(_In):
    muted: bool | None = None
    blocked: bool | None = None


class PrefsView(_Out):
    requester: str
    muted: bool
    blocked: bool


class EraseBody(_In):
    business: str | None = Field(default=None, pattern=_PEER)
    all: bool = False
    reason: str = Field(default="", max_length=280)


class ErasureView(_Out):
    erasure_id: str
    requester: str
    status: str
    deadline: int
    request: dict[str, Any]
    receipt: dict[str, Any] | None


class ErasureList(_Out):
    erasures: list[ErasureView]


# -- the customer's agents (docs/agents.md, "Network") ---------------------------------------


class IntentBody(_In):
    """An intent file's content (see docs/agents.md, "Intent files")."""

    category: str = Field(max_length=64)
    issues: list[dict[str, Any]] = Field(max_length=16)
    wanted: str = Field(default="", max_length=280)
    purpose: str = Field(default="dpv:ServiceProvision", max_length=80)
    duration_days: int = 30
    window_seconds: float = 5
    rounds: int = 20
    reservation: float = 0.0
    domain: str | None = None
    price_issue: str | None = None
    may_share: list[str] = Field(default_factory=list, max_length=32)
    mandate: dict[str, Any] = Field(default_factory=dict)


class IntentRef(_Out):
    ref: str
    category: str
    status: str  # negotiating, agreed, no_deal, not_confirmed, failed, cancelled
    intent_id: str | None = None
    sessions: int | None = None
    agreement_id: str | None = None
    grant_id: str | None = None
    business: str | None = None
    value_cents: int | None = None
    error: str | None = None


class IntentList(_Out):
    intents: list[IntentRef]


class DealView(_Out):
    deal_id: str
    intent_id: str
    category: str
    business: str
    bid: dict[str, Any]
    value_cents: int
    status: str
    created_at: int


class DealList(_Out):
    deals: list[DealView]


class AgreementList(_Out):
    agreements: list[dict[str, Any]]


# -- businesses (vault/api/business_routes.py) ------------------------------------------


class BusinessView(_Out):
    """What the owner sees for a business; ``text`` is the one-line label."""

    peer_id: str
    name: str
    text: str
    petname: str | None
    display_name: str | None
    legal_name: str | None
    website: str | None
    privacy_policy_url: str | None
    contact_email: str | None
    jurisdiction: str | None
    domain: str | None
    verification: str  # verified | unverified | checking
    verification_reason: str
    changed: bool
    flags: list[str]
    warnings: list[str]
    previous: dict[str, Any] | None = None

    @classmethod
    def of(cls, label: BusinessLabel, previous: Any = None) -> BusinessView:
        prev = None
        if previous is not None:
            prev = previous.model_dump(mode="json", exclude={"sig", "type"})
        return cls(**label.to_json(), previous=prev)


class BusinessList(_Out):
    businesses: list[BusinessView]


class PetnameBody(_In):
    petname: Annotated[str, Field(max_length=64)] | None = None


class EmptyBody(_In):
    pass
