"""The shared lifecycle: open in steps, close in reverse, openers, background task groups."""

from __future__ import annotations

import asyncio
import logging

import pytest

from protocol.lifecycle import Background, Service, Steps, opener


class Thing(Service):
    """A service whose opener records what it does, and can be told to fail."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @classmethod
    @opener
    async def open(cls, log: list[str], *, fail_at: str | None = None) -> Thing:
        async with Steps() as steps:
            for step in ("lock", "store", "node"):
                if step == fail_at:
                    raise RuntimeError(f"{step} failed")
                log.append(f"+{step}")
                steps.undo(lambda step=step: log.append(f"-{step}"), f"undo {step}")
            thing = cls(log)
            thing._adopt(steps)
        return thing


async def test_close_undoes_the_steps_in_reverse_once() -> None:
    log: list[str] = []
    thing = await Thing.open(log)
    assert not thing.closed
    await thing.close()
    await thing.close()
    assert thing.closed
    assert log == ["+lock", "+store", "+node", "-node", "-store", "-lock"]


async def test_a_failed_open_undoes_what_was_done() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="node failed"):
        await Thing.open(log, fail_at="node")
    assert log == ["+lock", "+store", "-store", "-lock"]


async def test_the_opening_is_a_context_manager_and_a_coroutine() -> None:
    log: list[str] = []
    async with Thing.open(log) as thing:
        assert isinstance(thing, Thing) and log == ["+lock", "+store", "+node"]
    assert thing.closed and log[-1] == "-lock"
    # await-then-async-with, the old shape, still works
    async with await Thing.open([]) as again:
        assert not again.closed
    assert again.closed
    # and it is a real coroutine: tasks take it
    task = asyncio.create_task(Thing.open([]))
    third = await task
    await third.close()


async def test_an_opening_that_fails_to_enter_closes_nothing() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError):
        async with Thing.open(log, fail_at="store"):
            raise AssertionError("not reached")  # pragma: no cover
    assert log == ["+lock", "-lock"]


async def test_a_failing_undo_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    def boom() -> None:
        raise OSError("disk gone")

    steps = Steps()
    steps.undo(lambda: done.append("first"), "undo first")
    steps.undo(boom, "flush the disk")

    async def last() -> None:
        done.append("last")

    steps.undo(last, "undo last")
    with caplog.at_level(logging.ERROR, logger="protocol.lifecycle"):
        await steps.aclose()
    assert done == ["last", "first"]
    assert "could not flush the disk" in caplog.text


async def test_closing_does_not_swallow_cancellation() -> None:
    started = asyncio.Event()
    undone: list[str] = []

    async def slow_undo() -> None:
        started.set()
        await asyncio.sleep(30)

    steps = Steps()
    steps.undo(lambda: undone.append("outer"), "undo outer")
    steps.undo(slow_undo, "slow undo")
    closer = asyncio.create_task(steps.aclose())
    await started.wait()
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert undone == ["outer"]  # the remaining undos still ran


async def test_background_runs_tasks_and_a_failure_spares_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    group = Background("test")
    await group.start()
    gate = asyncio.Event()

    async def fails() -> int:
        raise ValueError("bad")

    async def waits() -> str:
        await gate.wait()
        return "done"

    with caplog.at_level(logging.ERROR, logger="protocol.lifecycle"):
        failed = group.spawn(fails())
        assert await failed is None
    assert "a background task failed" in caplog.text
    survivor = group.spawn(waits(), name="waits")
    gate.set()
    assert await survivor == "done"
    await group.aclose()


async def test_background_close_cancels_what_is_left_and_refuses_new_work() -> None:
    group = Background("test")
    await group.start()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    task = group.spawn(forever())
    await asyncio.sleep(0)
    await group.aclose()
    assert cancelled.is_set() and task.cancelled()
    assert not group.running and len(group) == 0
    coro = forever()
    with pytest.raises(RuntimeError, match="not running"):
        group.spawn(coro)  # closed (no "never awaited" warning either)


async def test_background_grace_lets_short_work_finish() -> None:
    group = Background("test")
    await group.start()

    async def short() -> str:
        await asyncio.sleep(0.01)
        return "finished"

    task = group.spawn(short())
    await group.aclose(grace=5.0)
    assert task.result() == "finished"


async def test_background_close_is_cancellable_and_still_ends_the_group() -> None:
    group = Background("test")
    await group.start()
    task = group.spawn(asyncio.sleep(3600))
    closer = asyncio.create_task(group.aclose(grace=3600))
    await asyncio.sleep(0.01)
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert task.cancelled() and not group.running


async def test_spawn_before_start_is_refused() -> None:
    group = Background("test")

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError):
        group.spawn(nothing())
    await group.aclose()  # closing a group never started is fine
