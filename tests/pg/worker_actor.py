"""A business worker in its own process, for the ``kill -9`` test.

``python -m tests.pg.worker_actor HOME STORE_URL WORKER TTL`` opens the shared
store without a network (so it can deliver nothing: the receipts it holds stay
owed), joins the workers, prints ``ready N`` (N shards held) and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import BIZ_PASSPHRASE
from vault.requester import Requester


async def main(home: Path, url: str, worker: str, ttl: float) -> None:
    async with await Requester.open(
        home, BIZ_PASSPHRASE, network=False, retention_interval=None, store=url
    ) as biz:
        share = await biz.join_workers(worker, ttl=ttl)
        print(f"ready {len(share.leases.owned)}", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])))
