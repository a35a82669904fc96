"""The business control API's bodies and answers (pydantic; the OpenAPI schemas come from here).

Values a vault sent appear only in :class:`CopyView` and :class:`ReadResult`,
and only while the grant is live; every other view carries ids, paths,
versions and times.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from protocol import Action, ContactCategory

__all__ = [
    "ActivityList",
    "ActivityView",
    "BizGrantList",
    "BizGrantView",
    "BizRequestList",
    "BizRequestView",
    "BizStatusView",
    "ContactBody",
    "ContactResult",
    "CopyView",
    "DealList",
    "DealView",
    "DeletionReceiptList",
    "ErasureReceiptList",
    "MailingList",
    "MailingView",
    "ProfileBody",
    "ProfileOut",
    "ReadBody",
    "ReadResult",
    "SendRequestBody",
    "WaitBody",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)


class BizStatusView(_Out):
    peer_id: str
    addrs: list[str]
    control_url: str
    pid: int
    display_name: str | None
    held_subscriptions: list[str]
    offers: list[str]
    store: str = Field(description="sqlite, or postgresql://host:port/dbname (no credentials)")
    worker: str | None = Field(None, description="worker name on a shared PostgreSQL store")
    shards: int | None = Field(None, description="shards this worker leases now (of 64)")


class SendRequestBody(_In):
    vault: str = Field(min_length=1, max_length=400, description="peer id or multiaddr")
    fields: list[str] = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=64)
    purpose_text: str = Field(default="", max_length=500)
    days: int = Field(default=30, ge=1, le=3650)
    retention_days: int = Field(default=0, ge=0, le=3650)
    offer: str = Field(default="", max_length=200)
    offer_cents: int = Field(default=0, ge=0, le=10**9)
    actions: list[Action] = Field(
        default_factory=lambda: [Action.READ, Action.SUBSCRIBE], min_length=1, max_length=8
    )
    contact: list[tuple[str, int, int]] | None = Field(
        default=None, max_length=16, description="contact terms: [category, max messages, days]"
    )


class WaitBody(_In):
    timeout: float = Field(default=60.0, ge=0, le=600)


class BizRequestView(_Out):
    request_id: str
    vault: str
    fields: list[str]
    purpose: str
    created_at: int
    status: str
    grant_id: str | None
    reason: str


class BizRequestList(_Out):
    requests: list[BizRequestView]


class BizGrantView(_Out):
    grant_id: str
    vault: str
    fields: list[str]
    purpose: str
    status: str
    expires_at: int
    retention_days: int
    data_deleted: bool
    deleted_at: int | None
    deletion_reason: str | None
    receipt_id: str | None
    receipt_acked: bool
    subscribed: bool


class BizGrantList(_Out):
    grants: list[BizGrantView]


class ReadBody(_In):
    fields: list[str] | None = Field(default=None, min_length=1, max_length=64)


class ReadResult(_Out):
    grant_id: str
    values: dict[str, Any]
    versions: dict[str, int]


class CopyView(_Out):
    """What is kept of a live grant: values, the grant's expiry and its retention."""

    grant_id: str
    values: dict[str, Any]
    expires_at: int
    retention_days: int


class ContactBody(_In):
    category: ContactCategory
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=4000)
    mailing_id: str | None = Field(default=None, min_length=1, max_length=128)
    queue: bool = False


class ContactResult(_Out):
    message_id: str
    grant_id: str
    mailing_id: str | None


class ActivityView(_Out):
    seq: int
    at: int
    kind: str
    grant_id: str
    path: str
    version: int


class ActivityList(_Out):
    activity: list[ActivityView]


class DeletionReceiptList(_Out):
    receipts: list[dict[str, Any]]


class ErasureReceiptList(_Out):
    receipts: list[dict[str, Any]]


class ProfileBody(_In):
    """Fields to set on the signed profile; the ones left out keep their value."""

    display_name: str | None = Field(default=None, max_length=200)
    legal_name: str | None = Field(default=None, max_length=200)
    website: str | None = Field(default=None, max_length=400)
    privacy_policy_url: str | None = Field(default=None, max_length=400)
    contact_email: str | None = Field(default=None, max_length=254)
    contact_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    jurisdiction: str | None = Field(default=None, max_length=8)
    address: dict[str, str] | None = None


class ProfileOut(_Out):
    """The signed profile customers see (``profile`` is null until one is set)."""

    profile: dict[str, Any] | None
    well_known: dict[str, Any] | None


class PetnameBody(_In):
    petname: str = Field(max_length=64, description='the business\'s name for it; "" removes it')


class PetnameView(_Out):
    vault: str
    petname: str


class MailingView(_Out):
    """One mailing's yield: sent, read (null: no customer shares reads), muted, blocked (D43)."""

    mailing_id: str
    sent: int
    read: int | None = Field(description="reads told by vaults that share them; null: none share")
    read_base: int = Field(description="messages sent to vaults that share reads")
    muted: int = Field(description="customers who muted after a message of this mailing")
    blocked: int
    refused: dict[str, int] = Field(description="every refusal by its code, blocked included")
    first_at: int
    last_at: int


class MailingList(_Out):
    mailings: list[MailingView]


class DealView(_Out):
    """An agreement the offer agent signed with a customer's agent, as the dashboard lists it."""

    agreement_id: str
    intent_id: str
    vault: str
    category: str
    domain: str
    fields: list[str]
    purpose: str
    value_cents: int
    duration_days: int
    created_at: int


class DealList(_Out):
    """The node's deals: the intent categories it answers, and the agreements signed."""

    answering: list[str]
    deals: list[DealView]
