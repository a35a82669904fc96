"""The trio-guest bridge on its own: results, errors and cancellation, both ways."""

from __future__ import annotations

import asyncio

import pytest
import trio

from protocol.runtime import GuestError, TrioGuest


async def test_run_returns_and_raises() -> None:
    guest = await TrioGuest.acquire()
    try:

        async def add(a: int, b: int) -> int:
            await trio.sleep(0)
            return a + b

        async def boom() -> None:
            await trio.sleep(0)
            raise ValueError("from trio")

        assert await guest.run(add, 2, 3) == 5
        with pytest.raises(ValueError, match="from trio"):
            await guest.run(boom)
    finally:
        await guest.release()
    assert not trio.lowlevel.in_trio_run()  # the guest run has ended
    with pytest.raises(GuestError):
        await guest.run(trio.sleep, 0)


async def test_acquire_is_shared_and_counted() -> None:
    first = await TrioGuest.acquire()
    second = await TrioGuest.acquire()
    assert first is second
    await first.release()
    assert first.running  # one user left
    await second.release()
    assert not first.running and not trio.lowlevel.in_trio_run()


async def test_cancelling_asyncio_cancels_trio() -> None:
    guest = await TrioGuest.acquire()
    try:
        entered = asyncio.Event()
        outcome: list[str] = []

        async def slow() -> None:
            entered.set()  # a sync call from trio into asyncio state: same thread
            try:
                await trio.sleep(30)
            except trio.Cancelled:
                outcome.append("cancelled")
                raise
            finally:
                outcome.append("unwound")

        task = asyncio.ensure_future(guest.run(slow))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # run() returns only after the trio side has unwound
        assert outcome == ["cancelled", "unwound"]
        assert len(guest.nursery.child_tasks) == 0
    finally:
        await guest.release()


async def test_run_asyncio_from_trio_and_cancellation() -> None:
    guest = await TrioGuest.acquire()
    try:

        async def app_code(x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        async def trio_side() -> int:
            return await guest.run_asyncio(app_code, 21)

        assert await guest.run(trio_side) == 42

        started = asyncio.Event()
        seen: list[str] = []

        async def never() -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                seen.append("asyncio cancelled")
                raise

        async def trio_with_timeout() -> str:
            with trio.move_on_after(0.05):
                await guest.run_asyncio(never)
            return "timed out"

        assert await guest.run(trio_with_timeout) == "timed out"
        assert started.is_set() and seen == ["asyncio cancelled"]

        async def app_error() -> None:
            raise KeyError("asyncio side")

        async def trio_calls_error() -> None:
            await guest.run_asyncio(app_error)

        with pytest.raises(KeyError):
            await guest.run(trio_calls_error)
    finally:
        await guest.release()
