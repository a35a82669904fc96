"""The owner's consent receipts, derived from the grant book.

Every grant has a ``grant`` receipt; a revoked grant also has a ``revocation``
(or ``erasure``) receipt embedding the vault-signed notice; every deletion
receipt a business sent back gives a ``deletion`` receipt embedding the
business's own signature (the owner's proof that it deleted).

Receipts are *derived*, not stored: the receipt id is a hash of the grant id,
the kind and the evidence, ``issued_at`` is the time of the event, and Ed25519
signatures are deterministic. So a receipt downloaded twice is byte-identical,
and nothing new needs to be sealed at rest. Each receipt embeds, as its
controller, the signed business profile that the grant's request carried (the
business as it presented itself when the owner consented). Export is JSON, as
signed, or rendered and signed by :mod:`protocol.consent_export` (Kantara
Consent Receipt v1.1, ISO/IEC TS 27560 in DPV JSON-LD).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from protocol import DeletionReceipt, Identity, RevokeNotice
from protocol.business import BusinessProfile
from protocol.receipts import ConsentReceipt, make_receipt
from vault.services.grantbook import GrantBook, GrantState, NotFound

__all__ = ["ReceiptRef", "receipt_for", "receipts"]


@dataclass(frozen=True, slots=True)
class ReceiptRef:
    """One receipt, with the grant state it belongs to."""

    receipt: ConsentReceipt
    state: GrantState


def _rid(grant_id: str, kind: str, evidence: str) -> str:
    digest = hashlib.sha256(f"kluis-receipt-v1\x00{grant_id}\x00{kind}\x00{evidence}".encode())
    return digest.hexdigest()[:32]


def _controller(book: GrantBook, request_id: str) -> BusinessProfile | None:
    """The signed profile the grant's request carried: the controller at consent time."""
    try:
        return book.request(request_id).request.business
    except NotFound:
        return None


def _for_state(book: GrantBook, identity: Identity, state: GrantState) -> list[ConsentReceipt]:
    grant = state.grant
    first = _rid(grant.grant_id, "grant", "")
    controller = _controller(book, grant.request_id)
    out = [
        make_receipt(
            grant, identity, now_ms=grant.issued_at, receipt_id=first, controller=controller
        )
    ]
    notice: RevokeNotice | None = state.notice
    if notice is not None:
        kind = "erasure" if notice.erase else "revocation"
        out.append(
            make_receipt(
                grant,
                identity,
                now_ms=notice.revoked_at,
                evidence=notice,
                receipt_id=_rid(grant.grant_id, kind, ""),
                controller=controller,
            )
        )
    deletions: list[DeletionReceipt] = sorted(
        book.receipts(grant.grant_id), key=lambda r: (r.deleted_at, r.receipt_id)
    )
    for deletion in deletions:
        out.append(
            make_receipt(
                grant,
                identity,
                now_ms=deletion.deleted_at,
                evidence=deletion,
                receipt_id=_rid(grant.grant_id, "deletion", deletion.receipt_id),
                controller=controller,
            )
        )
    return out


def receipts(book: GrantBook, identity: Identity, grant_id: str | None = None) -> list[ReceiptRef]:
    """Every consent receipt (of one grant if ``grant_id``), grants oldest first."""
    states = [book.grant(grant_id)] if grant_id is not None else book.grants()
    return [ReceiptRef(r, s) for s in states for r in _for_state(book, identity, s)]


def receipt_for(book: GrantBook, identity: Identity, receipt_id: str) -> ReceiptRef:
    """The receipt with this id; :class:`~vault.services.grantbook.NotFound` if none."""
    for ref in receipts(book, identity):
        if ref.receipt.receipt_id == receipt_id:
            return ref
    raise NotFound(f"no receipt {receipt_id}")
