"""The requester SDK without a network: sealed per-grant storage, revocation, receipts,
retention with a fake clock, and grant verification."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol import (
    AccessDenied,
    Ack,
    Decision,
    DecisionStatus,
    DeletionReason,
    Error,
    ErrorCode,
    Grant,
    Identity,
    RateLimited,
    RemoteError,
    Scope,
    SignatureError,
    make_grant,
    sign,
    sign_object,
    verify,
)
from protocol.clock import DAY_MS
from tests.conftest import BIZ_PASSPHRASE, ManualClock
from vault.requester import (
    DecisionPending,
    GrantHandle,
    InvalidGrant,
    Requester,
    RequesterError,
    UnknownGrant,
    error_to_exception,
    parse_purpose,
)
from vault.requester._copies import DATA_KIND, KEY_KIND
from vault.store.crypto import CryptoFailure, SecretKey, open_sealed
from vault.store.records import record_ad

from .helpers import FakeVault, deliver

SECRET = "alice.secret@example.org"
CITY = "Zwolle-Hanzestad"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def biz_home(tmp_path: Path) -> Path:
    return tmp_path / "business"


@pytest.fixture
async def biz(biz_home: Path, clock: ManualClock) -> AsyncIterator[Requester]:
    requester = await Requester.create(
        biz_home, BIZ_PASSPHRASE, network=False, clock=clock, retention_interval=None
    )
    try:
        yield requester
    finally:
        await requester.close()


@pytest.fixture
def fv() -> FakeVault:
    return FakeVault()


def rows(home: Path, kind: str) -> list[tuple[bytes, bytes]]:
    conn = sqlite3.connect(home / "vault.db")
    try:
        return conn.execute("SELECT rid, sealed FROM records WHERE kind = ?", (kind,)).fetchall()
    finally:
        conn.close()


def all_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


# -- sealed per-grant storage -----------------------------------------------------------------


async def test_received_data_is_sealed_on_disk(
    biz: Requester, fv: FakeVault, biz_home: Path, clock: ManualClock
):
    grant = fv.grant(biz)
    assert fv.push(biz, grant, "contact.email", SECRET) is True
    assert fv.push(biz, grant, "address.home.city", CITY) is True
    assert biz.local_copy(grant) == {"contact.email": SECRET, "address.home.city": CITY}
    assert biz.secure_delete is True
    for blob in (all_bytes(biz_home),):
        for needle in (SECRET, CITY, "contact.email", "address.home.city", grant.grant_id):
            assert needle.encode() not in blob, needle
    await biz.close()
    blob = all_bytes(biz_home)
    assert SECRET.encode() not in blob and CITY.encode() not in blob
    # and it all comes back after a restart
    again = await Requester.open(
        biz_home, BIZ_PASSPHRASE, network=False, clock=clock, retention_interval=None
    )
    async with again:
        assert again.local_copy(grant.grant_id)["contact.email"] == SECRET
        assert again.grant_info(grant).status == "active"


async def test_destroyed_key_makes_the_data_unrecoverable(
    biz: Requester, fv: FakeVault, biz_home: Path
):
    grant = fv.grant(biz)
    other = fv.grant(biz, ["contact.phone"])
    fv.push(biz, grant, "contact.email", SECRET)
    fv.push(biz, other, "contact.phone", "+31 20 123 4567")
    [(data_rid, data_sealed)] = [
        r
        for r in rows(biz_home, DATA_KIND)
        if r[0] == biz.vault.store.record_id(DATA_KIND, grant.grant_id)
    ]
    key_rid = biz.vault.store.record_id(KEY_KIND, grant.grant_id)
    [(_, key_sealed)] = [r for r in rows(biz_home, KEY_KIND) if r[0] == key_rid]

    # With the data key the outer layer opens, but the inner blob needs the grant key.
    plain = biz.vault._keyring.sealer.open(data_sealed, record_ad(DATA_KIND, data_rid))
    inner = plain[4 + len(grant.grant_id.encode()) :]
    assert SECRET.encode() not in plain
    ad = b"kluis-grantdata-v1\x00" + grant.grant_id.encode()
    key_raw = biz.vault.store.get(KEY_KIND, grant.grant_id)
    assert key_raw is not None
    assert SECRET.encode() in open_sealed(SecretKey(key_raw), inner, ad)  # sanity: it is the key

    reply = await fv.revoke(biz, grant)
    assert isinstance(reply, Ack) and reply.ref == grant.grant_id

    # both records are gone; the other grant is untouched
    assert biz.vault.store.get(KEY_KIND, grant.grant_id) is None
    assert biz.vault.store.get(DATA_KIND, grant.grant_id) is None
    assert len(rows(biz_home, KEY_KIND)) == 1 and len(rows(biz_home, DATA_KIND)) == 1
    assert biz.local_copy(other) == {"contact.phone": "+31 20 123 4567"}
    assert biz.local_copy(grant) == {}
    # no copy of the wrapped key (or of the data) survives on disk: secure_delete + checkpoint
    disk = all_bytes(biz_home)
    assert key_sealed not in disk and data_sealed not in disk
    # every key the store still holds fails on the captured data, even with the data key
    for _name, raw in biz.vault.store.items(KEY_KIND):
        with pytest.raises(CryptoFailure):
            open_sealed(SecretKey(raw), inner, ad)


# -- revocation, receipts ----------------------------------------------------------------------


async def test_revocation_deletes_marks_and_signs_a_receipt(biz: Requester, fv: FakeVault):
    grant = fv.grant(biz)
    fv.push(biz, grant, "contact.email", SECRET)
    assert isinstance(await fv.revoke(biz, grant), Ack)
    info = biz.grant_info(grant)
    assert info.status == "revoked" and info.data_deleted and info.deletion_reason == "revoked"
    assert not info.receipt_acked  # no network: kept for a later send
    [receipt] = biz.receipts(grant)
    verify(receipt, biz.peer_id)
    assert receipt.grant_id == grant.grant_id and receipt.vault == fv.peer_id
    assert receipt.reason is DeletionReason.REVOKED and receipt.key_destroyed
    assert receipt.deleted_fields == grant.fields
    forged = receipt.model_copy(update={"reason": DeletionReason.RETENTION_EXPIRED})
    with pytest.raises(SignatureError):
        verify(forged, biz.peer_id)
    # a network-less requester would fail with LocalError if it tried the network:
    # AccessDenied proves the refusal is local.
    with pytest.raises(AccessDenied) as err:
        await biz.read(grant)
    assert err.value.code is ErrorCode.REVOKED
    with pytest.raises(AccessDenied):
        async for _ in biz.subscribe(grant):
            pass
    # a second notice is idempotent: same receipt, still Ack
    assert isinstance(await fv.revoke(biz, grant), Ack)
    assert [r.receipt_id for r in biz.receipts(grant)] == [receipt.receipt_id]
    kinds = [e.kind for e in biz.vault.audit.entries()]
    assert "requester.delete" in kinds and biz.vault.audit.verify().ok


async def test_erasure_notice_gives_an_erasure_receipt(biz: Requester, fv: FakeVault):
    grant = fv.grant(biz)
    await fv.revoke(biz, grant, erase=True)
    assert biz.receipts(grant)[0].reason is DeletionReason.ERASURE


async def test_notices_that_must_not_be_obeyed(biz: Requester, fv: FakeVault):
    grant = fv.grant(biz)
    fv.push(biz, grant, "contact.email", SECRET)
    notice = fv.notice(biz, grant)
    impostor = Identity.generate()

    async def send(sender: str, msg: object) -> Error:
        reply = await deliver(biz, sender, msg)
        assert isinstance(reply, Error)
        return reply

    # signed by someone else
    forged = notice.model_copy(
        update={"sig": sign_object(impostor, notice.model_dump(mode="json"))["sig"]}
    )
    assert (await send(fv.peer_id, forged)).code is ErrorCode.BAD_SIGNATURE
    # a genuine notice relayed by another peer
    assert (await send(impostor.peer_id, notice)).code is ErrorCode.WRONG_PEER
    # a notice for another requester
    other_req = sign(
        notice.model_copy(update={"requester": impostor.peer_id, "sig": ""}), fv.identity
    )
    assert (await send(fv.peer_id, other_req)).code is ErrorCode.WRONG_PEER
    # an unknown grant
    unknown = sign(notice.model_copy(update={"grant_id": "nope", "sig": ""}), fv.identity)
    assert (await send(fv.peer_id, unknown)).code is ErrorCode.NOT_GRANTED
    # garbage and messages a requester does not take
    assert (await send(fv.peer_id, b"{nope")).code is ErrorCode.MALFORMED
    assert (await send(fv.peer_id, Ack(ref="x"))).code is ErrorCode.UNEXPECTED_MESSAGE
    assert biz.local_copy(grant) == {"contact.email": SECRET}
    assert biz.grant_info(grant).status == "active"


# -- updates -----------------------------------------------------------------------------------


async def test_pushed_updates(biz: Requester, fv: FakeVault):
    grant = fv.grant(biz)
    fv.push(biz, grant, "contact.email", "a@example.org")
    fv.push(biz, grant, "contact.email", "b@example.org")
    assert biz.local_records(grant)["contact.email"].version == 2
    # a stale version is ignored
    from protocol import Update

    stale = Update(
        grant_id=grant.grant_id,
        path="contact.email",
        value="old@example.org",
        version=1,
        ts=biz.now(),
    )
    assert biz.reader.receive_update(fv.peer_id, stale) is False
    assert biz.local_copy(grant)["contact.email"] == "b@example.org"
    # outside the grant: not kept
    fv.push(biz, grant, "name.given", "Alice")
    assert "name.given" not in biz.local_copy(grant)
    # from someone who is not the grant's vault: dropped
    upd = Update(
        grant_id=grant.grant_id, path="contact.email", value="x@example.org", version=9, ts=1
    )
    assert biz.reader.receive_update(Identity.generate().peer_id, upd) is False
    assert biz.local_copy(grant)["contact.email"] == "b@example.org"
    # nor may a vault push an update as a request: the access grammar refuses it
    refused = await deliver(biz, fv.peer_id, upd)
    assert isinstance(refused, Error) and refused.code is ErrorCode.UNEXPECTED_MESSAGE
    # deletion of a field
    fv.push(biz, grant, "contact.email", None)
    assert biz.local_copy(grant) == {}


# -- retention -------------------------------------------------------------------------------


async def test_retention_with_a_fake_clock(biz: Requester, fv: FakeVault, clock: ManualClock):
    keep = fv.grant(biz, days=1, retention_days=2)
    gone = fv.grant(biz, ["contact.phone"], days=1, retention_days=0)
    later = fv.grant(biz, ["name.given"], days=10, retention_days=0)
    fv.push(biz, keep, "contact.email", SECRET)
    fv.push(biz, gone, "contact.phone", "+31 6 1234 5678")
    fv.push(biz, later, "name.given", "Alice")
    assert await biz.enforce_retention() == []

    clock.advance(DAY_MS)  # the 1-day grants end
    assert await biz.enforce_retention() == [gone.grant_id]
    assert biz.grant_info(keep).status == "expired"
    assert biz.local_copy(keep) == {"contact.email": SECRET}  # kept within retention
    assert biz.grant_info(gone).status == "deleted" and biz.local_copy(gone) == {}
    with pytest.raises(AccessDenied) as err:
        await biz.read(keep)  # ended: refused locally, no network
    assert err.value.code is ErrorCode.EXPIRED

    assert await biz.enforce_retention(now=clock() + 2 * DAY_MS - 1) == []
    assert await biz.enforce_retention(now=clock() + 2 * DAY_MS) == [keep.grant_id]
    info = biz.grant_info(keep)
    assert info.status == "deleted" and info.data_deleted
    assert not biz.vault.store.contains(KEY_KIND, keep.grant_id)
    [receipt] = biz.receipts(keep)
    verify(receipt, biz.peer_id)
    assert receipt.reason is DeletionReason.RETENTION_EXPIRED and receipt.key_destroyed
    assert biz.local_copy(later) == {"name.given": "Alice"}
    assert {g.grant_id: g.status for g in biz.grants()} == {
        keep.grant_id: "deleted",
        gone.grant_id: "deleted",
        later.grant_id: "active",
    }


async def test_periodic_retention_sweep(tmp_path: Path, fv: FakeVault):
    clock = ManualClock()
    async with Requester.create(
        tmp_path / "b", BIZ_PASSPHRASE, network=False, clock=clock, retention_interval=0.01
    ) as biz:
        grant = fv.grant(biz, days=1)
        fv.push(biz, grant, "contact.email", SECRET)
        clock.advance(DAY_MS)
        for _ in range(200):
            if biz.grant_info(grant).data_deleted:
                break
            await asyncio.sleep(0.01)
        assert biz.local_copy(grant) == {} and biz.grant_info(grant).status == "deleted"


# -- grant verification ------------------------------------------------------------------------


def _pending_request(biz: Requester, fv: FakeVault, **kw: object):  # type: ignore[no-untyped-def]
    return biz.asking.record(fv.addr, ["contact.email"], "ServiceProvision", days=30, **kw)  # type: ignore[arg-type]


def _refused(biz: Requester, grant: Grant) -> InvalidGrant:
    with pytest.raises(InvalidGrant) as err:
        biz.asking.apply_decision(
            grant.request_id,
            Decision(request_id=grant.request_id, status=DecisionStatus.APPROVED, grant=grant),
        )
    assert biz.book.find_grant(grant.grant_id) is None  # nothing kept
    assert not biz.copies.has_key(grant.grant_id)
    assert biz.book.request(grant.request_id).status == "pending"
    return err.value


async def test_grant_signed_by_someone_else_is_refused(biz: Requester, fv: FakeVault):
    req = _pending_request(biz, fv)
    good = make_grant(req, fv.identity, now_ms=biz.now())
    forged = good.model_copy(
        update={"sig": sign_object(Identity.generate(), good.model_dump(mode="json"))["sig"]}
    )
    assert _refused(biz, forged).code is ErrorCode.BAD_SIGNATURE
    # a grant from another vault than the one asked, validly signed by that vault
    other = FakeVault()
    elsewhere = sign(good.model_copy(update={"vault": other.peer_id, "sig": ""}), other.identity)
    assert _refused(biz, elsewhere).code is ErrorCode.BAD_SIGNATURE


async def test_grant_bound_to_another_requester_is_refused(biz: Requester, fv: FakeVault):
    req = _pending_request(biz, fv)
    good = make_grant(req, fv.identity, now_ms=biz.now())
    theirs = sign(
        good.model_copy(update={"requester": Identity.generate().peer_id, "sig": ""}), fv.identity
    )
    assert _refused(biz, theirs).code is ErrorCode.WRONG_PEER


@pytest.mark.parametrize(
    "change",
    [
        {"scope": Scope.of(["contact.email", "contact.phone"], ["read", "subscribe"])},
        {"scope": Scope.of(["contact.*"], ["read", "subscribe"])},
        {"scope": Scope.of(["contact.email"], ["contact", "read", "subscribe"])},
        {"expires_at": None},  # longer than asked
        {"retention_days": 5},
    ],
)
async def test_grant_wider_than_asked_is_refused(biz: Requester, fv: FakeVault, change: dict):
    req = _pending_request(biz, fv, retention_days=1)
    good = make_grant(req, fv.identity, now_ms=biz.now())
    if change.get("expires_at", 0) is None:
        change = {"expires_at": good.expires_at + DAY_MS}
    wide = sign(good.model_copy(update={**change, "sig": ""}), fv.identity)
    assert _refused(biz, wide).code is ErrorCode.OUT_OF_SCOPE


async def test_narrowed_grant_is_accepted(biz: Requester, fv: FakeVault):
    grant = fv.grant(
        biz, ["contact.email", "contact.phone"], fields=["contact.email"], duration_days=3
    )
    assert isinstance(grant, GrantHandle) and grant.fields == ("contact.email",)
    assert biz.grant_info(grant).status == "active"


# -- decisions, local checks, errors --------------------------------------------------------------


async def test_denied_and_pending_decisions(biz: Requester, fv: FakeVault):
    req = _pending_request(biz, fv)
    with pytest.raises(DecisionPending):
        await biz.pending(req.request_id).decision(timeout=0)
    biz.asking.apply_decision(
        req.request_id,
        Decision(request_id=req.request_id, status=DecisionStatus.DENIED, reason="no thanks"),
    )
    with pytest.raises(AccessDenied) as err:
        await biz.pending(req.request_id).decision(timeout=0)
    assert err.value.code is ErrorCode.DENIED and "no thanks" in err.value.message


async def test_out_of_scope_read_is_refused_locally(biz: Requester, fv: FakeVault):
    grant = fv.grant(biz)
    fv.push(biz, grant, "contact.email", SECRET)
    before = biz.local_records(grant)
    for fields in (["name.given"], ["contact.email", "name.given"], ["*"], ["contact.*"]):
        with pytest.raises(AccessDenied) as err:
            await biz.read(grant, fields)
        assert err.value.code is ErrorCode.OUT_OF_SCOPE
    assert biz.local_records(grant) == before
    with pytest.raises(UnknownGrant):
        await biz.read("no-such-grant")


def test_error_replies_become_typed_exceptions():
    for code in ("denied", "revoked", "expired", "out_of_scope", "not_granted", "wrong_peer"):
        exc = error_to_exception(Error(code=code, message="m"))
        assert isinstance(exc, AccessDenied) and exc.code.value == code
    assert isinstance(error_to_exception(Error(code="rate_limited")), RateLimited)
    other = error_to_exception(Error(code="bad_signature"))
    assert isinstance(other, RemoteError) and other.code is ErrorCode.BAD_SIGNATURE


def test_purposes_and_bad_arguments():
    assert parse_purpose("ServiceProvision").value == "dpv:ServiceProvision"
    assert parse_purpose("dpv:Marketing").value == "dpv:Marketing"
    assert parse_purpose("delivery_of_goods").value == "dpv:DeliveryOfGoods"
    assert parse_purpose("customercare").value == "dpv:CustomerCare"
    with pytest.raises(RequesterError, match="unknown purpose"):
        parse_purpose("Spying")


async def test_bad_request_arguments(biz: Requester, fv: FakeVault):
    with pytest.raises(RequesterError, match="/p2p/"):
        biz.asking.record("/ip4/127.0.0.1/tcp/1", ["contact.email"], "ServiceProvision")
    with pytest.raises(RequesterError, match="invalid access request"):
        biz.asking.record(fv.addr, ["Not A Path"], "ServiceProvision")
    with pytest.raises(RequesterError, match="invalid access request"):
        biz.asking.record(fv.addr, ["contact.email"], "ServiceProvision", days=0)
    assert biz.requests() == []


async def test_second_open_is_refused_while_running(biz: Requester, biz_home: Path):
    from vault.home.lock import AlreadyRunning

    with pytest.raises(AlreadyRunning):
        await Requester.open(biz_home, BIZ_PASSPHRASE, network=False)
