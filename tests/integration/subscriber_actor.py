"""A requester holding one subscription in its own process, for the ``kill -9`` tests.

``python -m tests.integration.subscriber_actor HOME GRANT_ID`` opens the
requester home (a copy shares its identity, as business workers do), subscribes
to the grant, prints ``held`` once the vault acknowledged it, and waits to be
killed. A refusal is printed as ``refused CODE`` and the process exits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from protocol import KluisError
from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE
from vault.requester import Requester


async def main(home: Path, grant_id: str) -> None:
    async with await Requester.open(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as biz:
        try:
            async for _ in biz.subscribe(grant_id, on_subscribed=lambda: print("held", flush=True)):
                pass
        except KluisError as exc:
            print(f"refused {exc.code.value}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
