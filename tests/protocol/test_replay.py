"""Replay guard: nonce once, timestamp inside the window, bounded memory."""

from __future__ import annotations

import pytest

from protocol import RateLimited, ReplayError, ReplayGuard
from protocol.clock import now_ms
from tests.conftest import ManualClock


def test_nonce_is_good_once() -> None:
    clock = ManualClock(1_000_000)
    guard = ReplayGuard(window_ms=1000, clock=clock)
    guard.check("peer", "n1", clock.now)
    with pytest.raises(ReplayError):
        guard.check("peer", "n1", clock.now)
    guard.check("other-peer", "n1", clock.now)  # nonces are per peer
    guard.check("peer", "n2", clock.now)


@pytest.mark.parametrize("offset", [-1001, 1001, -(10**9), 10**9])
def test_timestamp_outside_window(offset: int) -> None:
    clock = ManualClock(1_000_000)
    guard = ReplayGuard(window_ms=1000, clock=clock)
    with pytest.raises(ReplayError):
        guard.check("peer", "n", clock.now + offset)
    assert len(guard) == 0


@pytest.mark.parametrize("offset", [-1000, 0, 1000])
def test_timestamp_at_the_edges(offset: int) -> None:
    clock = ManualClock(1_000_000)
    ReplayGuard(window_ms=1000, clock=clock).check("peer", "n", clock.now + offset)


def test_replay_after_eviction_is_still_refused_by_the_window() -> None:
    clock = ManualClock(1_000_000)
    guard = ReplayGuard(window_ms=1000, clock=clock)
    ts = clock.now
    guard.check("peer", "n", ts)
    clock.now += 1001
    guard.check("peer", "fresh", clock.now)  # triggers eviction
    assert len(guard) == 1
    with pytest.raises(ReplayError):
        guard.check("peer", "n", ts)


def test_memory_is_bounded_per_peer() -> None:
    clock = ManualClock(1_000_000)
    guard = ReplayGuard(window_ms=1000, max_nonces_per_peer=3, clock=clock)
    for i in range(3):
        guard.check("greedy", f"n{i}", clock.now)
    with pytest.raises(RateLimited):
        guard.check("greedy", "n3", clock.now)
    guard.check("polite", "n0", clock.now)  # others are unaffected
    clock.now += 1001  # the window passes and the greedy peer may talk again
    guard.check("greedy", "n4", clock.now)


def test_memory_is_bounded_in_total() -> None:
    clock = ManualClock(1_000_000)
    guard = ReplayGuard(window_ms=1000, max_nonces=5, clock=clock)
    for i in range(5):
        guard.check(f"peer{i}", "n", clock.now)
    with pytest.raises(RateLimited):
        guard.check("peer99", "n", clock.now)
    assert len(guard) == 5
    clock.now += 2000
    guard.check("peer99", "n", clock.now)
    assert len(guard) == 1


def test_future_timestamps_are_remembered_long_enough() -> None:
    clock = ManualClock(1_000_000)
    guard = ReplayGuard(window_ms=1000, clock=clock)
    ts = clock.now + 1000  # as far ahead as allowed
    guard.check("peer", "n", ts)
    clock.now += 1999  # still inside the window for ts
    guard.check("peer", "other", clock.now)
    with pytest.raises(ReplayError):
        guard.check("peer", "n", ts)


def test_defaults_and_validation() -> None:
    guard = ReplayGuard()
    guard.check("peer", "n", now_ms())
    assert guard.window_ms == 120_000
    with pytest.raises(ValueError):
        ReplayGuard(window_ms=0)
