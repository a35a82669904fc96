"""GrantBook: approve (narrowed), deny, revoke in force at once, expiry, persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import (
    AccessDenied,
    DecisionStatus,
    ErrorCode,
    Identity,
    ScopeError,
    verify,
    verify_grant,
)
from protocol.clock import DAY_MS
from tests.conftest import PASSPHRASE, ManualClock
from vault.services.grantbook import GrantBook, NotFound
from vault.store.vault import Vault

from .access_helpers import access_request, deletion_receipt


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cvault(home: Path, clock: ManualClock) -> Iterator[Vault]:
    with Vault.create(home, PASSPHRASE, clock=clock) as v:
        yield v


@pytest.fixture
def book(cvault: Vault) -> GrantBook:
    return GrantBook(cvault)


ALICE = Identity.generate()


def kinds(v: Vault) -> list[str]:
    return [e.kind for e in v.audit.entries()]


def test_submit_approve_narrowed_and_check(book: GrantBook, cvault: Vault) -> None:
    req = access_request(ALICE, cvault.peer_id, ["contact.email", "name.given", "address.*"])
    state = book.submit(req)
    assert state.status is DecisionStatus.PENDING
    assert [r.request_id for r in book.requests("pending")] == [req.request_id]
    grant = book.approve(req.request_id, fields=["contact.email", "address.home.*"], days=7)
    verify_grant(grant, cvault.peer_id)
    assert grant.scope.fields == ("address.home.*", "contact.email")
    assert grant.expires_at - grant.issued_at == 7 * DAY_MS
    assert book.request(req.request_id).status is DecisionStatus.APPROVED
    assert book.has_granted(ALICE.peer_id)
    assert book.check(ALICE.peer_id, grant.grant_id, ["contact.email"], "read") is grant
    with pytest.raises(AccessDenied) as err:
        book.check(ALICE.peer_id, grant.grant_id, ["name.given"], "read")
    assert err.value.code is ErrorCode.OUT_OF_SCOPE
    assert kinds(cvault)[-2:] == ["access.request", "access.approve"]


def test_cannot_widen_or_redecide(book: GrantBook, cvault: Vault) -> None:
    req = access_request(ALICE, cvault.peer_id, ["contact.email"], days=10)
    book.submit(req)
    with pytest.raises(ScopeError):
        book.approve(req.request_id, fields=["contact.phone"])
    with pytest.raises(ScopeError):
        book.approve(req.request_id, days=11)
    assert book.request(req.request_id).status is DecisionStatus.PENDING
    book.deny(req.request_id, "no thanks")
    assert book.request(req.request_id).status is DecisionStatus.DENIED
    with pytest.raises(Exception, match="already denied"):
        book.approve(req.request_id)
    with pytest.raises(NotFound):
        book.approve("nope")


def test_request_for_another_vault_refused(book: GrantBook) -> None:
    req = access_request(ALICE, Identity.generate().peer_id)
    with pytest.raises(AccessDenied):
        book.submit(req)
    assert book.requests() == []


def test_revoke_takes_effect_before_return(book: GrantBook, cvault: Vault) -> None:
    req = access_request(ALICE, cvault.peer_id)
    book.submit(req)
    grant = book.approve(req.request_id)
    seen = []
    book.on_revoke(lambda state, notice: seen.append((state.revoked, notice.grant_id)))
    notice = book.revoke(grant.grant_id, reason="moved on")
    verify(notice, cvault.peer_id)
    assert seen == [(True, grant.grant_id)]
    with pytest.raises(AccessDenied) as err:
        book.check(ALICE.peer_id, grant.grant_id, ["contact.email"], "read")
    assert err.value.code is ErrorCode.REVOKED
    assert kinds(cvault)[-1] == "grant.revoke"
    assert book.revoke(grant.grant_id) == notice  # idempotent
    assert kinds(cvault)[-1] == "grant.revoke"


def test_expiry_with_fake_clock(book: GrantBook, cvault: Vault, clock: ManualClock) -> None:
    req = access_request(ALICE, cvault.peer_id, days=2)
    book.submit(req)
    grant = book.approve(req.request_id)
    clock.advance(2 * DAY_MS - 1)
    book.check(ALICE.peer_id, grant.grant_id, ["contact.email"], "read")
    clock.advance(1)
    with pytest.raises(AccessDenied) as err:
        book.check(ALICE.peer_id, grant.grant_id, ["contact.email"], "read")
    assert err.value.code is ErrorCode.EXPIRED
    assert book.grant(grant.grant_id).status(clock()) == "expired"


def test_wrong_peer_and_unknown_grant(book: GrantBook, cvault: Vault) -> None:
    req = access_request(ALICE, cvault.peer_id)
    book.submit(req)
    grant = book.approve(req.request_id)
    with pytest.raises(AccessDenied) as err:
        book.check(Identity.generate().peer_id, grant.grant_id, ["contact.email"], "read")
    assert err.value.code is ErrorCode.WRONG_PEER
    with pytest.raises(AccessDenied) as err:
        book.check(ALICE.peer_id, "unknown", ["contact.email"], "read")
    assert err.value.code is ErrorCode.NOT_GRANTED


def test_persistence_across_reopen(home: Path, clock: ManualClock) -> None:
    with Vault.create(home, PASSPHRASE, clock=clock) as v:
        book = GrantBook(v)
        r1, r2, r3 = (access_request(ALICE, v.peer_id) for _ in range(3))
        for r in (r1, r2, r3):
            book.submit(r)
        g1 = book.approve(r1.request_id)
        book.deny(r2.request_id)
        g3 = book.approve(r3.request_id, fields=["contact.email"])
        book.revoke(g3.grant_id)
        receipt = deletion_receipt(ALICE, v.peer_id, g3.grant_id, ["contact.email"])
        assert book.record_deletion(receipt)
        assert not book.record_deletion(receipt)
    with Vault.open(home, PASSPHRASE, clock=clock) as v:
        book = GrantBook(v)
        assert not book.corrupt
        assert book.request(r2.request_id).status is DecisionStatus.DENIED
        assert book.grant(g1.grant_id).grant == g1
        book.check(ALICE.peer_id, g1.grant_id, ["name.given"], "read")
        with pytest.raises(AccessDenied) as err:
            book.check(ALICE.peer_id, g3.grant_id, ["contact.email"], "read")
        assert err.value.code is ErrorCode.REVOKED
        assert [r.receipt_id for r in book.receipts(g3.grant_id)] == [receipt.receipt_id]
        assert book.grant(g3.grant_id).receipts == [receipt.receipt_id]
        assert book.has_granted(ALICE.peer_id)
        # nothing personal in plaintext: the grant ids are not in the file
    raw = (home / "vault.db").read_bytes()
    assert g1.grant_id.encode() not in raw and ALICE.peer_id.encode() not in raw


def test_deletion_receipt_checks(book: GrantBook, cvault: Vault) -> None:
    req = access_request(ALICE, cvault.peer_id)
    book.submit(req)
    grant = book.approve(req.request_id)
    mallory = Identity.generate()
    with pytest.raises(AccessDenied) as err:
        book.record_deletion(deletion_receipt(mallory, cvault.peer_id, grant.grant_id, []))
    assert err.value.code is ErrorCode.WRONG_PEER
    with pytest.raises(AccessDenied):
        book.record_deletion(deletion_receipt(ALICE, cvault.peer_id, "nope", []))
    assert book.receipts() == []


def test_pending_cap_per_peer(book: GrantBook, cvault: Vault) -> None:
    from vault.services.grantbook import MAX_PENDING_PER_UNKNOWN_PEER

    for _ in range(MAX_PENDING_PER_UNKNOWN_PEER):
        book.submit(access_request(ALICE, cvault.peer_id))
    with pytest.raises(Exception, match="too many pending"):
        book.submit(access_request(ALICE, cvault.peer_id))
    book.submit(access_request(Identity.generate(), cvault.peer_id))  # others unaffected
