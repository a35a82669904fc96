"""Incremental verification from a sealed checkpoint, off the event loop (issue 13 §1, D29)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import Identity, ReadResult, dump_message
from tests.conftest import PASSPHRASE
from vault.services.access import AccessService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.store.vault import Vault

from .access_helpers import access_request, read
from .serving import answer

ALICE = Identity.generate()


@pytest.fixture
def vault(home: Path) -> Iterator[Vault]:
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        yield v


def fill(vault: Vault, n: int) -> None:
    with vault._db.transaction(durable=False):  # one commit for the lot
        for i in range(n):
            vault.audit.append("node.start", {"i": i}, durable=False)


def test_a_verification_walks_only_what_came_after_the_checkpoint(vault: Vault) -> None:
    fill(vault, 50)
    first = vault.audit.verify(incremental=True)
    total = len(vault.audit)
    assert first.ok and first.skipped == 0 and first.checked == total
    assert vault.audit.checkpoint() is not None
    assert vault.audit.checkpoint()[0] == total  # type: ignore[index]
    fill(vault, 7)
    second = vault.audit.verify(incremental=True)
    assert second.ok and second.skipped == total and second.checked == total + 7
    plain = vault.audit.verify()  # the default walks everything, and writes nothing
    assert plain.ok and plain.skipped == 0 and plain.checked == total + 7


def test_a_missing_row_of_the_verified_prefix_is_found(vault: Vault) -> None:
    fill(vault, 20)
    assert vault.audit.verify(incremental=True).ok
    vault._db.execute("DELETE FROM audit WHERE seq = 5")
    report = vault.audit.verify(incremental=True)
    assert not report.ok and "prefix missing" in (report.reason or "")


def test_a_checkpoint_naming_a_damaged_entry_is_not_trusted(vault: Vault) -> None:
    fill(vault, 20)
    assert vault.audit.verify(incremental=True).ok
    mark = vault.audit.checkpoint()
    assert mark is not None
    vault._db.execute("UPDATE audit SET sealed = x'00' WHERE seq = ?", (mark[0],))
    report = vault.audit.verify(incremental=True)
    assert not report.ok and report.skipped == 0 and report.first_bad == mark[0]


def test_only_a_full_walk_sees_a_prefix_row_damaged_in_place(vault: Vault) -> None:
    """The trade-off D29 states, pinned down so that it stays a known one."""
    fill(vault, 20)
    assert vault.audit.verify(incremental=True).ok
    vault._db.execute("UPDATE audit SET sealed = x'00' WHERE seq = 3")
    assert vault.audit.verify(incremental=True).ok
    full = vault.audit.verify()
    assert not full.ok and full.first_bad == 3


async def test_reads_are_served_while_a_verification_runs(vault: Vault) -> None:
    """Structural: the walk runs in a worker thread, so the loop serves reads meanwhile.

    The walk is held mid-way (its progress callback waits on an event the test
    sets), and honest reads plus event-loop ticks must complete while it is
    still running. If the walk ran on the loop, nothing would: the loop would
    be stuck in the callback and the test would time out.
    """
    fill(vault, 3000)
    grants = GrantBook(vault)
    svc = AccessService(vault, grants, limiter=RateLimiter(rate=10_000, burst=10_000))
    await svc.start()
    try:
        req = access_request(ALICE, vault.peer_id, ["contact.email"])
        answer(svc, ALICE.peer_id, dump_message(req))
        grant = grants.approve(req.request_id)
        walking, release = threading.Event(), threading.Event()
        seen: list[int] = []

        def progress(seq: int) -> None:
            seen.append(seq)
            if seq == 1000:
                walking.set()
                assert release.wait(timeout=30)

        task = asyncio.create_task(vault.audit.verify_off_loop(full=True, progress=progress))
        while not walking.is_set():
            await asyncio.sleep(0.001)
        ticks = 0
        for _ in range(50):
            reply = answer(
                svc, ALICE.peer_id, dump_message(read(ALICE, grant.grant_id, ["contact.email"]))
            )
            assert isinstance(reply, ReadResult)
            await asyncio.sleep(0)
            ticks += 1
        assert ticks == 50 and not task.done() and seen[-1] == 1000
        release.set()
        report = await task
        assert report.ok and report.first_bad is None
        # the 50 reads appended while it walked belong to the next verification
        assert report.head_seq < len(vault.audit)
        again = await vault.audit.verify_off_loop()
        assert again.ok and again.skipped == report.head_seq
    finally:
        release.set()
        await svc.aclose()
