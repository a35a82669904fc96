"""The access-request inbox under a flood of fresh peer ids (issue 13 §2, decision D28).

Per-peer caps, room reserved for businesses the owner knows, eviction of the
oldest unknown request (audited), expiry, and "deny all from unknown businesses".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import DecisionStatus, Identity, RateLimited
from protocol.clock import DAY_MS
from tests.conftest import PASSPHRASE, ManualClock
from vault.home.config import ConfigError, load_config
from vault.services import grantbook
from vault.services.grantbook import GrantBook, RequestState
from vault.store.vault import Vault

from .access_helpers import access_request


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cvault(home: Path, clock: ManualClock) -> Iterator[Vault]:
    with Vault.create(home, PASSPHRASE, clock=clock) as v:
        yield v


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small inbox: 10 requests in all, 6 of them for unknown businesses."""
    monkeypatch.setattr(grantbook, "MAX_PENDING_TOTAL", 10)
    monkeypatch.setattr(grantbook, "MAX_PENDING_UNKNOWN", 6)


def submit(book: GrantBook, who: Identity, vault: Vault, clock: ManualClock) -> RequestState:
    clock.advance(1)  # distinct arrival times: eviction order is visible
    return book.submit(access_request(who, vault.peer_id, ts=clock()))


def known_business(book: GrantBook, vault: Vault, clock: ManualClock) -> Identity:
    """A business the owner granted something once (its grant since revoked)."""
    who = Identity.generate()
    state = submit(book, who, vault, clock)
    grant = book.approve(state.request_id)
    book.revoke(grant.grant_id)
    return who


def deny_entries(vault: Vault, decided_by: str) -> list[str]:
    return [
        e.details["request_id"]
        for e in vault.audit.entries()
        if e.kind == "access.deny" and e.details["decided_by"] == decided_by
    ]


def test_an_unknown_peer_gets_a_smaller_share_than_a_known_one(
    cvault: Vault, clock: ManualClock
) -> None:
    book = GrantBook(cvault)
    stranger = Identity.generate()
    for _ in range(grantbook.MAX_PENDING_PER_UNKNOWN_PEER):
        submit(book, stranger, cvault, clock)
    with pytest.raises(RateLimited, match="too many pending"):
        submit(book, stranger, cvault, clock)
    known = known_business(book, cvault, clock)
    for _ in range(grantbook.MAX_PENDING_PER_UNKNOWN_PEER + 1):  # past the unknown share
        submit(book, known, cvault, clock)
    assert len(book.requests("pending")) == 2 * grantbook.MAX_PENDING_PER_UNKNOWN_PEER + 1


@pytest.mark.usefixtures("small")
def test_a_flood_of_fresh_ids_evicts_its_own_oldest_and_never_refuses_a_newcomer(
    cvault: Vault, clock: ManualClock
) -> None:
    book = GrantBook(cvault)
    flood = [submit(book, Identity.generate(), cvault, clock) for _ in range(6)]
    newcomer = submit(book, Identity.generate(), cvault, clock)  # not refused: room is made
    assert newcomer.status is DecisionStatus.PENDING
    evicted = book.request(flood[0].request_id)
    assert evicted.status is DecisionStatus.DENIED and evicted.decided_by == "eviction"
    assert deny_entries(cvault, "eviction") == [flood[0].request_id]
    pending = book.requests("pending")
    assert len(pending) == 6 and pending[-1].request_id == newcomer.request_id
    # the state survives a restart, and agrees with the audit chain (trail.py)
    again = GrantBook(cvault)
    assert again.rolled_back == []
    assert again.request(flood[0].request_id).status is DecisionStatus.DENIED
    assert len(again.requests("pending")) == 6


@pytest.mark.usefixtures("small")
def test_room_is_kept_for_businesses_the_owner_knows(cvault: Vault, clock: ManualClock) -> None:
    book = GrantBook(cvault)
    known = [known_business(book, cvault, clock) for _ in range(2)]
    flood = [submit(book, Identity.generate(), cvault, clock) for _ in range(12)]
    assert sum(1 for s in flood if book.request(s.request_id).status is DecisionStatus.PENDING) == 6
    # the unknown pool is full, yet known businesses are served from the reserved room
    mine = [submit(book, known[i % 2], cvault, clock) for i in range(4)]
    assert all(book.request(s.request_id).status is DecisionStatus.PENDING for s in mine)
    assert len(book.requests("pending")) == 10  # the total cap is reached
    # past the total, a known business still gets in: the oldest unknown request goes
    oldest_unknown = book.requests("pending")[0]
    late = submit(book, known[0], cvault, clock)
    assert late.status is DecisionStatus.PENDING
    assert book.request(oldest_unknown.request_id).decided_by == "eviction"


@pytest.mark.usefixtures("small")
def test_a_full_inbox_of_known_businesses_refuses_rather_than_evicting_them(
    cvault: Vault, clock: ManualClock
) -> None:
    book = GrantBook(cvault)
    known = [known_business(book, cvault, clock) for _ in range(3)]
    for i in range(10):
        submit(book, known[i % 3], cvault, clock)
    with pytest.raises(RateLimited):
        submit(book, known[0], cvault, clock)
    assert deny_entries(cvault, "eviction") == []


def test_pending_requests_expire_and_the_expiry_is_audited(
    cvault: Vault, clock: ManualClock
) -> None:
    book = GrantBook(cvault, pending_days=2)
    old = submit(book, Identity.generate(), cvault, clock)
    clock.advance(DAY_MS)
    young = submit(book, Identity.generate(), cvault, clock)
    clock.advance(DAY_MS)  # `old` is now exactly two days old
    assert [s.request_id for s in book.expire_pending()] == [old.request_id]
    assert book.request(old.request_id).decided_by == "expiry"
    assert book.request(young.request_id).status is DecisionStatus.PENDING
    assert deny_entries(cvault, "expiry") == [old.request_id]
    clock.advance(DAY_MS)
    submit(book, Identity.generate(), cvault, clock)  # a new request sweeps first
    assert book.request(young.request_id).decided_by == "expiry"
    assert GrantBook(cvault).rolled_back == []


def test_expiry_frees_a_peers_share(cvault: Vault, clock: ManualClock) -> None:
    book = GrantBook(cvault, pending_days=1)
    stranger = Identity.generate()
    for _ in range(grantbook.MAX_PENDING_PER_UNKNOWN_PEER):
        submit(book, stranger, cvault, clock)
    clock.advance(DAY_MS)
    assert submit(book, stranger, cvault, clock).status is DecisionStatus.PENDING


def test_deny_unknown_denies_only_strangers(cvault: Vault, clock: ManualClock) -> None:
    book = GrantBook(cvault)
    known = known_business(book, cvault, clock)
    strangers = [submit(book, Identity.generate(), cvault, clock) for _ in range(5)]
    mine = submit(book, known, cvault, clock)
    denied = book.deny_unknown()
    assert sorted(s.request_id for s in denied) == sorted(s.request_id for s in strangers)
    assert [s.request_id for s in book.requests("pending")] == [mine.request_id]
    assert all(book.request(s.request_id).decided_by == "owner" for s in strangers)
    assert len(deny_entries(cvault, "owner")) == 5
    assert book.deny_unknown() == []
    assert GrantBook(cvault).rolled_back == []


def test_pending_days_is_a_setting(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[requests]\npending_days = 3\n")
    assert load_config(home).requests.pending_days == 3
    (home / "config.toml").write_text("[requests]\npending_days = 0\n")
    with pytest.raises(ConfigError, match="pending_days"):
        load_config(home)
