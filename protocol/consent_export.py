"""Consent receipts for other tools: Kantara CR v1.1 and ISO/IEC TS 27560 (DPV JSON-LD), signed.

A :class:`~protocol.receipts.ConsentReceipt` is kluis's own signed record. This
module renders it in two public shapes, field by field, and signs each
rendering so that it stays verifiable on its own:

* :func:`to_kantara`: the Kantara Initiative Consent Receipt Specification
  v1.1 (``KI-CR-v1.1.0``).
* :func:`to_iso27560`: a consent record in the structure of ISO/IEC TS
  27560:2023, as JSON-LD in the W3C Data Privacy Vocabulary (DPV), following
  the DPVCG guide "Consent Records and Receipts as per ISO/IEC TS 27560:2023
  using DPV" (``dpv:ConsentRecord``, ``dpv:hasConsentStatus``, ...).

**What we know, and what we mark missing.** The data controller's fields
(name, contact, address, e-mail, phone, policy URL, jurisdiction) come from
the business's signed :class:`~protocol.business.BusinessProfile` that its
request carried. Kantara requires several of them; one the business did not
give is written as ``""`` (the type Kantara asks for) *and* listed by its
JSON path under ``kluis.missing``, so a reader can tell "empty" from "unknown".

**Withdrawal.** Kantara v1.1 has no field for the state of consent. A receipt
for a revocation, an erasure or a deletion therefore says so where a Kantara
reader looks: ``consentType`` is ``WITHDRAWN`` (``EXPIRED`` when a deletion
followed the end of retention) instead of ``EXPLICIT``, ``consentStatus`` (a
top-level field from the later consent-record drafts) names the DPV state, and
``termination`` says when and how consent ended. The ISO rendering uses
``dpv:hasConsentStatus`` (``dpv:ConsentGiven``, ``dpv:ConsentWithdrawn``,
``dpv:ConsentExpired``).

**PII categories.** ``piiCategory`` holds W3C DPV personal-data categories
(``https://w3id.org/dpv/pd#EmailAddress``...), derived from the field paths by
:func:`pii_categories`; the paths themselves stay under ``kluis.fields``.

**Signatures.** Each rendering carries a detached Ed25519 signature by the
vault under the key ``kluisSignature``: ``{"alg": "Ed25519", "signer": <vault
peer id>, "value": <hex>}`` over the canonical JSON (:mod:`protocol.canonical`)
of the object *without* that key. :func:`verify_export` checks it, and the
embedded signed kluis receipt (``kluis.receipt``) is checked as well, so
anyone with the file and no kluis node can verify it.
"""

from __future__ import annotations

from typing import Any

from ._exceptions import SignatureError
from .canonical import canonical_dumps
from .clock import ISO, format_ms
from .ids import ACCESS
from .messages import DeletionReason, DeletionReceipt
from .receipts import ConsentReceipt, ReceiptKind, verify_receipt
from .signing import Identity, PublicIdentity

__all__ = [
    "DPV_27560_RECORD",
    "EXPORT_SIGNATURE",
    "KANTARA_VERSION",
    "consent_status",
    "pii_categories",
    "sign_export",
    "to_iso27560",
    "to_kantara",
    "verify_export",
]

KANTARA_VERSION = "KI-CR-v1.1.0"
#: The DPVCG schema a 27560 record conforms to.
DPV_27560_RECORD = "https://w3id.org/dpv/schema/dpv-27560#record"
#: The key of the detached signature in an exported object.
EXPORT_SIGNATURE = "kluisSignature"

PD = "https://w3id.org/dpv/pd#"
DPV = "https://w3id.org/dpv#"

#: Field path (or the first segments of one) → DPV personal-data category. The
#: longest matching prefix wins; a path that matches none is plain personal data.
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("contact.email", "EmailAddress"),
    ("contact.phone", "TelephoneNumber"),
    ("contact", "Contact"),
    ("name", "Name"),
    ("address", "PhysicalAddress"),
    ("birth_date", "BirthDate"),
    ("language", "Language"),
    ("interests", "Interest"),
    ("preferences", "Preference"),
)


def pii_categories(patterns: tuple[str, ...] | list[str]) -> list[str]:
    """DPV personal-data category IRIs of field patterns, sorted and without repeats."""
    out: set[str] = set()
    for pattern in patterns:
        path = pattern.removesuffix(".*")
        best = ""
        term = ""
        for prefix, category in _CATEGORIES:
            if (path == prefix or path.startswith(prefix + ".")) and len(prefix) > len(best):
                best, term = prefix, category
        out.add(PD + term if term else DPV + "PersonalData")
    return sorted(out)


def consent_status(receipt: ConsentReceipt) -> str:
    """The DPV consent state a receipt records: ``ConsentGiven``, ``ConsentWithdrawn``, ..."""
    if receipt.kind is ReceiptKind.GRANT:
        return "ConsentGiven"
    if (
        isinstance(receipt.evidence, DeletionReceipt)
        and receipt.evidence.reason is DeletionReason.RETENTION_EXPIRED
    ):
        return "ConsentExpired"
    return "ConsentWithdrawn"


def _termination(receipt: ConsentReceipt) -> str:
    keep = f"the requester deletes the data within {receipt.retention_days} days after access ends"
    ended = format_ms(receipt.ended_at, ISO) if receipt.ended_at is not None else ""
    if receipt.kind is ReceiptKind.GRANT:
        expires = format_ms(receipt.expires_at, ISO)
        return f"Access ends at {expires} or when the owner revokes it; {keep}."
    if receipt.kind is ReceiptKind.REVOCATION:
        return f"Consent withdrawn: revoked by the owner at {ended}; {keep}."
    if receipt.kind is ReceiptKind.ERASURE:
        return f"Consent withdrawn: revoked by the owner at {ended} with a request to erase now."
    destroyed = isinstance(receipt.evidence, DeletionReceipt) and receipt.evidence.key_destroyed
    suffix = "; the key sealing it was destroyed" if destroyed else ""
    return f"Consent ended; the requester confirmed deleting the data at {ended}{suffix}."


def _controller(receipt: ConsentReceipt, missing: list[str]) -> dict[str, Any]:
    profile = receipt.controller
    base = "piiControllers[0]."

    def need(name: str, value: str) -> str:
        if not value:
            missing.append(base + name)
        return value

    if profile is None:
        missing.append(base + "piiController (a name; the business sent no profile)")
        for name in ("contact", "address", "email", "phone"):
            missing.append(base + name)
        return {
            "piiController": receipt.requester,
            "onBehalf": False,
            "contact": "",
            "address": {},
            "email": "",
            "phone": "",
            "piiControllerUrl": "",
        }
    addr = profile.address
    address = {
        key: value
        for key, value in (
            ("streetAddress", addr.street),
            ("postalCode", addr.postal_code),
            ("addressLocality", addr.locality),
            ("addressCountry", addr.country),
        )
        if value
    }
    if not address:
        missing.append(base + "address")
    return {
        "piiController": profile.legal_name,
        "onBehalf": False,
        "contact": profile.contact_name or profile.display_name,
        "address": address,
        "email": profile.contact_email,
        "phone": need("phone", profile.phone),
        "piiControllerUrl": profile.website,
    }


def to_kantara(receipt: ConsentReceipt, signer: Identity | None = None) -> dict[str, Any]:
    """``receipt`` in the Kantara Consent Receipt v1.1 shape (JSON-ready).

    With ``signer`` (the vault's identity, which signed the receipt) the result
    carries the detached signature :data:`EXPORT_SIGNATURE`.
    """
    missing: list[str] = []
    code = receipt.purpose.code
    controller = _controller(receipt, missing)
    if not receipt.jurisdiction:
        missing.append("jurisdiction")
    if not receipt.policy_url:
        missing.append("policyUrl")
    status = consent_status(receipt)
    consent_type = {"ConsentGiven": "EXPLICIT", "ConsentExpired": "EXPIRED"}.get(
        status, "WITHDRAWN"
    )
    doc: dict[str, Any] = {
        "version": KANTARA_VERSION,
        "jurisdiction": receipt.jurisdiction,
        "consentTimestamp": receipt.issued_at // 1000,
        "collectionMethod": f"kluis peer-to-peer access protocol ({ACCESS})",
        "consentReceiptID": receipt.receipt_id,
        "publicKey": PublicIdentity.from_peer_id(receipt.vault).public_bytes.hex(),
        "language": "en",
        "piiPrincipalId": receipt.vault,
        "piiControllers": [controller],
        "policyUrl": receipt.policy_url,
        "services": [
            {
                "service": f"kluis grant {receipt.grant_id}",
                "purposes": [
                    {
                        "purpose": receipt.purpose.text or code.label,
                        "purposeCategory": [code.iri],
                        "consentType": consent_type,
                        "piiCategory": pii_categories(receipt.scope.fields),
                        "primaryPurpose": True,
                        "termination": _termination(receipt),
                        "thirdPartyDisclosure": False,
                        "thirdPartyName": "",
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        "consentStatus": DPV + status,
        "kluis": {
            "kind": receipt.kind.value,
            "grantId": receipt.grant_id,
            "fields": list(receipt.scope.fields),
            "actions": [a.value for a in receipt.scope.actions],
            "grantedAt": receipt.granted_at,
            "expiresAt": receipt.expires_at,
            "endedAt": receipt.ended_at,
            "retentionDays": receipt.retention_days,
            "offer": receipt.offer.model_dump(mode="json"),
            "missing": missing,
            "receipt": receipt.model_dump(mode="json"),
        },
    }
    return sign_export(doc, signer) if signer is not None else doc


def _duration(days: int) -> str:
    return f"P{days}D"


def to_iso27560(receipt: ConsentReceipt, signer: Identity | None = None) -> dict[str, Any]:
    """``receipt`` as an ISO/IEC TS 27560 consent record in DPV JSON-LD (JSON-ready).

    Field by field (27560 element → DPV term): record identifier →
    ``dct:identifier``; schema → ``dct:conformsTo``; creation time →
    ``dct:created``; PII principal → ``dpv:hasDataSubject``; controller →
    ``dpv:hasDataController`` (name, contact, address, policy from the
    business's profile); jurisdiction → ``dpv:hasJurisdiction``; legal basis →
    ``dpv:hasLegalBasis`` (explicitly expressed consent); purpose →
    ``dpv:hasPurpose``; PII → ``dpv:hasPersonalData`` (DPV categories);
    processing → ``dpv:hasProcessing``; duration of consent →
    ``dpv:hasExpiry``; storage period → ``dpv:hasStorageCondition``
    (``dpv:StorageDuration``); state of consent → ``dpv:hasConsentStatus``;
    consent events → ``dpv:hasEvent`` (given, and withdrawn or ended). Facts
    the business did not give are listed under ``kluis:missing``.
    """
    missing: list[str] = []
    profile = receipt.controller
    controller: dict[str, Any] = {"@id": f"urn:kluis:peer:{receipt.requester}"}
    controller["@type"] = "dpv:DataController"
    if profile is not None:
        controller["foaf:name"] = profile.legal_name
        controller["dpv:hasContact"] = {"schema:email": profile.contact_email}
        if profile.phone:
            controller["dpv:hasContact"]["schema:telephone"] = profile.phone
        if profile.website:
            controller["foaf:homepage"] = profile.website
        addr = profile.address
        if not addr.empty:
            controller["schema:address"] = {
                "@type": "schema:PostalAddress",
                **{
                    k: v
                    for k, v in (
                        ("schema:streetAddress", addr.street),
                        ("schema:postalCode", addr.postal_code),
                        ("schema:addressLocality", addr.locality),
                        ("schema:addressCountry", addr.country),
                    )
                    if v
                },
            }
    else:
        missing.append("dpv:hasDataController (the business sent no profile)")
    if not receipt.jurisdiction:
        missing.append("dpv:hasJurisdiction")
    if not receipt.policy_url:
        missing.append("dpv:hasNotice")
    events: list[dict[str, Any]] = [
        {"@type": "dpv:ConsentGiven", "dct:created": format_ms(receipt.granted_at, ISO)}
    ]
    status = consent_status(receipt)
    if receipt.ended_at is not None:
        events.append({"@type": "dpv:" + status, "dct:created": format_ms(receipt.ended_at, ISO)})
    record: dict[str, Any] = {
        "@context": {
            "dpv": DPV,
            "pd": PD,
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "schema": "https://schema.org/",
            "loc": "https://w3id.org/dpv/loc#",
            "kluis": "urn:kluis:",
        },
        "@id": f"urn:kluis:receipt:{receipt.receipt_id}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": receipt.receipt_id,
        "dct:conformsTo": DPV_27560_RECORD,
        "dct:created": format_ms(receipt.issued_at, ISO),
        "dpv:hasDataSubject": {"@id": f"urn:kluis:peer:{receipt.vault}", "@type": "dpv:Consumer"},
        "dpv:hasDataController": controller,
        "dpv:hasJurisdiction": [f"loc:{receipt.jurisdiction}"] if receipt.jurisdiction else [],
        "dpv:hasLegalBasis": "dpv:ExplicitlyExpressedConsent",
        "dpv:hasNotice": receipt.policy_url,
        "dpv:hasPurpose": {
            "@type": receipt.purpose.code.value,
            "dct:description": receipt.purpose.text or receipt.purpose.code.label,
        },
        "dpv:hasPersonalData": [
            "pd:" + iri.removeprefix(PD) if iri.startswith(PD) else "dpv:PersonalData"
            for iri in pii_categories(receipt.scope.fields)
        ],
        "dpv:hasProcessing": [f"kluis:action:{a.value}" for a in receipt.scope.actions],
        "dpv:hasExpiry": format_ms(receipt.expires_at, ISO),
        "dpv:hasStorageCondition": {
            "@type": "dpv:StorageDuration",
            "dpv:hasDuration": _duration(receipt.retention_days),
        },
        "dpv:hasConsentStatus": "dpv:" + status,
        "dpv:hasEvent": events,
        "kluis:fields": list(receipt.scope.fields),
        "kluis:missing": missing,
        "kluis:receipt": receipt.model_dump(mode="json"),
    }
    return sign_export(record, signer) if signer is not None else record


def sign_export(doc: dict[str, Any], signer: Identity) -> dict[str, Any]:
    """``doc`` with a detached Ed25519 signature by ``signer`` under :data:`EXPORT_SIGNATURE`."""
    body = {k: v for k, v in doc.items() if k != EXPORT_SIGNATURE}
    value = signer.sign(canonical_dumps(body)).hex()
    return {**body, EXPORT_SIGNATURE: {"alg": "Ed25519", "signer": signer.peer_id, "value": value}}


def verify_export(doc: dict[str, Any], signer: str | None = None) -> ConsentReceipt:
    """Check an exported receipt: its detached signature and the kluis receipt it embeds.

    The detached signature must be by the vault that signed the embedded
    receipt (and by ``signer``, if given). Returns the embedded receipt.
    Raises :class:`~protocol.SignatureError` on any mismatch.
    """
    try:
        sig = doc[EXPORT_SIGNATURE]
        if not isinstance(sig, dict) or sig.get("alg") != "Ed25519":
            raise SignatureError("signature does not verify")
        who = str(sig["signer"])
        raw = bytes.fromhex(str(sig["value"]))
        inner = doc["kluis"]["receipt"] if "kluis" in doc else doc["kluis:receipt"]
        receipt = ConsentReceipt.model_validate(inner)
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError("signature does not verify") from exc
    if signer is not None and who != signer:
        raise SignatureError("signature does not verify")
    body = {k: v for k, v in doc.items() if k != EXPORT_SIGNATURE}
    PublicIdentity.from_peer_id(who).verify(raw, canonical_dumps(body))
    verify_receipt(receipt, who)
    return receipt
