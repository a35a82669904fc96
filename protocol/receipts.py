"""Consent receipts: signed, exportable records of a grant, a revocation, an erasure or a deletion.

The vault issues and signs every :class:`ConsentReceipt` (it is the owner's
record). A receipt for a revocation or an erasure embeds the vault-signed
:class:`~protocol.messages.RevokeNotice`; a receipt for a deletion embeds the
requester-signed :class:`~protocol.messages.DeletionReceipt`, which stays
verifiable on its own: it is the owner's *proof* that the business deleted.

``controller`` embeds the business's own signed profile (names, contact,
address, policy URL, jurisdiction) as it stood when it asked.

:mod:`protocol.consent_export` renders a receipt as a Kantara Consent Receipt
v1.1 and as an ISO/IEC TS 27560 consent record (DPV JSON-LD), each with a
detached signature; the mapping, field by field, is documented there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from ._exceptions import LocalProtocolError, SignatureError
from .business import BusinessProfile
from .messages import DeletionReceipt, Grant, Offer, RevokeNotice, Signed, sign, verify
from .purposes import Purpose
from .scopes import Scope
from .signing import Identity
from .wire import Days, Id, PeerId, ShortText, TimestampMs, new_id

__all__ = [
    "ConsentReceipt",
    "ReceiptKind",
    "make_receipt",
    "verify_receipt",
]


class ReceiptKind(StrEnum):
    GRANT = "grant"
    REVOCATION = "revocation"
    ERASURE = "erasure"
    DELETION = "deletion"


_Evidence = Annotated[RevokeNotice | DeletionReceipt, Field(discriminator="type")]


class ConsentReceipt(Signed):
    """A vault-signed consent record. Build one with :func:`make_receipt`.

    ``controller`` (omitted when unset) is the business's own signed profile as
    it was when it asked: the data controller's names, contact, address, policy
    and jurisdiction, verifiable on its own.
    """

    signer_field: ClassVar[str] = "vault"
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"controller"})

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
    controller: BusinessProfile | None = None

    def embedded(self) -> tuple[Signed, ...]:
        inner: list[Signed] = []
        if self.evidence is not None:
            inner.append(self.evidence)
        if self.controller is not None:
            inner.append(self.controller)
        return tuple(inner)

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
        if self.controller is not None and self.controller.peer_id != self.requester:
            raise ValueError("the controller profile belongs to another peer")
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
    controller: BusinessProfile | None = None,
) -> ConsentReceipt:
    """The vault's signed receipt for ``grant``.

    The kind follows from ``evidence``: none → ``grant``; a :class:`RevokeNotice`
    → ``revocation`` (or ``erasure`` if it asks to erase); a
    :class:`DeletionReceipt` → ``deletion``. Evidence must be about this grant.
    ``controller`` is the business's signed profile (the one its request carried);
    it fills ``jurisdiction`` and ``policy_url`` unless those are given.
    """
    if grant.vault != vault.peer_id:
        raise LocalProtocolError("this grant was issued by another vault")
    if controller is not None:
        if controller.peer_id != grant.requester:
            raise LocalProtocolError("the controller profile belongs to another peer")
        jurisdiction = jurisdiction or controller.jurisdiction
        policy_url = policy_url or controller.privacy_policy_url
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
            controller=controller,
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise LocalProtocolError("evidence does not belong to this grant") from exc
    return sign(receipt, vault)


def verify_receipt(receipt: ConsentReceipt, vault_peer_id: str | None = None) -> None:
    """Check the vault's signature and those of what it embeds (evidence, controller).

    Raises :class:`~protocol.SignatureError` if any does not verify.
    """
    verify(receipt, vault_peer_id)  # also verifies receipt.embedded()
    if receipt.evidence is not None and receipt.evidence.grant_id != receipt.grant_id:
        raise SignatureError("signature does not verify")  # pragma: no cover - model-enforced
