"""How a long-running kluis object opens, keeps background work, and closes.

The runtime's :class:`~protocol.runtime.Node`, the vault's ``VaultNode`` and the
business's ``Requester`` share one shape, kept here once:

* **Opening in steps, closing in reverse.** An opener runs its steps inside
  ``async with Steps() as steps:``; each step that must be undone registers its
  undo as soon as it has succeeded (``steps.undo(lock.release, "release the
  lock")``). If a later step fails, the block undoes what was done, last first,
  and the error propagates. On success the opener hands the undo list to the
  object (``obj._adopt(steps)``), and :meth:`Service.close` runs it once. An undo
  that fails is logged and the others still run: closing gets as far as it can.
  Cancellation is never swallowed.
* **One way in, two ways to hold it.** An opener decorated with :func:`opener`
  returns an :class:`Opening`: ``await`` it and close the object yourself, or
  enter it and have it closed when the block ends::

      node = await Node.start(identity)              # close it yourself
      async with Node.start(identity) as node:       # closed on exit
          ...

* **Background tasks in a task group.** :class:`Background` is an
  :class:`asyncio.TaskGroup` that lives as long as its service, not as long as
  one call: the service is opened in one call (often one task) and closed in
  another, and a task group must be entered and left by the same task, so the
  group runs in a task of its own. Closing cancels what is left and waits for
  it. A background task that fails is logged and does not take its siblings
  down; a service stays up through one failed delivery.

This module does no I/O and imports nothing of libp2p, so the sans-I/O core and
``vault`` may use it without starting the network.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine, Generator
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, ParamSpec, Protocol, Self, TypeVar

__all__ = ["Background", "Closable", "Opening", "Service", "Steps", "opener"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class Steps(AsyncExitStack):
    """The undo list of an opener (see the module docstring)."""

    def undo(self, fn: Callable[[], object], what: str) -> None:
        """Run ``fn()`` (awaited if it returns an awaitable) when the steps are undone.

        ``what`` names the undo for the log line if it fails (``"close the store"``).
        """

        async def run() -> None:
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("could not %s", what)

        self.push_async_callback(run)


class Service:
    """The closing half of the shape: :meth:`close` once, and ``async with`` support."""

    _exit: AsyncExitStack | None = None
    _closed: bool = False

    def _adopt(self, steps: Steps) -> None:
        """Take over an opener's undo list; :meth:`close` will run it."""
        self._exit = steps.pop_all()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Undo every step of the opening, last first. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._exit is not None:
            await self._exit.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Opening(Coroutine[Any, Any, C]):
    """What an opener returns: await it for the object, or ``async with`` it to close on exit.

    It is the opener's coroutine itself (the shape of aiohttp's ``session.get``),
    so ``asyncio.run``, ``create_task`` and ``run_coroutine_threadsafe`` take it too.
    """

    __slots__ = ("_coro", "_value")

    def __init__(self, coro: Coroutine[Any, Any, C]) -> None:
        self._coro = coro
        self._value: C | None = None

    def send(self, value: Any) -> Any:
        return self._coro.send(value)

    def throw(self, *args: Any, **kwargs: Any) -> Any:
        return self._coro.throw(*args, **kwargs)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, C]:
        return self._coro.__await__()

    async def __aenter__(self) -> C:
        self._value = await self._coro
        return self._value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        value, self._value = self._value, None
        if value is not None:
            await value.close()


def opener(fn: Callable[P, Coroutine[Any, Any, C]]) -> Callable[P, Opening[C]]:
    """Make an async opener return an :class:`Opening` (``await`` it, or ``async with`` it)."""

    @functools.wraps(fn)
    def open_(*args: P.args, **kwargs: P.kwargs) -> Opening[C]:
        return Opening(fn(*args, **kwargs))

    return open_


class Background:
    """A service's background tasks, in one :class:`asyncio.TaskGroup` (module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._group: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> bool:
        return self._group is not None and not self._stopping.is_set()

    def __len__(self) -> int:
        """How many tasks are still running."""
        return len(self._tasks)

    async def start(self) -> None:
        """Open the task group (in a task of its own). Idempotent."""
        if self._runner is not None:
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._runner = asyncio.get_running_loop().create_task(
            self._run(ready), name=f"{self.name}: background"
        )
        await ready

    async def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                ready.set_result(None)
                await self._stopping.wait()
                for task in list(self._tasks):
                    task.cancel()
        finally:
            self._group = None

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None
    ) -> asyncio.Task[T | None]:
        """Run ``coro`` in the group; the task's result, or None if it failed (logged).

        Raises :class:`RuntimeError` if the group is not running (not started, or closing).
        """
        if self._group is None or self._stopping.is_set():
            coro.close()
            raise RuntimeError(f"{self.name} is not running")
        task = self._group.create_task(self._guard(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: coro.close())  # cancelled before it ran: no warning
        return task

    async def _guard(self, coro: Coroutine[Any, Any, T]) -> T | None:
        try:
            return await coro
        except Exception:
            log.exception("%s: a background task failed", self.name)
            return None

    async def aclose(self, grace: float = 0.0) -> None:
        """Give running tasks ``grace`` seconds to finish, cancel the rest, wait for them."""
        if self._runner is None:
            return
        try:
            if grace > 0 and self._tasks:
                await asyncio.wait(list(self._tasks), timeout=grace)
        finally:
            self._stopping.set()
            await self._runner

    def __repr__(self) -> str:
        return f"Background({self.name}, tasks={len(self._tasks)})"
