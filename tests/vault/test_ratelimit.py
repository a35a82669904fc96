"""Per-peer token buckets: a flood from one peer leaves the others untouched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import RateLimited
from vault.services.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_then_refilled() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    assert all(limiter.try_acquire("a") for _ in range(5))
    assert not limiter.try_acquire("a")
    with pytest.raises(RateLimited):
        limiter.acquire("a")
    clock.now += 0.1  # one token back at 10/s
    assert limiter.try_acquire("a")
    assert not limiter.try_acquire("a")


def test_one_flooding_peer_does_not_starve_another() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=3, clock=clock)
    refused = sum(not limiter.try_acquire("mallory") for _ in range(1000))
    assert refused == 997
    assert all(limiter.try_acquire("alice") for _ in range(3))


def test_peer_table_is_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_peers=10, clock=FakeClock())
    for i in range(1000):
        limiter.try_acquire(f"sybil-{i}")
    assert len(limiter) == 10


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 2)), max_size=200))
def test_never_more_than_burst_plus_refill(events: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=4, clock=clock)
    granted = {"a": 0, "b": 0, "c": 0}
    for peer, advance in events:
        clock.now += advance
        granted[peer] += limiter.try_acquire(peer)
    for count in granted.values():
        assert count <= 4 + 2 * clock.now + 1e-9
