"""Kantara v1.1 and ISO 27560 (DPV) renderings: controller fields, withdrawal, signatures."""

from __future__ import annotations

import copy
import json

import pytest

from protocol import SignatureError, make_receipt, to_kantara
from protocol.consent_export import (
    EXPORT_SIGNATURE,
    pii_categories,
    to_iso27560,
    verify_export,
)
from protocol.messages import DeletionReason

from .business_helpers import profile
from .strategies import IDENTITIES
from .test_receipts import NOW, deletion, grant, notice

REQUESTER, VAULT, OTHER = IDENTITIES


def test_kantara_takes_the_controller_from_the_business_profile() -> None:
    receipt = make_receipt(grant(), VAULT, now_ms=NOW, controller=profile(REQUESTER))
    assert receipt.jurisdiction == "NL" and receipt.policy_url == "https://despaak.nl/privacy"
    doc = to_kantara(receipt, VAULT)
    [ctl] = doc["piiControllers"]
    assert ctl == {
        "piiController": "De Spaak Fietsen B.V.",
        "onBehalf": False,
        "contact": "Privacy desk",
        "address": {
            "streetAddress": "Spaakstraat 1",
            "postalCode": "1011 AB",
            "addressLocality": "Amsterdam",
            "addressCountry": "NL",
        },
        "email": "privacy@despaak.nl",
        "phone": "+31201234567",
        "piiControllerUrl": "https://despaak.nl",
    }
    assert doc["jurisdiction"] == "NL"
    assert doc["policyUrl"] == "https://despaak.nl/privacy"
    assert doc["kluis"]["missing"] == []
    verify_export(doc, VAULT.peer_id)


def test_what_is_missing_is_said_explicitly() -> None:
    bare = make_receipt(grant(), VAULT, now_ms=NOW)
    missing = to_kantara(bare)["kluis"]["missing"]
    assert "jurisdiction" in missing and "policyUrl" in missing
    assert "piiControllers[0].email" in missing
    partial = make_receipt(grant(), VAULT, now_ms=NOW, controller=profile(REQUESTER, phone=""))
    assert to_kantara(partial)["kluis"]["missing"] == ["piiControllers[0].phone"]


@pytest.mark.parametrize(
    ("evidence", "kantara_type", "status"),
    [
        (None, "EXPLICIT", "ConsentGiven"),
        (notice(), "WITHDRAWN", "ConsentWithdrawn"),
        (notice(erase=True), "WITHDRAWN", "ConsentWithdrawn"),
        (deletion(), "WITHDRAWN", "ConsentWithdrawn"),
    ],
)
def test_withdrawal_is_visible_outside_the_extension(evidence, kantara_type, status) -> None:  # type: ignore[no-untyped-def]
    receipt = make_receipt(grant(), VAULT, now_ms=NOW + 9000, evidence=evidence)
    doc = to_kantara(receipt, VAULT)
    [purpose] = doc["services"][0]["purposes"]
    assert purpose["consentType"] == kantara_type
    assert doc["consentStatus"] == "https://w3id.org/dpv#" + status
    iso = to_iso27560(receipt, VAULT)
    assert iso["dpv:hasConsentStatus"] == "dpv:" + status
    assert [e["@type"] for e in iso["dpv:hasEvent"]][-1] == "dpv:" + status


def test_retention_expiry_is_expired_not_withdrawn() -> None:
    ended = deletion().model_copy(update={"reason": DeletionReason.RETENTION_EXPIRED})
    from protocol import sign

    receipt = make_receipt(grant(), VAULT, now_ms=NOW, evidence=sign(ended, REQUESTER))
    assert to_kantara(receipt)["services"][0]["purposes"][0]["consentType"] == "EXPIRED"


def test_iso27560_record_field_by_field() -> None:
    receipt = make_receipt(grant(), VAULT, now_ms=NOW, controller=profile(REQUESTER))
    rec = to_iso27560(receipt, VAULT)
    json.dumps(rec)
    assert rec["@type"] == "dpv:ConsentRecord"
    assert rec["dct:identifier"] == receipt.receipt_id
    assert rec["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#record"
    assert rec["dpv:hasDataSubject"]["@id"].endswith(VAULT.peer_id)
    assert rec["dpv:hasDataController"]["foaf:name"] == "De Spaak Fietsen B.V."
    assert rec["dpv:hasJurisdiction"] == ["loc:NL"]
    assert rec["dpv:hasPurpose"]["@type"] == "dpv:DeliveryOfGoods"
    assert rec["dpv:hasPersonalData"] == ["pd:EmailAddress", "pd:PhysicalAddress"]
    assert rec["dpv:hasStorageCondition"]["dpv:hasDuration"] == "P14D"
    assert rec["kluis:missing"] == []
    verify_export(rec, VAULT.peer_id)


@pytest.mark.parametrize("render", [to_kantara, to_iso27560])
def test_a_tampered_export_fails(render) -> None:  # type: ignore[no-untyped-def]
    receipt = make_receipt(grant(), VAULT, now_ms=NOW, controller=profile(REQUESTER))
    doc = render(receipt, VAULT)
    verify_export(doc)
    with pytest.raises(SignatureError):
        verify_export(doc, OTHER.peer_id)
    for tamper in (
        lambda d: d.__setitem__("policyUrl" if "policyUrl" in d else "dpv:hasNotice", "x"),
        lambda d: d.pop(EXPORT_SIGNATURE),
        lambda d: d[EXPORT_SIGNATURE].__setitem__("signer", OTHER.peer_id),
    ):
        bad = copy.deepcopy(doc)
        tamper(bad)
        with pytest.raises(SignatureError):
            verify_export(bad)
    # a re-signed export around a forged inner receipt fails too
    forged = copy.deepcopy(doc)
    inner = forged["kluis"]["receipt"] if "kluis" in forged else forged["kluis:receipt"]
    inner["retention_days"] = 0
    from protocol.consent_export import sign_export

    with pytest.raises(SignatureError):
        verify_export(sign_export(forged, VAULT))


def test_pii_categories() -> None:
    assert pii_categories(["contact.*"]) == ["https://w3id.org/dpv/pd#Contact"]
    assert pii_categories(["name.given", "name.family"]) == ["https://w3id.org/dpv/pd#Name"]
    assert pii_categories(["custom.shoe_size"]) == ["https://w3id.org/dpv#PersonalData"]
    assert pii_categories(["address.home.city"]) == ["https://w3id.org/dpv/pd#PhysicalAddress"]
