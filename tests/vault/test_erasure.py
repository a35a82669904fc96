"""Erasure tracking: pending → confirmed (verified receipt) or overdue; audit keeps facts only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import ErasureReceipt, Identity, SignatureError, sign
from protocol.clock import DAY_MS
from tests.conftest import PASSPHRASE, ManualClock
from vault.services.erasure import ErasureBook, verify_export
from vault.services.grantbook import NotFound
from vault.store.vault import Vault

BIZ = Identity.generate()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vault(tmp_path: Path, clock: ManualClock) -> Iterator[Vault]:
    with Vault.create(tmp_path / "v", PASSPHRASE, clock=clock) as v:
        yield v


def receipt(req, signer: Identity = BIZ, grants=None) -> ErasureReceipt:
    return sign(
        ErasureReceipt(
            erasure_id=req.erasure_id,
            requester=signer.peer_id,
            vault=req.vault,
            grant_ids=req.grant_ids if grants is None else grants,
            deleted_fields=("contact.email",),
            deleted_at=req.requested_at + 1,
            keys_destroyed=True,
        ),
        signer,
    )


def test_pending_confirmed_overdue(vault: Vault, clock: ManualClock):
    book = ErasureBook(vault, deadline_days=30)
    rec = book.create(BIZ.peer_id, ["g2", "g1"], "forget me")
    assert rec.request.grant_ids == ("g1", "g2")
    assert rec.status(clock()) == "pending"
    assert book.records()[0].status(clock() + 31 * DAY_MS) == "overdue"
    with pytest.raises(SignatureError):
        book.record_receipt(receipt(rec.request, grants=("g1",)))  # not all grants
    with pytest.raises(SignatureError):
        book.record_receipt(receipt(rec.request, signer=Identity.generate()))
    done = book.record_receipt(receipt(rec.request))
    assert done.status(clock() + 99 * DAY_MS) == "confirmed"
    assert book.record_receipt(receipt(rec.request)).receipt == done.receipt  # idempotent
    [entry] = book.export()
    assert entry["status"] == "confirmed" and verify_export(entry)
    tampered = entry | {"receipt": entry["receipt"] | {"deleted_fields": []}}
    assert not verify_export(tampered)
    kinds = [e.kind for e in vault.audit.entries()]
    assert kinds.count("erasure.request") == 1 and kinds.count("erasure.confirmed") == 1
    with pytest.raises(NotFound):
        book.get("nope")
