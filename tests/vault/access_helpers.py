"""Builders for signed access-protocol messages (tests only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from protocol import (
    AccessRequest,
    DeletionReason,
    DeletionReceipt,
    Identity,
    Offer,
    Purpose,
    PurposeCode,
    Read,
    Scope,
    Subscribe,
    new_id,
    new_nonce,
    now_ms,
    sign,
)


def access_request(
    requester: Identity,
    vault_peer: str,
    fields: Iterable[str] = ("contact.email", "name.given"),
    *,
    actions: Iterable[str] = ("read", "subscribe"),
    purpose: PurposeCode = PurposeCode.SERVICE_PROVISION,
    days: int = 30,
    retention: int = 7,
    ts: int | None = None,
    **extra: Any,
) -> AccessRequest:
    msg = AccessRequest(
        request_id=new_id(),
        requester=requester.peer_id,
        vault=vault_peer,
        scope=Scope.of(fields, actions),
        purpose=Purpose(code=purpose, text="to send you your order"),
        duration_days=days,
        retention_days=retention,
        offer=Offer(description="free shipping", value_cents=495),
        nonce=new_nonce(),
        ts=now_ms() if ts is None else ts,
        **extra,
    )
    return sign(msg, requester)


def read(requester: Identity, grant_id: str, fields: Iterable[str], ts: int | None = None) -> Read:
    msg = Read(
        grant_id=grant_id,
        requester=requester.peer_id,
        fields=tuple(fields),
        nonce=new_nonce(),
        ts=now_ms() if ts is None else ts,
    )
    return sign(msg, requester)


def subscribe(requester: Identity, grant_id: str, fields: Iterable[str]) -> Subscribe:
    msg = Subscribe(
        grant_id=grant_id,
        requester=requester.peer_id,
        fields=tuple(fields),
        nonce=new_nonce(),
        ts=now_ms(),
    )
    return sign(msg, requester)


def deletion_receipt(
    requester: Identity, vault_peer: str, grant_id: str, fields: Iterable[str]
) -> DeletionReceipt:
    msg = DeletionReceipt(
        receipt_id=new_id(),
        grant_id=grant_id,
        requester=requester.peer_id,
        vault=vault_peer,
        reason=DeletionReason.REVOKED,
        deleted_fields=tuple(fields),
        deleted_at=now_ms(),
        key_destroyed=True,
    )
    return sign(msg, requester)
