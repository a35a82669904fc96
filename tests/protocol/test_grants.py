"""Grants: made from requests, never wider than them, checked on every access."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import (
    AccessDenied,
    AccessRequest,
    Action,
    ErrorCode,
    LocalProtocolError,
    Offer,
    Purpose,
    PurposeCode,
    Scope,
    ScopeError,
    SignatureError,
    check_access,
    grant_fits_request,
    make_grant,
    new_id,
    new_nonce,
    sign,
    verify_grant,
)
from protocol.clock import DAY_MS

from .strategies import IDENTITIES

REQUESTER, VAULT, OTHER = IDENTITIES
NOW = 1_700_000_000_000


def request(**over: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "request_id": new_id(),
        "requester": REQUESTER.peer_id,
        "vault": VAULT.peer_id,
        "scope": Scope.of(["address.*", "contact.email"], ["read", "subscribe"]),
        "purpose": Purpose(code=PurposeCode.DELIVERY_OF_GOODS, text="ship orders"),
        "duration_days": 30,
        "retention_days": 14,
        "offer": Offer(description="free shipping", value_cents=495),
        "nonce": new_nonce(),
        "ts": NOW,
    }
    fields.update(over)
    return sign(AccessRequest(**fields), REQUESTER)


def test_make_grant_from_request() -> None:
    req = request()
    grant = make_grant(req, VAULT, now_ms=NOW)
    verify_grant(grant, VAULT.peer_id)
    assert grant.scope == req.scope and grant.purpose == req.purpose
    assert grant.expires_at == NOW + 30 * DAY_MS
    assert grant.retention_days == 14 and grant.offer == req.offer
    assert grant_fits_request(grant, req)


def test_owner_narrowing() -> None:
    req = request()
    grant = make_grant(
        req,
        VAULT,
        now_ms=NOW,
        fields=["address.city"],
        actions=["read"],
        duration_days=7,
        retention_days=0,
        grant_id="g1",
    )
    assert grant.grant_id == "g1"
    assert grant.scope == Scope.of(["address.city"], ["read"])
    assert grant.expires_at == NOW + 7 * DAY_MS and grant.retention_days == 0
    assert grant_fits_request(grant, req)


@pytest.mark.parametrize(
    "over",
    [
        {"fields": ["contact.phone"]},
        {"actions": ["contact"]},
        {"duration_days": 31},
        {"duration_days": 0},
        {"retention_days": 15},
        {"retention_days": -1},
    ],
)
def test_a_grant_never_exceeds_its_request(over: dict[str, Any]) -> None:
    with pytest.raises(ScopeError):
        make_grant(request(), VAULT, now_ms=NOW, **over)


def test_only_the_addressed_vault_grants() -> None:
    with pytest.raises(LocalProtocolError):
        make_grant(request(), OTHER, now_ms=NOW)


def test_grant_signature() -> None:
    grant = make_grant(request(), VAULT, now_ms=NOW)
    with pytest.raises(SignatureError):
        verify_grant(grant, OTHER.peer_id)
    with pytest.raises(SignatureError):
        verify_grant(grant.model_copy(update={"expires_at": grant.expires_at + 1}))
    with pytest.raises(SignatureError):
        verify_grant(grant.model_copy(update={"requester": OTHER.peer_id}))


def test_grant_fits_request_detects_widening() -> None:
    req = request()
    grant = make_grant(req, VAULT, now_ms=NOW)
    assert not grant_fits_request(grant, request())  # other request id
    wider = grant.model_copy(update={"scope": Scope.of(["contact.*"], ["read"])})
    assert not grant_fits_request(wider, req)
    longer = grant.model_copy(update={"expires_at": grant.expires_at + 1})
    assert not grant_fits_request(longer, req)


def test_check_access_allows() -> None:
    grant = make_grant(request(), VAULT, now_ms=NOW)
    assert check_access(grant, REQUESTER.peer_id, "address.city", Action.READ, NOW) == (
        "address.city",
    )
    assert check_access(
        grant,
        REQUESTER.peer_id,
        ["address.*", "contact.email"],
        "subscribe",
        NOW + 1,
        purpose=PurposeCode.DELIVERY_OF_GOODS,
    ) == ("address.*", "contact.email")


@pytest.mark.parametrize(
    ("code", "kwargs"),
    [
        (ErrorCode.WRONG_PEER, {"peer_id": OTHER.peer_id}),
        (ErrorCode.REVOKED, {"revoked": True}),
        (ErrorCode.EXPIRED, {"now_ms": NOW + 30 * DAY_MS}),
        (ErrorCode.PURPOSE_MISMATCH, {"purpose": PurposeCode.MARKETING}),
        (ErrorCode.OUT_OF_SCOPE, {"fields": ["contact.phone"]}),
        (ErrorCode.OUT_OF_SCOPE, {"fields": ["address"]}),
        (ErrorCode.OUT_OF_SCOPE, {"fields": []}),
        (ErrorCode.OUT_OF_SCOPE, {"action": Action.CONTACT}),
        (ErrorCode.OUT_OF_SCOPE, {"action": "teleport"}),
    ],
)
def test_check_access_denials(code: ErrorCode, kwargs: dict[str, Any]) -> None:
    grant = make_grant(request(), VAULT, now_ms=NOW)
    args: dict[str, Any] = {
        "peer_id": REQUESTER.peer_id,
        "fields": ["address.city"],
        "action": Action.READ,
        "now_ms": NOW,
    }
    args.update(kwargs)
    with pytest.raises(AccessDenied) as info:
        check_access(grant, **args)
    assert info.value.code is code


def test_wrong_peer_is_checked_before_anything_else() -> None:
    grant = make_grant(request(), VAULT, now_ms=NOW)
    with pytest.raises(AccessDenied) as info:
        check_access(grant, OTHER.peer_id, "x", "contact", NOW * 2, revoked=True)
    assert info.value.code is ErrorCode.WRONG_PEER
