"""What the business dashboard shows, computed from the node (no HTML here).

Each function returns plain rows for one section. Received values appear only
for grants that are live now (:func:`received`); everything else is ids,
paths, times and counts.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vault.requester import GrantStatus

if TYPE_CHECKING:
    from vault.business.node import BusinessNode
    from vault.requester import Requester

__all__ = [
    "PETNAME_KIND",
    "Relationship",
    "check_petname",
    "known_vaults",
    "name_vault",
    "obligations",
    "received",
]

#: Store kind of the business's own names for the vaults it serves.
PETNAME_KIND = "vault_petname"
MAX_PETNAME = 64


def check_petname(text: str) -> str:
    """A petname the business may give: 1..64 characters, no control or format characters."""
    from vault.requester import RequesterError

    name = text.strip()
    if not name or len(name) > MAX_PETNAME:
        raise RequesterError(f"a petname is 1 to {MAX_PETNAME} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise RequesterError("a petname cannot hold control, format or bidi characters")
    return name


def petname(node: BusinessNode, vault_peer: str) -> str:
    raw = node.biz.vault.store.get(PETNAME_KIND, vault_peer)
    return "" if raw is None else raw.decode("utf-8")


def set_petname(node: BusinessNode, vault_peer: str, name: str) -> None:
    name_vault(node.biz, vault_peer, name)


def known_vaults(biz: Requester) -> set[str]:
    """The vaults this business holds or held a grant from, or sent a request to."""
    return {g.vault_peer for g in biz.grants()} | {r.request.vault for r in biz.requests()}


def name_vault(biz: Requester, vault_peer: str, name: str) -> str:
    """Give a vault the business relates to a petname (checked; "" removes it); as stored."""
    from vault.requester import RequesterError

    checked = check_petname(name) if name.strip() else ""
    if vault_peer not in known_vaults(biz):
        raise RequesterError(f"no relationship with vault {vault_peer}")
    if checked:
        biz.vault.store.put(PETNAME_KIND, vault_peer, checked.encode("utf-8"))
    else:
        biz.vault.store.delete(PETNAME_KIND, vault_peer)
    return checked


@dataclass
class Relationship:
    vault: str
    petname: str
    grants: list[Any] = field(default_factory=list)
    #: What the customer's vault told of her contact choices (D43): shown, and obeyed.
    told: str = ""


def relationships(node: BusinessNode) -> list[Relationship]:
    """Every vault this business holds or held a grant from, with those grants."""
    by_vault: dict[str, list[Any]] = defaultdict(list)
    for info in node.biz.grants():
        by_vault[info.vault_peer].append(info)
    for rec in node.biz.requests():
        by_vault.setdefault(rec.request.vault, [])
    signals = node.biz.yields.all_vault_signals()
    return [
        Relationship(v, petname(node, v), g, told=_told(signals.get(v)))
        for v, g in sorted(by_vault.items())
    ]


def _told(state: Any) -> str:
    if state is None:
        return ""
    parts = []
    if state.muted:
        parts.append("muted you: nothing is sent to this customer")
    elif state.muted_categories:
        parts.append("muted " + ", ".join(state.muted_categories) + " messages")
    if state.shares_reads is not None:
        parts.append("shares reads" if state.shares_reads else "does not share reads")
    return "; ".join(parts)


def awaiting(node: BusinessNode) -> list[Any]:
    return [r for r in node.biz.requests() if r.status == "pending"]


def received(node: BusinessNode) -> list[dict[str, Any]]:
    """The sealed copies of live grants only, with the grant's expiry and retention."""
    rows = []
    for info in node.biz.grants():
        if info.status != GrantStatus.ACTIVE:
            continue
        values = node.biz.local_copy(info.grant_id)
        rows.append({"info": info, "fields": sorted(values.items())})
    return rows


def obligations(node: BusinessNode) -> list[dict[str, Any]]:
    """What the business still owes: data to delete by a deadline, receipts not acknowledged."""
    now = node.biz.now()
    rows = []
    for rec in node.biz.book.grants():
        status = rec.status(now)
        if status == GrantStatus.EXPIRED and not rec.data_deleted:
            deadline = rec.retention_deadline()
            rows.append({"grant_id": rec.grant_id, "vault": rec.vault_peer,
                         "what": "delete the data (retention)", "deadline": deadline,
                         "overdue": deadline <= now})  # fmt: skip
        elif rec.receipt is not None and not rec.receipt_acked:
            rows.append({"grant_id": rec.grant_id, "vault": rec.vault_peer,
                         "what": "deliver the deletion receipt", "deadline": None,
                         "overdue": False})  # fmt: skip
    return rows


def deals(node: BusinessNode) -> list[Any]:
    """Every agreement signed (stored), whether or not the node answers intents now."""
    from vault.requester.offers import stored_agreements

    return stored_agreements(node.biz)


def deal_view(agreement: Any) -> dict[str, Any]:
    """An agreement as the API and ``kluis business deals --json`` show it (no signatures)."""
    return {
        "agreement_id": agreement.agreement_id,
        "intent_id": agreement.intent_id,
        "vault": agreement.vault,
        "category": agreement.category,
        "domain": agreement.domain,
        "fields": list(agreement.fields),
        "purpose": agreement.purpose.value,
        "value_cents": agreement.value_cents,
        "duration_days": agreement.duration_days,
        "created_at": agreement.created_at,
    }
