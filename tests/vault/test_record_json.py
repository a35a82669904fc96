"""The JSON form of every stored record keeps its bytes, and stored bytes still load.

Each expected dict below is the form the hand-written ``to_json`` methods wrote
before the records moved to pydantic ``TypeAdapter``\\s (:mod:`vault.store.jsonform`).
Sealed records already on disk hold exactly these bytes, so a change here breaks
existing vaults.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol import (
    DecisionStatus,
    DeletionReason,
    EraseRequest,
    ErasureReceipt,
    Identity,
    RevokeNotice,
    canonical_dumps,
    canonical_loads,
    make_grant,
    sign,
)
from tests.conftest import START_MS
from tests.vault.access_helpers import access_request, deletion_receipt
from vault._exceptions import AuditError, VaultError
from vault.requester._book import GrantRecord, RequestRecord
from vault.services.agent_service import PendingDeal
from vault.services.contact import ContactHistory
from vault.services.erasure import ErasureRecord
from vault.services.grantbook import GrantState, RequestState
from vault.services.inbox import InboxMessage, MailingStats
from vault.services.outbox import OutboxItem
from vault.store.audit import AuditEntry, VerifyReport
from vault.store.crypto import KdfParams
from vault.store.profile import ProfileField

VAULT = Identity(bytes([1]) * 32)
BIZ = Identity(bytes([2]) * 32)
REQUEST = access_request(BIZ, VAULT.peer_id, ts=START_MS)
GRANT = make_grant(REQUEST, VAULT, now_ms=START_MS + 1)
NOTICE = sign(
    RevokeNotice(
        grant_id=GRANT.grant_id,
        vault=VAULT.peer_id,
        requester=BIZ.peer_id,
        revoked_at=START_MS + 2,
        reason="moved",
    ),
    VAULT,
)
RECEIPT = deletion_receipt(BIZ, VAULT.peer_id, GRANT.grant_id, ["contact.email"])
ERASE = sign(
    EraseRequest(
        erasure_id="e" * 32,
        vault=VAULT.peer_id,
        requester=BIZ.peer_id,
        grant_ids=(GRANT.grant_id,),
        requested_at=START_MS + 3,
    ),
    VAULT,
)
ERASED = sign(
    ErasureReceipt(
        erasure_id="e" * 32,
        requester=BIZ.peer_id,
        vault=VAULT.peer_id,
        grant_ids=(GRANT.grant_id,),
        deleted_fields=("contact.email",),
        deleted_at=START_MS + 4,
        keys_destroyed=True,
    ),
    BIZ,
)


AUDIT_JSON = {
    "seq": 3, "timestamp": START_MS, "kind": "grant.revoke",
    "details": {"grant": "g1", "n": [1, 2]}, "prev_hash": "01" * 32, "hash": "02" * 32,
    "signature": "03" * 64,
}  # fmt: skip


def wire(msg: Any) -> Any:
    return msg.model_dump(mode="json")


CASES: list[tuple[Any, dict[str, Any]]] = [
    (
        RequestState(
            REQUEST, DecisionStatus.APPROVED, START_MS, START_MS + 1, "owner", "", "g1", 7
        ),
        {
            "request": wire(REQUEST), "status": "approved", "received_at": START_MS,
            "decided_at": START_MS + 1, "decided_by": "owner", "reason": "", "grant_id": "g1",
            "audit_seq": 7,
        },
    ),
    (
        RequestState(REQUEST, DecisionStatus.PENDING, START_MS),
        {
            "request": wire(REQUEST), "status": "pending", "received_at": START_MS,
            "decided_at": None, "decided_by": "", "reason": "", "grant_id": None,
            "audit_seq": None,
        },
    ),
    (
        GrantState(GRANT),
        {
            "grant": wire(GRANT), "revoked_at": None, "notice": None, "notice_delivered": None,
            "receipts": [], "audit_seq": None,
        },
    ),
    (
        GrantState(GRANT, START_MS + 2, NOTICE, True, ["r1", "r2"]),
        {
            "grant": wire(GRANT), "revoked_at": START_MS + 2, "notice": wire(NOTICE),
            "notice_delivered": True, "receipts": ["r1", "r2"], "audit_seq": None,
        },
    ),
    (
        ErasureRecord(ERASE, deadline=START_MS + 9),
        {"request": wire(ERASE), "deadline": START_MS + 9, "receipt": None, "confirmed_at": None},
    ),
    (
        ErasureRecord(ERASE, START_MS + 9, ERASED, START_MS + 5),
        {
            "request": wire(ERASE), "deadline": START_MS + 9, "receipt": wire(ERASED),
            "confirmed_at": START_MS + 5,
        },
    ),
    (
        ContactHistory({"survey": [START_MS]}, {"cap_exceeded": 2}, [{"at": START_MS, "c": "x"}]),
        {
            "accepted": {"survey": [START_MS]}, "refused": {"cap_exceeded": 2},
            "recent_refusals": [{"at": START_MS, "c": "x"}],
        },
    ),
    (
        InboxMessage("m1", BIZ.peer_id, "g1", "survey", None, "Hi", "Body", START_MS),
        {
            "message_id": "m1", "requester": BIZ.peer_id, "grant_id": "g1",
            "category": "survey", "mailing_id": None, "subject": "Hi", "body": "Body",
            "received_at": START_MS, "channels": ["inbox"], "muted": False, "read_at": None,
        },
    ),
    (
        InboxMessage(
            "m2", BIZ.peer_id, "g1", "service", "ml", "S", "B", START_MS, ("inbox", "email"),
            True, START_MS + 1,
        ),
        {
            "message_id": "m2", "requester": BIZ.peer_id, "grant_id": "g1",
            "category": "service", "mailing_id": "ml", "subject": "S", "body": "B",
            "received_at": START_MS, "channels": ["inbox", "email"], "muted": True,
            "read_at": START_MS + 1,
        },
    ),
    (
        OutboxItem(BIZ.peer_id, 7, "d1", "k1", "update", START_MS, None, b"\x00\xffsealed", 2),
        {
            "peer": BIZ.peer_id, "seq": 7, "delivery_id": "d1", "key": "k1", "kind": "update",
            "created_at": START_MS, "expires_at": None, "sealed": "00ff7365616c6564",
            "attempts": 2,
        },
    ),
    (
        KdfParams(salt=bytes(range(16)), memory_cost=19456, iterations=2, lanes=1),
        {
            "alg": "argon2id", "salt": bytes(range(16)).hex(), "memory_cost": 19456,
            "iterations": 2, "lanes": 1,
        },
    ),
    (
        AuditEntry(3, START_MS, "grant.revoke", {"grant": "g1", "n": [1, 2]}, b"\x01" * 32,
                   b"\x02" * 32, b"\x03" * 64),
        AUDIT_JSON,
    ),
    (
        RequestRecord(REQUEST, "/ip4/127.0.0.1/tcp/1", START_MS),
        {
            "request": wire(REQUEST), "vault_addr": "/ip4/127.0.0.1/tcp/1",
            "created_at": START_MS, "status": "pending", "grant_id": None, "reason": "",
        },
    ),
    (
        GrantRecord(GRANT, REQUEST, "/ip4/127.0.0.1/tcp/1", START_MS),
        {
            "grant": wire(GRANT), "request": wire(REQUEST), "vault_addr": "/ip4/127.0.0.1/tcp/1",
            "received_at": START_MS, "ended_at": None, "revoked_at": None, "deleted_at": None,
            "deletion_reason": None, "receipt": None, "receipt_acked": False,
        },
    ),
    (
        GrantRecord(
            GRANT, REQUEST, "/ip4/127.0.0.1/tcp/1", START_MS, START_MS + 1, START_MS + 2,
            START_MS + 3, DeletionReason.REVOKED, RECEIPT, True,
        ),
        {
            "grant": wire(GRANT), "request": wire(REQUEST), "vault_addr": "/ip4/127.0.0.1/tcp/1",
            "received_at": START_MS, "ended_at": START_MS + 1, "revoked_at": START_MS + 2,
            "deleted_at": START_MS + 3, "deletion_reason": "revoked", "receipt": wire(RECEIPT),
            "receipt_acked": True,
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), CASES, ids=lambda x: type(x).__name__)
def test_stored_bytes_are_unchanged_and_load(record: Any, expected: dict[str, Any]) -> None:
    stored = canonical_dumps(record.to_json())
    assert stored == canonical_dumps(expected)
    assert type(record).from_json(canonical_loads(stored)) == record


ONE_WAY: list[tuple[Any, dict[str, Any]]] = [
    (
        ProfileField("contact.email", "a@example.org", 2, START_MS),
        {"path": "contact.email", "value": "a@example.org", "version": 2, "updated_at": START_MS},
    ),
    (
        VerifyReport(checked=5, head_seq=5),
        {"ok": True, "checked": 5, "head_seq": 5, "first_bad": None, "reason": None, "skipped": 0},
    ),
    (
        VerifyReport(checked=5, head_seq=5, first_bad=3, reason="bad hash"),
        {
            "ok": False,
            "checked": 5,
            "head_seq": 5,
            "first_bad": 3,
            "reason": "bad hash",
            "skipped": 0,
        },
    ),
    (
        MailingStats("ml", delivered=3, read=2),
        {"mailing_id": "ml", "delivered": 3, "read": 2, "yield_pct": 67},
    ),
    (
        PendingDeal("d1", "i1", "phone", BIZ.peer_id, {"price": 1500}, 1500, created_at=START_MS),
        {
            "deal_id": "d1", "intent_id": "i1", "category": "phone", "business": BIZ.peer_id,
            "bid": {"price": 1500}, "value_cents": 1500, "status": "awaiting confirmation",
            "created_at": START_MS,
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), ONE_WAY, ids=lambda x: type(x).__name__)
def test_json_views_are_unchanged(record: Any, expected: dict[str, Any]) -> None:
    assert record.to_json() == expected


def test_kdf_params_refuse_another_algorithm_and_weak_settings() -> None:
    good = KdfParams(salt=bytes(range(16))).to_json()
    for bad in ({**good, "alg": "scrypt"}, {**good, "iterations": 1}, {**good, "salt": "zz"}, {}):
        with pytest.raises(VaultError):
            KdfParams.from_json(bad)


def test_a_malformed_audit_entry_is_an_audit_error() -> None:
    entry = AUDIT_JSON
    for bad in ({**entry, "details": [1]}, {**entry, "hash": "not hex"}, {"seq": 1}):
        with pytest.raises(AuditError):
            AuditEntry.from_json(bad)


def test_records_written_before_the_audit_trail_still_load() -> None:
    """Grant and request rows from before ``audit_seq`` existed (D20) load with none."""
    old_request = {k: v for k, v in CASES[1][1].items() if k != "audit_seq"}
    old_grant = {k: v for k, v in CASES[2][1].items() if k != "audit_seq"}
    assert RequestState.from_json(old_request).audit_seq is None
    assert GrantState.from_json(old_grant).audit_seq is None
