"""What every test folder shares: suite-wide settings, the test passphrases, a clock that moves
only when told, and a bounded poll. Nodes listen on :data:`protocol.listen.LOOPBACK` in every test.

New vaults get RFC 9106's Argon2id costs (64 MiB, t=3), about 5x the OWASP floor.
The suite creates and opens hundreds of vaults, in this process and in
subprocesses (which inherit the environment), so it asks for the floor instead
(``vault.store.crypto.ENV_TEST_FAST_KDF``). Tests of the default costs unset it.

Import the constants and helpers with ``from tests.conftest import ...``; the
fixtures of one folder live in that folder's ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

os.environ.setdefault("KLUIS_TEST_FAST_KDF", "1")

#: The owner's passphrase in every test vault.
PASSPHRASE = "correct horse battery"
#: A business's passphrase, for tests where its store outlives one ``Requester``.
BIZ_PASSPHRASE = "business horse battery"
#: 2025-01-01T00:00:00Z, where test clocks start.
START_MS = 1_735_689_600_000


class ManualClock:
    """Milliseconds that move only when told to (set ``now`` or call :meth:`advance`)."""

    def __init__(self, start: int = START_MS) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


async def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds (a bound, not a speed test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
