"""Consent receipts: signed, exportable records of a grant, a revocation, an erasure or a deletion.

The vault issues and signs every :class:`ConsentReceipt` (it is the owner's
record). A receipt for a revocation or an erasure embeds the vault-signed
:class:`~protocol.messages.RevokeNotice`; a receipt for a deletion embeds the
requester-signed :class:`~protocol.messages.DeletionReceipt`, which stays
verifiable on its own: it is the owner's *proof* that the business deleted.

:func:`to_kantara` exports a receipt in the shape of the Kantara Initiative
Consent Receipt Specification v1.1 (``KI-CR-v1.1.0``), with purposes given as
W3C DPV IRIs. kluis-specific facts (receipt kind, grant id, offer, signature,
evidence) go under one extension key, ``kluis``.

Mapping to ISO/IEC TS 27560:2023 (consent record information structure), for
tools that speak it rather than Kantara:

=====================================  ===========================================
ISO/IEC TS 27560 element               kluis receipt
=====================================  ===========================================
record identifier                      ``receipt_id``
schema / version                       ``version`` (``KI-CR-v1.1.0``) + ``kluis``
PII principal identifier               ``vault`` (the owner's peer id)
PII controller                         ``requester`` (the business's peer id)
consent event: type                    ``kind`` (grant = given; revocation and
                                       erasure = withdrawn; deletion = terminated)
consent event: timestamp               ``issued_at`` / ``ended_at``
purpose (+ purpose category)           ``purpose.text`` + DPV IRI of ``purpose.code``
PII categories                         ``scope.fields`` (field patterns)
processing / actions                   ``scope.actions``
duration, storage period               ``expires_at``, ``retention_days``
legal basis                            consent (explicit, signed by the owner's node)
notice / policy                        ``policy_url``
jurisdiction                           ``jurisdiction``
record integrity (signature)           ``sig`` (Ed25519 by the vault's peer key)
=====================================  ===========================================
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ._exceptions import LocalProtocolError, SignatureError
from .clock import ISO, format_ms
from .ids import ACCESS
from .messages import DeletionReceipt, Grant, Offer, RevokeNotice, Signed, sign, verify
from .purposes import Purpose
from .scopes import Scope
from .signing import Identity, PublicIdentity
from .wire import Days, Id, PeerId, ShortText, TimestampMs, new_id

__all__ = [
    "KANTARA_VERSION",
    "ConsentReceipt",
    "ReceiptKind",
    "make_receipt",
    "to_kantara",
    "verify_receipt",
]

KANTARA_VERSION = "KI-CR-v1.1.0"


class ReceiptKind(StrEnum):
    GRANT = "grant"
    REVOCATION = "revocation"
    ERASURE = "erasure"
    DELETION = "deletion"


_Evidence = Annotated[RevokeNotice | DeletionReceipt, Field(discriminator="type")]


class ConsentReceipt(Signed):
    """A vault-signed consent record. Build one with :func:`make_receipt`."""

    signer_field: ClassVar[str] = "vault"

    type: Literal["consent_receipt"] = "consent_receipt"
    receipt_id: Id
    kind: ReceiptKind
    issued_at: TimestampMs
    vault: PeerId
    requester: PeerId
    grant_id: Id
    scope: Scope
    purpose: Purpose
    granted_at: TimestampMs
    expires_at: TimestampMs
    retention_days: Days
    offer: Offer
    ended_at: TimestampMs | None = None
    evidence: _Evidence | None = None
    jurisdiction: ShortText = ""
    policy_url: ShortText = ""

    @model_validator(mode="after")
    def _evidence_matches_kind(self) -> ConsentReceipt:
        ev = self.evidence
        if self.kind is ReceiptKind.GRANT:
            ok = ev is None
        elif self.kind is ReceiptKind.DELETION:
            ok = isinstance(ev, DeletionReceipt)
        else:
            ok = isinstance(ev, RevokeNotice) and ev.erase == (self.kind is ReceiptKind.ERASURE)
        if not ok:
            raise ValueError("evidence does not match the receipt kind")
        if ev is not None and (
            ev.grant_id != self.grant_id or ev.vault != self.vault or ev.requester != self.requester
        ):
            raise ValueError("evidence is about another grant")
        return self


def make_receipt(
    grant: Grant,
    vault: Identity,
    *,
    now_ms: int,
    evidence: RevokeNotice | DeletionReceipt | None = None,
    receipt_id: str | None = None,
    jurisdiction: str = "",
    policy_url: str = "",
) -> ConsentReceipt:
    """The vault's signed receipt for ``grant``.

    The kind follows from ``evidence``: none → ``grant``; a :class:`RevokeNotice`
    → ``revocation`` (or ``erasure`` if it asks to erase); a
    :class:`DeletionReceipt` → ``deletion``. Evidence must be about this grant.
    """
    if grant.vault != vault.peer_id:
        raise LocalProtocolError("this grant was issued by another vault")
    ended_at: int | None = None
    if evidence is None:
        kind = ReceiptKind.GRANT
    elif isinstance(evidence, RevokeNotice):
        kind = ReceiptKind.ERASURE if evidence.erase else ReceiptKind.REVOCATION
        ended_at = evidence.revoked_at
    else:
        kind = ReceiptKind.DELETION
        ended_at = evidence.deleted_at
    try:
        receipt = ConsentReceipt(
            receipt_id=receipt_id or new_id(),
            kind=kind,
            issued_at=now_ms,
            vault=grant.vault,
            requester=grant.requester,
            grant_id=grant.grant_id,
            scope=grant.scope,
            purpose=grant.purpose,
            granted_at=grant.issued_at,
            expires_at=grant.expires_at,
            retention_days=grant.retention_days,
            offer=grant.offer,
            ended_at=ended_at,
            evidence=evidence,
            jurisdiction=jurisdiction,
            policy_url=policy_url,
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise LocalProtocolError("evidence does not belong to this grant") from exc
    return sign(receipt, vault)


def verify_receipt(receipt: ConsentReceipt, vault_peer_id: str | None = None) -> None:
    """Check the vault's signature and the evidence's own signature.

    Raises :class:`~protocol.SignatureError` if either does not verify.
    """
    verify(receipt, vault_peer_id)
    if receipt.evidence is not None:
        verify(receipt.evidence)
        if receipt.evidence.grant_id != receipt.grant_id:  # pragma: no cover - model-enforced
            raise SignatureError("signature does not verify")


def _termination(receipt: ConsentReceipt) -> str:
    keep = f"the requester deletes the data within {receipt.retention_days} days after access ends"
    ended = format_ms(receipt.ended_at, ISO)
    if receipt.kind is ReceiptKind.GRANT:
        expires = format_ms(receipt.expires_at, ISO)
        return f"Access ends at {expires} or when the owner revokes it; {keep}."
    if receipt.kind is ReceiptKind.REVOCATION:
        return f"Revoked by the owner at {ended}; {keep}."
    if receipt.kind is ReceiptKind.ERASURE:
        return f"Revoked by the owner at {ended} with a request to erase all data now."
    destroyed = isinstance(receipt.evidence, DeletionReceipt) and receipt.evidence.key_destroyed
    suffix = "; the key sealing it was destroyed" if destroyed else ""
    return f"The requester confirmed deleting the data at {ended}{suffix}."


def to_kantara(receipt: ConsentReceipt) -> dict[str, Any]:
    """Export ``receipt`` in the Kantara Consent Receipt v1.1 shape (a JSON-ready dict)."""
    code = receipt.purpose.code
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": receipt.jurisdiction,
        "consentTimestamp": receipt.issued_at // 1000,
        "collectionMethod": f"kluis peer-to-peer access protocol ({ACCESS})",
        "consentReceiptID": receipt.receipt_id,
        "publicKey": PublicIdentity.from_peer_id(receipt.vault).public_bytes.hex(),
        "language": "en",
        "piiPrincipalId": receipt.vault,
        "piiControllers": [
            {
                "piiController": receipt.requester,
                "onBehalf": False,
                "contact": "",
                "address": "",
                "email": "",
                "phone": "",
                "piiControllerUrl": "",
            }
        ],
        "policyUrl": receipt.policy_url,
        "services": [
            {
                "service": f"kluis grant {receipt.grant_id}",
                "purposes": [
                    {
                        "purpose": receipt.purpose.text or code.label,
                        "purposeCategory": [code.iri],
                        "consentType": "EXPLICIT",
                        "piiCategory": list(receipt.scope.fields),
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
        "kluis": {
            "kind": receipt.kind.value,
            "grantId": receipt.grant_id,
            "actions": [a.value for a in receipt.scope.actions],
            "grantedAt": receipt.granted_at,
            "expiresAt": receipt.expires_at,
            "endedAt": receipt.ended_at,
            "retentionDays": receipt.retention_days,
            "offer": receipt.offer.model_dump(mode="json"),
            "evidence": None
            if receipt.evidence is None
            else receipt.evidence.model_dump(mode="json"),
            "signature": receipt.sig,
        },
    }
