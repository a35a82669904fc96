"""A business's whole flow through the requester SDK, against a vault it starts itself.

Everything runs in a temporary folder, on 127.0.0.1:

1. a customer's vault (``VaultNode``) with a small profile;
2. the business (``Requester.ephemeral``) asks for its e-mail and home address;
3. the owner approves (programmatically here; ``kluis approve`` in real life);
4. the business reads, then subscribes and sees the owner's change arrive;
5. the owner revokes: the SDK deletes its copy, destroys the key and sends a
   signed deletion receipt, which the vault records;
6. the next read is refused (``revoked``) without a network call.

Run: ``python examples/business_requester.py``. Exits 0 only if every step behaved.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from protocol import ErrorCode, verify
from vault.node.boss import VaultNode
from vault.requester import AccessDenied, Offer, Requester, Update
from vault.store.vault import Vault

PASSPHRASE = "a long owner passphrase"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]

failures: list[str] = []


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def check(ok: bool, what: str) -> None:
    print(f"   [{'ok' if ok else 'FAILED'}] {what}", flush=True)
    if not ok:
        failures.append(what)


async def wait_until(predicate: object, timeout: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


async def main(tmp: Path) -> None:
    step("the customer's vault starts")
    with Vault.create(tmp / "vault", PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
        v.profile.set("address.home.street", "Melkmarkt 1")
        v.profile.set("name.given", "Alice")
    async with (
        VaultNode.start(tmp / "vault", PASSPHRASE, listen=LOOPBACK, control_port=None) as vn,
        Requester.ephemeral(tmp / "business", listen=LOOPBACK) as biz,
    ):
        vault_addr = vn.addrs[0]
        print(f"   vault:    {vault_addr}")
        print(f"   business: {biz.peer_id}")

        step("the business asks for access")
        pending = await biz.request(
            vault_addr,
            fields=["contact.email", "address.home.*"],
            purpose="DeliveryOfGoods",
            purpose_text="deliver your bike",
            days=30,
            retention_days=0,
            offer=Offer(description="10% off your next order", value_cents=500),
        )
        print(f"   request {pending.request_id} sent; waiting for the owner…")
        decision = asyncio.create_task(pending.decision(timeout=30))
        await asyncio.sleep(0.2)
        check(not decision.done(), "the decision long-polls while the owner thinks")

        step("the owner approves")
        vn.approve(pending.request_id)
        grant = await decision
        check(grant.vault_peer == vn.peer_id, f"grant {grant.grant_id} is signed by the vault")
        print(f"   fields: {', '.join(grant.fields)}")

        step("the business reads")
        data = await biz.read(grant)
        for path, value in sorted(data.items()):
            print(f"   {path} = {value}")
        check(data.get("contact.email") == "alice@example.org", "e-mail read")
        check("name.given" not in data, "nothing outside the grant")
        check(biz.local_copy(grant) == data, "the copy is kept (sealed under a per-grant key)")

        step("the business subscribes; the owner moves house")
        updates: list[Update] = []

        async def follow() -> None:
            async for update in biz.subscribe(grant):
                print(f"   update: {update.path} = {update.value} (version {update.version})")
                updates.append(update)

        follower = asyncio.create_task(follow())
        check(
            await wait_until(lambda: vn.access.subscriptions(grant.grant_id) == 1),
            "subscription open",
        )
        vn.vault.profile.set("address.home.city", "Deventer")
        check(await wait_until(lambda: len(updates) == 1), "the change arrives as an update")
        check(biz.local_copy(grant).get("address.home.city") == "Deventer", "local copy updated")

        step("the owner revokes")
        await vn.revoke(grant.grant_id, reason="moved to another shop")
        await asyncio.wait({follower}, timeout=10)
        check(
            follower.done() and not follower.cancelled() and follower.exception() is None,
            "the subscription ended cleanly on the revoke notice",
        )
        info = biz.grant_info(grant)
        check(info.status == "revoked", "the grant is marked revoked locally")
        check(biz.local_copy(grant) == {}, "the local copy is deleted, its key destroyed")
        check(info.receipt_acked, "the signed deletion receipt was acknowledged")
        recorded = vn.grants.receipts(grant.grant_id)
        check(len(recorded) == 1, "the vault recorded the deletion receipt")
        if recorded:
            verify(recorded[0], biz.peer_id)
            print(f"   receipt {recorded[0].receipt_id}: reason={recorded[0].reason.value}, "
                  f"key_destroyed={recorded[0].key_destroyed}")  # fmt: skip

        step("the business tries to read again")
        try:
            await biz.read(grant)
            check(False, "the read is refused")
        except AccessDenied as exc:
            check(exc.code is ErrorCode.REVOKED, f"refused: {exc.code.value} ({exc.message})")


def run() -> int:
    with tempfile.TemporaryDirectory(prefix="kluis-example-") as tmp:
        asyncio.run(main(Path(tmp)))
    if failures:
        print(f"\n{len(failures)} step(s) misbehaved: {'; '.join(failures)}")
        return 1
    print("\nall steps behaved")
    return 0


if __name__ == "__main__":
    sys.exit(run())
