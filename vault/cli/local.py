"""The owner's commands work with and without a running node, through one API (D37).

With a node running, a command is a client of its control API (D2: the node is
the one writer of the store). Without one, :func:`owner_client` starts the same
node for the duration of the command — the vault unlocked here, **no network**
(no libp2p), its control API on an ephemeral 127.0.0.1 port — in a background
thread, and hands back a client of it. So the command runs the very handlers,
checks and error answers it would meet on the running node; there is no second
implementation to drift. It costs an unlock and the import of the control API
(about a second), which is the price of not keeping a node running.

What needs a peer or the running node's memory says so instead
(:class:`~vault.cli.client.NoRunningNode`, exit 4): see the table in docs/cli.md.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vault.cli.client import ControlClient, node_client
from vault.cli.console import note
from vault.cli.options import read_passphrase
from vault.home.paths import resolve_home

if TYPE_CHECKING:
    import asyncio

__all__ = ["LocalClient", "owner_client"]

#: How long a command may take to stop its node (close the store, audit the stop).
STOP_TIMEOUT_S = 60.0


class LocalClient(ControlClient):
    """A client of the node this command started (no node was running): no network."""

    local = True


@contextlib.contextmanager
def owner_client(home: Path | None, passphrase_file: Path | None) -> Iterator[ControlClient]:
    """The running node's client; else a client of a node started for this command."""
    client = node_client(home, passphrase_file)
    if client is not None:
        yield client
        return
    folder = resolve_home(home)
    passphrase = read_passphrase(passphrase_file)  # here: a prompt needs the main thread
    node = _LocalNode(folder, passphrase)
    with note("Unlocking the vault (Argon2id)…"):
        node.start()
    try:
        yield LocalClient(node.url, node.token)
    finally:
        node.stop()


class _LocalNode:
    """A :class:`~vault.node.boss.VaultNode` without network, run on its own event loop
    in a daemon thread; :meth:`start` returns once it serves (or raises its error)."""

    def __init__(self, folder: Path, passphrase: str) -> None:
        self._folder = folder
        self._passphrase = passphrase
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kluis-local-node", daemon=True)
        self.url = ""
        self.token = ""

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT_S)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        import asyncio

        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the main thread, raised there
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        import asyncio

        from vault.node.boss import VaultNode

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        node = await VaultNode.start(self._folder, self._passphrase, network=False, control_port=0)
        async with node:
            assert node.control is not None
            self.url, self.token = node.control.url, node.control.token
            self._ready.set()
            await self._stop.wait()
