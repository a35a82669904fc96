"""Contact yield per mailing in the PostgreSQL book (D43): workers count without losing any.

Two workers (two store connections to one real PostgreSQL server) count sent
messages of one mailing at the same time from two threads; the write-lock row
serializes their read-modify-write, so no increment is lost. A signal one
worker applies is seen by the other; nothing of a mailing is in plaintext.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import BIZ_PASSPHRASE, ManualClock
from tests.pg.test_pg_store import everything, worker_home
from tests.vault.requester.test_contact_signals import FakeVault
from vault.requester import Requester

PER_WORKER = 40


@pytest.fixture
async def workers(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[Requester, Requester]]:
    clock = ManualClock()
    first = await Requester.create(
        tmp_path / "w1", BIZ_PASSPHRASE, network=False, clock=clock, retention_interval=None,
        store=pg_url,
    )  # fmt: skip
    try:
        second = await Requester.open(
            worker_home(tmp_path / "w1", tmp_path / "w2"), BIZ_PASSPHRASE, network=False,
            clock=clock, retention_interval=None, store=pg_url,
        )  # fmt: skip
        async with second:
            yield first, second
    finally:
        await first.close()


async def test_two_workers_count_one_mailing_without_losing_an_increment(
    workers: tuple[Requester, Requester], pg_url: str
):
    first, second = workers
    alice = FakeVault()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def count(worker: Requester, name: str) -> None:
        try:
            start.wait()
            for i in range(PER_WORKER):
                worker.yields.sent("black-friday-2026", f"{name}-{i}", alice.peer_id, "offer")
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [
        threading.Thread(target=count, args=(w, n)) for w, n in ((first, "a"), (second, "b"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    [row] = second.yields.mailings()
    assert row.sent == 2 * PER_WORKER

    # a read told to the first worker is counted where the second sees it
    alice.deliver(first, alice.signal(first, "sharing", shares_reads=True))
    alice.deliver(first, alice.signal(first, "read", message_id="b-7"))
    [row] = second.yields.mailings()
    assert (row.read, row.read_base) == (1, 1)
    assert second.yields.vault_signals(alice.peer_id).shares_reads is True
    blob = everything(pg_url)
    for needle in ("black-friday-2026", "b-7", alice.peer_id):
        assert needle.encode() not in blob, needle
