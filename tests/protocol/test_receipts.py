"""Consent receipts: signed by the vault, evidence verifiable, Kantara v1.1 export."""

from __future__ import annotations

import json

import pytest

from protocol import (
    ConsentReceipt,
    DeletionReason,
    DeletionReceipt,
    LocalProtocolError,
    Offer,
    Purpose,
    PurposeCode,
    ReceiptKind,
    RevokeNotice,
    Scope,
    SignatureError,
    canonical_dumps,
    make_receipt,
    sign,
    to_kantara,
    verify_receipt,
)
from protocol.grants import make_grant
from protocol.messages import AccessRequest

from .strategies import IDENTITIES

REQUESTER, VAULT, OTHER = IDENTITIES
NOW = 1_700_000_000_000

KANTARA_TOP = {
    "version",
    "jurisdiction",
    "consentTimestamp",
    "collectionMethod",
    "consentReceiptID",
    "publicKey",
    "piiPrincipalId",
    "piiControllers",
    "policyUrl",
    "services",
    "sensitive",
    "spiCat",
}
KANTARA_PURPOSE = {
    "purpose",
    "purposeCategory",
    "consentType",
    "piiCategory",
    "primaryPurpose",
    "termination",
    "thirdPartyDisclosure",
}


def grant():  # type: ignore[no-untyped-def]
    req = sign(
        AccessRequest(
            request_id="req1",
            requester=REQUESTER.peer_id,
            vault=VAULT.peer_id,
            scope=Scope.of(["address.*", "contact.email"], ["read"]),
            purpose=Purpose(code=PurposeCode.DELIVERY_OF_GOODS, text="ship orders"),
            duration_days=30,
            retention_days=14,
            offer=Offer(description="free shipping", value_cents=495),
            nonce="00" * 16,
            ts=NOW,
        ),
        REQUESTER,
    )
    return make_grant(req, VAULT, now_ms=NOW, grant_id="g1")


def notice(erase: bool = False) -> RevokeNotice:
    return sign(
        RevokeNotice(
            grant_id="g1",
            vault=VAULT.peer_id,
            requester=REQUESTER.peer_id,
            revoked_at=NOW + 1000,
            erase=erase,
        ),
        VAULT,
    )


def deletion() -> DeletionReceipt:
    return sign(
        DeletionReceipt(
            receipt_id="d1",
            grant_id="g1",
            requester=REQUESTER.peer_id,
            vault=VAULT.peer_id,
            reason=DeletionReason.ERASURE,
            deleted_fields=("address.*", "contact.email"),
            deleted_at=NOW + 5000,
            key_destroyed=True,
        ),
        REQUESTER,
    )


@pytest.mark.parametrize(
    ("evidence", "kind"),
    [
        (None, ReceiptKind.GRANT),
        (notice(), ReceiptKind.REVOCATION),
        (notice(erase=True), ReceiptKind.ERASURE),
        (deletion(), ReceiptKind.DELETION),
    ],
)
def test_receipts_of_every_kind(
    evidence: RevokeNotice | DeletionReceipt | None, kind: ReceiptKind
) -> None:
    receipt = make_receipt(grant(), VAULT, now_ms=NOW + 9000, evidence=evidence, jurisdiction="NL")
    assert receipt.kind is kind
    verify_receipt(receipt, VAULT.peer_id)
    back = ConsentReceipt.model_validate_json(
        canonical_dumps(receipt.model_dump(mode="json")), strict=True
    )
    assert back == receipt
    verify_receipt(back)

    doc = to_kantara(receipt)
    json.dumps(doc)  # JSON-ready
    assert KANTARA_TOP <= set(doc)
    assert doc["version"] == "KI-CR-v1.1.0"
    assert doc["consentTimestamp"] == (NOW + 9000) // 1000
    assert doc["piiPrincipalId"] == VAULT.peer_id
    assert doc["piiControllers"][0]["piiController"] == REQUESTER.peer_id  # no profile sent
    assert doc["publicKey"] == VAULT.public_bytes.hex()
    [service] = doc["services"]
    [purpose] = service["purposes"]
    assert KANTARA_PURPOSE <= set(purpose)
    assert purpose["purposeCategory"] == ["https://w3id.org/dpv#DeliveryOfGoods"]
    assert purpose["piiCategory"] == [
        "https://w3id.org/dpv/pd#EmailAddress",
        "https://w3id.org/dpv/pd#PhysicalAddress",
    ]
    assert doc["kluis"]["fields"] == ["address.*", "contact.email"]
    given = kind is ReceiptKind.GRANT
    assert purpose["consentType"] == ("EXPLICIT" if given else "WITHDRAWN")
    assert doc["consentStatus"].endswith("ConsentGiven" if given else "ConsentWithdrawn")
    assert doc["kluis"]["kind"] == kind.value
    assert doc["kluis"]["receipt"]["sig"] == receipt.sig


def test_tampered_receipt() -> None:
    receipt = make_receipt(grant(), VAULT, now_ms=NOW)
    with pytest.raises(SignatureError):
        verify_receipt(receipt.model_copy(update={"retention_days": 999}))
    with pytest.raises(SignatureError):
        verify_receipt(receipt, OTHER.peer_id)


def test_forged_evidence_is_caught() -> None:
    forged = deletion().model_copy(update={"key_destroyed": False})
    receipt = make_receipt(grant(), VAULT, now_ms=NOW, evidence=forged)
    with pytest.raises(SignatureError):
        verify_receipt(receipt)


def test_evidence_must_be_about_the_grant() -> None:
    other = deletion().model_copy(update={"grant_id": "g2"})
    with pytest.raises(LocalProtocolError):
        make_receipt(grant(), VAULT, now_ms=NOW, evidence=other)
    with pytest.raises(LocalProtocolError):
        make_receipt(grant(), OTHER, now_ms=NOW)


def test_every_purpose_has_a_dpv_iri() -> None:
    for code in PurposeCode:
        assert code.value.startswith("dpv:")
        assert code.iri == "https://w3id.org/dpv#" + code.value[4:]
        assert code.label
    assert len(PurposeCode) >= 12
