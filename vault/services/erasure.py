"""Erasure with proof: the owner asks a business to delete everything, and tracks the answer.

An :class:`ErasureBook` keeps one record per erasure request (sealed, kind
``erasure``): the vault-signed :class:`~protocol.EraseRequest`, when it was
made, the deadline, and once it comes the business-signed
:class:`~protocol.ErasureReceipt`, verified against the request. Status:

* ``confirmed`` — a valid receipt arrived;
* ``overdue`` — no receipt by the deadline (default 30 days, the GDPR's
  "one month" for an erasure request);
* ``pending`` — otherwise (the outbox keeps retrying an offline business).

The audit log records the *fact* of each request and confirmation (ids,
business, how many grants and fields, whether keys were destroyed), never
the erased values. :meth:`ErasureBook.export` gives the requests and receipts
as JSON, for export next to the consent receipts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol import (
    EraseRequest,
    ErasureReceipt,
    KluisError,
    canonical_dumps,
    canonical_loads,
    new_id,
    sign,
    verify,
    verify_erasure_receipt,
)
from protocol.clock import DAY_MS
from vault.services.grantbook import NotFound
from vault.store.jsonform import JsonRecord
from vault.store.vault import Vault

__all__ = ["DEFAULT_DEADLINE_DAYS", "ErasureBook", "ErasureRecord"]

KIND = "erasure"
DEFAULT_DEADLINE_DAYS = 30


@dataclass(frozen=True)
class ErasureRecord(JsonRecord):
    request: EraseRequest
    deadline: int
    receipt: ErasureReceipt | None = None
    confirmed_at: int | None = None

    @property
    def erasure_id(self) -> str:
        return self.request.erasure_id

    @property
    def requester(self) -> str:
        return self.request.requester

    def status(self, now_ms: int) -> str:
        if self.receipt is not None:
            return "confirmed"
        return "overdue" if now_ms > self.deadline else "pending"


class ErasureBook:
    """The vault's erasure requests and their receipts."""

    def __init__(self, vault: Vault, *, deadline_days: int = DEFAULT_DEADLINE_DAYS) -> None:
        self.vault = vault
        self.deadline_days = deadline_days

    def now(self) -> int:
        return int(self.vault.clock())

    def create(self, requester: str, grant_ids: Sequence[str], reason: str = "") -> ErasureRecord:
        """Sign and record an erasure request (audited). Delivery is the caller's job."""
        now = self.now()
        request = sign(
            EraseRequest(
                erasure_id=new_id(),
                vault=self.vault.peer_id,
                requester=requester,
                grant_ids=tuple(sorted(set(grant_ids))),
                requested_at=now,
                reason=reason,
            ),
            self.vault.identity,
        )
        rec = ErasureRecord(request, deadline=now + self.deadline_days * DAY_MS)
        with self.vault.transaction():
            self._put(rec)
            self.vault.audit.append(
                "erasure.request",
                {
                    "erasure_id": request.erasure_id,
                    "requester": requester,
                    "grants": len(request.grant_ids),
                },
            )
        return rec

    def get(self, erasure_id: str) -> ErasureRecord:
        raw = self.vault.store.get(KIND, erasure_id)
        if raw is None:
            raise NotFound(f"no erasure request {erasure_id}")
        return ErasureRecord.from_json(canonical_loads(raw))

    def records(self, requester: str | None = None) -> list[ErasureRecord]:
        out = [
            ErasureRecord.from_json(canonical_loads(raw))
            for _n, raw in self.vault.store.items(KIND)
        ]
        if requester is not None:
            out = [r for r in out if r.requester == requester]
        out.sort(key=lambda r: (r.request.requested_at, r.erasure_id))
        return out

    def record_receipt(self, receipt: ErasureReceipt) -> ErasureRecord:
        """Verify ``receipt`` against its request and store it (audited). Idempotent.

        Raises :class:`~protocol.SignatureError` if it does not verify or does
        not answer the request in full, ``NotFound`` for an unknown request.
        """
        rec = self.get(receipt.erasure_id)
        verify_erasure_receipt(receipt, rec.request)
        if rec.receipt is not None:
            return rec
        done = ErasureRecord(rec.request, rec.deadline, receipt, self.now())
        with self.vault.transaction():
            self._put(done)
            self.vault.audit.append(
                "erasure.confirmed",
                {
                    "erasure_id": receipt.erasure_id,
                    "requester": receipt.requester,
                    "grants": len(receipt.grant_ids),
                    "fields": len(receipt.deleted_fields),
                    "keys_destroyed": receipt.keys_destroyed,
                },
            )
        return done

    def export(self) -> list[dict[str, Any]]:
        """Every erasure as exportable JSON: request, receipt, status (both still verifiable)."""
        now = self.now()
        return [
            {
                "kind": "erasure",
                "erasure_id": rec.erasure_id,
                "requester": rec.requester,
                "status": rec.status(now),
                "deadline": rec.deadline,
                "request": rec.request.model_dump(mode="json"),
                "receipt": None if rec.receipt is None else rec.receipt.model_dump(mode="json"),
            }
            for rec in self.records()
        ]

    def _put(self, rec: ErasureRecord) -> None:
        self.vault.store.put(KIND, rec.erasure_id, canonical_dumps(rec.to_json()))


def verify_export(entry: dict[str, Any]) -> bool:
    """True if an exported erasure's request (and receipt, if any) verify."""
    try:
        request = EraseRequest.model_validate(entry["request"])
        verify(request)
        if entry.get("receipt") is not None:
            verify_erasure_receipt(ErasureReceipt.model_validate(entry["receipt"]), request)
    except (KluisError, ValueError, KeyError):
        return False
    return True
