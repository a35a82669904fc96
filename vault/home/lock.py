"""One running node per vault: an exclusive ``flock`` on ``KLUIS_HOME/kluis.lock``.

Why (docs/architecture.md, D2): the audit log is a hash chain, so two writers
would fork it. ``kluis start`` takes this lock *before* it unlocks the vault
(an unlock is itself an audited write), and holds it until it stops. The lock
file holds the holder's pid so a second start can say who is running.

``flock`` locks die with the process, so a crashed node never leaves a stale
lock behind; a leftover file with a dead pid is simply re-locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from vault._exceptions import VaultError

__all__ = ["LOCK_NAME", "AlreadyRunning", "VaultLock", "running_pid"]

LOCK_NAME = "kluis.lock"


class AlreadyRunning(VaultError):
    """Another node holds this vault."""

    def __init__(self, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"vault is already running ({who})")
        self.pid = pid


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class VaultLock:
    """The exclusive lock on one vault folder. Use as a context manager, or acquire/release."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyRunning`; never blocks."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(_read_pid(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> VaultLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def running_pid(home: Path) -> int | None:
    """The pid of the node holding ``home`` (0 if unknown), or None if none runs.

    Probes with a non-blocking shared lock, so it never disturbs a running node.
    """
    path = Path(home) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(path) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
