"""The business side of store-and-forward: once, in order, sealed, and erasure receipts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol import (
    AccessDenied,
    EraseRequest,
    ErasureReceipt,
    ErrorCode,
    Identity,
    SealedDelivery,
    SignatureError,
    dump_message,
    new_id,
    now_ms,
    sign,
)
from vault.requester import Requester
from vault.services.outbox import delivery_info
from vault.store.hpke import seal_to

VAULT = Identity.generate()


@pytest.fixture
async def biz(tmp_path: Path) -> AsyncIterator[Requester]:
    async with Requester.ephemeral(tmp_path, network=False, retention_interval=None) as r:
        yield r


def sealed(biz: Requester, inner: bytes, seq: int, expires_at: int | None = None) -> SealedDelivery:
    did = new_id()
    ct = seal_to(
        biz.delivery.public_hex, inner, delivery_info(VAULT.peer_id, biz.peer_id, did, seq)
    )
    now = now_ms()
    return SealedDelivery(
        delivery_id=did,
        vault=VAULT.peer_id,
        requester=biz.peer_id,
        seq=seq,
        created_at=now - 10,
        expires_at=expires_at,
        sealed=ct.hex(),
    )


def erase_request(biz: Requester) -> EraseRequest:
    return sign(
        EraseRequest(
            erasure_id=new_id(),
            vault=VAULT.peer_id,
            requester=biz.peer_id,
            grant_ids=("g1",),
            requested_at=now_ms(),
        ),
        VAULT,
    )


async def test_erase_answered_once_and_again_on_resend(biz: Requester):
    req = erase_request(biz)
    d = sealed(biz, dump_message(req), 1)
    first = biz.delivery.receive(VAULT.peer_id, d)
    assert isinstance(first, ErasureReceipt) and first.erasure_id == req.erasure_id
    again = biz.delivery.receive(VAULT.peer_id, d)
    assert again == first
    assert biz.delivery.applied == [(VAULT.peer_id, 1, "erase_request")]
    assert biz.delivery.last_seq(VAULT.peer_id) == 1
    assert biz.erasure_receipts() == [first]


async def test_refuses_wrong_sender_and_tampering(biz: Requester):
    d = sealed(biz, dump_message(erase_request(biz)), 1)
    with pytest.raises(AccessDenied) as exc:
        biz.delivery.receive(Identity.generate().peer_id, d)
    assert exc.value.code is ErrorCode.WRONG_PEER
    moved = d.model_copy(update={"seq": 2})  # another slot: the HPKE context differs
    with pytest.raises(AccessDenied) as exc:
        biz.delivery.receive(VAULT.peer_id, moved)
    assert exc.value.code is ErrorCode.BAD_SIGNATURE
    # an erase request whose signature does not verify is refused; nothing is applied
    bad = erase_request(biz).model_copy(update={"sig": sign(erase_request(biz), VAULT).sig})
    with pytest.raises(SignatureError):
        biz.delivery.receive(VAULT.peer_id, sealed(biz, dump_message(bad), 1))
    assert biz.delivery.applied == [] and biz.delivery.last_seq(VAULT.peer_id) == 0


async def test_expired_delivery_is_skipped_not_applied(biz: Requester):
    d = sealed(biz, dump_message(erase_request(biz)), 3, expires_at=now_ms() - 1)
    reply = biz.delivery.receive(VAULT.peer_id, d)
    assert reply.type == "ack"
    assert biz.delivery.applied == [] and biz.delivery.last_seq(VAULT.peer_id) == 3
    assert biz.erasure_receipts() == []


async def test_hpke_key_is_stable_across_reopen(tmp_path: Path):
    home = tmp_path / "b"
    async with Requester.open(home, "pass phrase one", network=False) as r:
        key = r.delivery.public_hex
    async with Requester.open(home, "pass phrase one", network=False) as r:
        assert r.delivery.public_hex == key
