"""Trio as a guest on the running asyncio loop, and the two ways across.

py-libp2p is written for trio; the rest of kluis (aiohttp, the vault, the tests)
is asyncio. Rather than run two event loops in two threads and pay for locks and
cross-thread hand-offs on every frame, trio runs in *guest mode*
(:func:`trio.lowlevel.start_guest_run`): its scheduler ticks as callbacks on the
asyncio loop, on the same thread. Only trio's blocking I/O wait happens in a
helper thread.

Because both sides share one thread, the crossings here are plain function
calls, not thread-safe queues:

* asyncio → trio (:meth:`TrioGuest.run`): spawn a trio task directly into a
  nursery and await an asyncio future it resolves. Trio explicitly supports
  host-loop code rescheduling trio tasks in guest mode (that is why
  ``Runner.reschedule`` calls ``force_guest_tick_asap``).
* trio → asyncio (:meth:`TrioGuest.run_asyncio`): create an asyncio task and
  wait on a :class:`trio.Event` that the task's done-callback sets.
* A *sync* function needs no crossing at all: a trio task may simply call it.
  That is the runtime's fast path for frame handlers.

Cancellation goes both ways. Cancelling the asyncio task that awaits
:meth:`~TrioGuest.run` cancels the trio task's own cancel scope and waits (for a
bounded time) until the trio side has unwound, so nothing is left running.
Cancelling the trio task that awaits :meth:`~TrioGuest.run_asyncio` cancels the
asyncio task the same way. An exception on one side is raised on the other.

Trio allows one run per thread, so every :class:`Node` on a loop shares one
guest: :meth:`TrioGuest.acquire` / :meth:`TrioGuest.release` count the users and
the last release shuts trio down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import outcome
import trio

from .._exceptions import LocalError

__all__ = ["GuestCancelled", "GuestError", "TrioGuest"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a cancelled call may take to unwind on the other side before we stop waiting.
_UNWIND_TIMEOUT = 5.0


class GuestError(LocalError):
    """The trio guest is not running (never started, or already stopped)."""


class GuestCancelled(GuestError):
    """The trio side of a call was cancelled by its owner (a nursery shutting down).

    This side ended it ("you closed it"); :class:`~protocol.runtime.Node` reports
    it to its callers as :class:`~protocol.StreamClosed`.
    """


class _Call:
    """One asyncio → trio call: the result future, its cancel scope, an unwind signal."""

    __slots__ = ("finished", "fut", "scope")

    def __init__(self, fut: asyncio.Future[Any]) -> None:
        self.fut = fut
        self.scope = trio.CancelScope()
        #: created only if the asyncio side is cancelled and must wait for trio to unwind
        self.finished: asyncio.Future[None] | None = None


def _settle(fut: asyncio.Future[Any], exc: BaseException | None = None, value: Any = None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(value)
    else:
        fut.set_exception(exc)


class TrioGuest:
    """A trio run hosted by the running asyncio loop.

    Use :meth:`acquire` (shared, reference-counted) from library code; create one
    directly with ``TrioGuest()`` + :meth:`start` only when you own the whole loop.
    """

    _shared: dict[asyncio.AbstractEventLoop, TrioGuest] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._nursery: trio.Nursery | None = None
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self._done: asyncio.Future[outcome.Outcome[None]] = self._loop.create_future()
        self._started = False
        self._stopping = False
        self._users = 0
        self._lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    async def acquire(cls) -> TrioGuest:
        """The running loop's shared guest, started on first use. Pair with :meth:`release`."""
        loop = asyncio.get_running_loop()
        guest = cls._shared.get(loop)
        if guest is None or guest._stopping:
            if guest is not None:  # a previous guest on this loop is still shutting down
                await guest._wait_done()
            guest = cls()
            cls._shared[loop] = guest
        guest._users += 1
        try:
            async with guest._lock:
                if not guest._started:
                    await guest.start()
        except BaseException:
            guest._users -= 1
            if cls._shared.get(loop) is guest and not guest._started:
                del cls._shared[loop]
            raise
        return guest

    async def release(self) -> None:
        """Drop one user; the last one stops trio and waits for it to finish."""
        self._users -= 1
        if self._users <= 0:
            if self._shared.get(self._loop) is self:
                del self._shared[self._loop]
            await self.aclose()

    async def start(self) -> None:
        """Start trio on this loop and wait until its root nursery is open."""
        if self._started:
            return
        try:
            trio.lowlevel.start_guest_run(
                self._main,
                run_sync_soon_threadsafe=self._soon_threadsafe,
                run_sync_soon_not_threadsafe=self._soon,
                done_callback=self._on_done,
                host_uses_signal_set_wakeup_fd=True,
                strict_exception_groups=True,
            )
        except RuntimeError as exc:
            # Trio allows one run per thread: most likely a Node started on an
            # earlier event loop in this thread was never closed.
            raise GuestError("another trio run is still active on this thread") from exc
        self._started = True
        await self._ready

    def _soon_threadsafe(self, fn: Callable[[], object]) -> None:
        self._loop.call_soon_threadsafe(fn)

    def _soon(self, fn: Callable[[], object]) -> None:
        # Guest ticks scheduled from the loop's own thread skip the self-pipe write.
        self._loop.call_soon(fn)

    async def _main(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            _settle(self._ready)
            await trio.sleep_forever()

    def _on_done(self, result: outcome.Outcome[None]) -> None:
        # Called from a guest tick, i.e. on the loop's thread.
        self._nursery = None
        if isinstance(result, outcome.Error) and not isinstance(result.error, trio.Cancelled):
            logger.error("trio guest stopped with %s", type(result.error).__name__)
            _settle(self._ready, GuestError("trio guest failed to start"))
        _settle(self._done, value=result)

    async def aclose(self) -> None:
        """Cancel everything running in trio and wait until the guest run has ended."""
        if not self._started or self._done.done():
            return
        self._stopping = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        await self._wait_done()

    async def _wait_done(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._done), _UNWIND_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._nursery is not None and not self._stopping

    @property
    def nursery(self) -> trio.Nursery:
        """The guest's root nursery (for long-lived trio services)."""
        if self._nursery is None:
            raise GuestError("the trio guest is not running")
        return self._nursery

    # -- asyncio → trio -------------------------------------------------------------

    async def run(
        self,
        afn: Callable[..., Awaitable[T]],
        *args: Any,
        nursery: trio.Nursery | None = None,
    ) -> T:
        """Await trio coroutine function ``afn(*args)`` from asyncio.

        The trio task runs in ``nursery`` (default: the guest's root nursery), so
        an owner that cancels its nursery also ends its calls; the awaiting side
        then gets :class:`GuestCancelled`. Cancelling the awaiting asyncio task
        cancels the trio task and waits until it has unwound.
        """
        target = nursery if nursery is not None else self._nursery
        if target is None or self._stopping:
            raise GuestError("the trio guest is not running")
        call = _Call(self._loop.create_future())
        target.start_soon(self._runner, call, afn, args)
        try:
            return await call.fut
        except asyncio.CancelledError:
            if not call.scope.cancelled_caught and call.finished is None:
                call.finished = self._loop.create_future()
                call.scope.cancel()
                await self._wait_unwound(call.finished)
            raise

    async def _wait_unwound(self, finished: asyncio.Future[None]) -> None:
        # Wait for the trio task to unwind, even if we are cancelled again meanwhile.
        try:
            async with asyncio.timeout(_UNWIND_TIMEOUT):
                while not finished.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(finished)
        except TimeoutError:
            logger.warning("a cancelled trio call did not unwind within %ss", _UNWIND_TIMEOUT)

    @staticmethod
    async def _runner(
        call: _Call, afn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
    ) -> None:
        try:
            with call.scope:
                result = await afn(*args)
                _settle(call.fut, value=result)
            if call.scope.cancelled_caught:
                _settle(call.fut, asyncio.CancelledError())
        except trio.Cancelled:
            # Not our scope: the owning nursery is shutting down.
            _settle(call.fut, GuestCancelled("the trio side was shut down"))
            raise
        except BaseException as exc:
            _settle(call.fut, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            if call.finished is not None and not call.finished.done():
                call.finished.set_result(None)

    def start_soon(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Fire-and-forget a trio task from asyncio (same thread). Errors are logged."""

        async def guarded() -> None:
            try:
                await afn(*args)
            except Exception:
                logger.exception("background trio task failed")

        self.nursery.start_soon(guarded)

    # -- trio → asyncio -------------------------------------------------------------

    async def run_asyncio(
        self,
        coro_fn: Callable[..., Coroutine[Any, Any, T]] | Awaitable[T],
        *args: Any,
    ) -> T:
        """From a trio task: await asyncio work (a coroutine function + args, or an awaitable).

        Cancelling the trio task cancels the asyncio task and waits (bounded) for it.
        """
        aw = coro_fn(*args) if callable(coro_fn) else coro_fn
        task: asyncio.Future[T] = asyncio.ensure_future(aw, loop=self._loop)
        done = trio.Event()
        task.add_done_callback(lambda _t: done.set())
        try:
            await done.wait()
        except trio.Cancelled:
            task.cancel()
            with trio.CancelScope(shield=True), trio.move_on_after(_UNWIND_TIMEOUT):
                await done.wait()
            if task.done() and not task.cancelled():
                task.exception()  # mark retrieved: the caller is gone
            raise
        return task.result()
