"""A business on PostgreSQL: two worker nodes share one book, one vault, request to receipt.

Everything but the database runs in a temporary folder, on 127.0.0.1:

1. a customer's vault (``VaultNode``) with a small profile;
2. the business's store is made with its book in PostgreSQL (``store=URL``);
   a second worker's home gets a copy of the keyfile, nothing else;
3. two business nodes (``BusinessNode`` with ``worker=``) start on that store
   and divide the vault relationships by leases over 64 shards (D28);
4. the business asks for the e-mail and home address; the owner approves;
5. the business reads; the worker that leases the vault's shard, and only it,
   holds the subscription;
6. the owner revokes: that worker deletes the copy, destroys the key and sends
   the signed deletion receipt, which the vault records;
7. the other worker, reading the same book, sees the grant revoked and the copy gone.

The CLI equivalent is ``kluis business init --store URL`` once, then
``kluis business start --store URL --worker web-1`` (and ``web-2``, …) per worker.

Run: ``python examples/business_postgres.py postgresql://user@host:5432/dbname``
(an empty database the user may create tables in; ``$KLUIS_EXAMPLE_POSTGRES``
works too). Exits 0 only if every step behaved.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from protocol import verify
from vault.business import BusinessNode
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.vault import Vault

PASSPHRASE = "a long owner passphrase"
BUSINESS_PASSPHRASE = "a long business passphrase"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]

failures: list[str] = []


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def check(ok: bool, what: str) -> None:
    print(f"   [{'ok' if ok else 'FAILED'}] {what}", flush=True)
    if not ok:
        failures.append(what)


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def main(tmp: Path, url: str) -> None:
    step("the customer's vault starts")
    with Vault.create(tmp / "vault", PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
        v.profile.set("name.given", "Alice")

    step("the business's store: its book in PostgreSQL")
    first = tmp / "web-1"
    async with Requester.create(
        first, BUSINESS_PASSPHRASE, network=False, retention_interval=None, store=url
    ) as biz:
        print(f"   business {biz.peer_id}, book in {biz.store_label}")
        check(biz.store_label.startswith("postgresql://"), "the book is in PostgreSQL")
    second = tmp / "web-2"
    second.mkdir(mode=0o700)
    shutil.copy2(first / "keyfile.json", second / "keyfile.json")  # the identity, nothing else

    async with VaultNode.start(tmp / "vault", PASSPHRASE, listen=LOOPBACK, control_port=None) as vn:
        step("two business worker nodes start on the one store")
        nodes = []
        for home in (first, second):
            node = await BusinessNode.start(
                home, BUSINESS_PASSPHRASE, listen=LOOPBACK, control_port=None, store=url,
                worker=home.name, worker_ttl=3.0, retention_interval=None,
            )  # fmt: skip
            nodes.append(node)
        try:
            web1, web2 = nodes
            check(
                await wait_until(
                    lambda: all(n.biz.share and len(n.biz.share.leases.owned) == 32 for n in nodes)
                ),
                "the 64 shards are divided 32/32",
            )

            step("the business asks for access; the owner approves")
            pending = await web1.biz.request(
                vn.addrs[0],
                fields=["contact.email", "address.home.*"],
                purpose="DeliveryOfGoods",
                purpose_text="deliver your bike",
                days=30,
            )
            vn.approve(pending.request_id)
            grant = await pending.decision(timeout=30)
            check(grant.vault_peer == vn.peer_id, f"grant {grant.grant_id} signed by the vault")

            step("the business reads")
            data = await web1.biz.read(grant)
            for path, value in sorted(data.items()):
                print(f"   {path} = {value}")
            check(data.get("contact.email") == "alice@example.org", "e-mail read")
            check("name.given" not in data, "nothing outside the grant")

            step("the worker that leases the vault's shard holds its subscription")
            owner = next(n for n in nodes if n.biz.local.owns(vn.peer_id))
            other = web2 if owner is web1 else web1
            for n in nodes:  # the grant was written by web-1; web-2 sees it on its next look
                n.biz.book.reload()
                n.holder.refresh()
            check(
                await wait_until(lambda: grant.grant_id in owner.holder.held()),
                f"{owner.worker} holds the subscription",
            )
            check(grant.grant_id not in other.holder.held(), f"{other.worker} does not")

            step("the owner revokes")
            await vn.revoke(grant.grant_id, reason="moved to another shop")
            check(
                await wait_until(lambda: len(vn.grants.receipts(grant.grant_id)) == 1),
                "the vault recorded the signed deletion receipt",
            )
            receipt = vn.grants.receipts(grant.grant_id)[0]
            verify(receipt, web1.biz.peer_id)
            print(f"   receipt {receipt.receipt_id}: reason={receipt.reason.value}, "
                  f"key_destroyed={receipt.key_destroyed}")  # fmt: skip
            check(owner.biz.local_copy(grant) == {}, f"{owner.worker} deleted the copy")
            other.biz.book.reload()
            info = other.biz.grant_info(grant)
            check(
                info.status == "revoked" and other.biz.local_copy(grant) == {},
                f"{other.worker} reads the same book: revoked, copy gone",
            )
        finally:
            for n in nodes:
                await n.close()


def run() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KLUIS_EXAMPLE_POSTGRES")
    if not url:
        print("usage: python examples/business_postgres.py postgresql://user@host:port/dbname")
        return 2
    with tempfile.TemporaryDirectory(prefix="kluis-example-") as tmp:
        asyncio.run(main(Path(tmp), url))
    if failures:
        print(f"\n{len(failures)} step(s) misbehaved: {'; '.join(failures)}")
        return 1
    print("\nall steps behaved")
    return 0


if __name__ == "__main__":
    sys.exit(run())
