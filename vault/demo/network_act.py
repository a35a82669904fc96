"""``kluis demo``, the network act: a vault and two businesses on 127.0.0.1.

The story, each step checked:

1. the customer's vault and two businesses (a bike shop, an insurer) start as
   real libp2p nodes on loopback;
2. the bike shop asks for the e-mail address and home address, for delivery,
   and the owner approves;
3. the shop reads; the customer moves house and the new address reaches the
   shop by subscription;
4. an insurer asks for the birth date, for marketing, and the owner denies;
5. the shop tries a field outside its grant and the vault refuses;
6. the owner revokes: the shop deletes its copy and sends a signed receipt, and
   its next read is refused;
7. contact on Anna's terms and erasure with proof (``vault/demo/contact_act.py``);
8. the audit log shows every decision and access, and verifies.

Everything runs on the same public APIs that businesses (``vault.requester``)
and the owner's node (``vault.node.boss``) offer; the demo has no private shortcuts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from protocol import (
    ACCESS_GRAMMAR,
    AccessDenied,
    Error,
    ErrorCode,
    Read,
    new_nonce,
    sign,
    verify,
)
from protocol.listen import LOOPBACK
from vault.demo.contact_act import run_contact_erasure_story
from vault.demo.steps import Steps
from vault.node.boss import VaultNode
from vault.requester import Offer, Requester, Update
from vault.store.vault import Vault

__all__ = ["audit_summary", "run_network_act"]


NETWORK_PROFILE: dict[str, object] = {
    "name.given": "Anna",
    "name.family": "de Vries",
    "contact.email": "anna.devries@example.org",
    "address.home.street": "Prinsengracht 263",
    "address.home.city": "Amsterdam",
    "address.home.postal_code": "1016 GV",
    "birth_date": "1987-04-12",
}


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``: the network is asynchronous."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def run_network_act(
    tmp: Path, passphrase: str, con: Console, steps: Steps
) -> tuple[VaultNode, Requester] | None:
    """Run the access story. See the module docstring."""
    home = tmp / "anna"
    with con.status("Creating Anna's vault (Argon2id)…"):
        with Vault.create(home, passphrase) as vault:
            for path, value in NETWORK_PROFILE.items():
                vault.profile.set(path, value)

    steps.act("Act 2: businesses ask, Anna decides")
    started = time.perf_counter()
    async with (
        VaultNode.start(home, passphrase, listen=LOOPBACK, control_port=None) as vn,
        Requester.ephemeral(tmp / "bikeshop", listen=LOOPBACK) as shop,
        Requester.ephemeral(tmp / "insurer", listen=LOOPBACK) as insurer,
    ):
        nodes = Table(title="three libp2p nodes on loopback", title_justify="left")
        nodes.add_column("who")
        nodes.add_column("peer id")
        nodes.add_column("listens on")
        nodes.add_row("Anna's vault", vn.peer_id, vn.addrs[0].split("/p2p/")[0])
        nodes.add_row("Fietsenwinkel (bike shop)", shop.peer_id, shop.addrs[0].split("/p2p/")[0])
        nodes.add_row("Verzekeraar (insurer)", insurer.peer_id, insurer.addrs[0].split("/p2p/")[0])
        con.print(nodes)
        steps.check(
            "a vault and two businesses started",
            True,
            f"{(time.perf_counter() - started) * 1000:.0f} ms",
        )
        vault_addr = vn.addrs[0]

        # -- the bike shop asks, Anna approves --------------------------------------------
        pending = await shop.request(
            vault_addr,
            fields=["contact.email", "address.home.*"],
            purpose="DeliveryOfGoods",
            purpose_text="deliver your new bike",
            days=30,
            retention_days=0,
            offer=Offer(description="free delivery", value_cents=1500),
        )
        decision = asyncio.create_task(pending.decision(timeout=30))
        queued = await _until(lambda: any(r.status == "pending" for r in vn.grants.requests()))
        steps.check(
            "the bike shop asks for e-mail and home address, for delivery",
            queued,
            "purpose DeliveryOfGoods, a term of the W3C Data Privacy Vocabulary; 30 days; "
            "offers free delivery",
        )
        vn.approve(pending.request_id)
        grant = await decision
        steps.check(
            "Anna approves; the shop receives a grant signed by her vault",
            grant.vault_peer == vn.peer_id,
            f"grant {grant.grant_id}: {', '.join(grant.fields)}",
        )

        data = await shop.read(grant)
        steps.check(
            "the shop reads exactly what was granted",
            data.get("contact.email") == NETWORK_PROFILE["contact.email"]
            and "birth_date" not in data
            and "name.given" not in data,
            ", ".join(sorted(data)),
        )

        # -- Anna moves house: the update reaches the shop --------------------------------
        updates: list[Update] = []

        async def follow() -> None:
            async for update in shop.subscribe(grant):
                updates.append(update)

        follower = asyncio.create_task(follow())
        await _until(lambda: vn.access.subscriptions(grant.grant_id) == 1)
        vn.vault.profile.set("address.home.street", "Oudegracht 12")
        vn.vault.profile.set("address.home.city", "Utrecht")
        arrived = await _until(lambda: len(updates) >= 2)
        steps.check(
            "Anna moves house; the new address reaches the shop by subscription",
            arrived and shop.local_copy(grant).get("address.home.city") == "Utrecht",
            " and ".join(f"{u.path}={u.value}" for u in updates),
        )

        # -- the insurer asks for marketing, Anna denies -----------------------------------
        asked = await insurer.request(
            vault_addr,
            fields=["birth_date"],
            purpose="Marketing",
            purpose_text="tailored insurance offers",
            days=365,
            retention_days=365,
        )
        await _until(lambda: any(r.request_id == asked.request_id for r in vn.grants.requests()))
        vn.deny(asked.request_id, reason="no marketing, thanks")
        await steps.expect_error_async(
            "an insurer asks for the birth date, for marketing; Anna denies",
            AccessDenied,
            lambda: asked.decision(timeout=10),
        )

        # -- the shop reaches outside its grant ----------------------------------------------
        # The SDK refuses this locally; a curious shop can still hand-craft the frame,
        # so we send it raw and show that the vault itself refuses and audits it.
        raw = sign(
            Read(
                grant_id=grant.grant_id,
                requester=shop.peer_id,
                fields=("birth_date",),
                nonce=new_nonce(),
                ts=shop.now(),
            ),
            shop.identity,
        )
        reply = await shop.node.request(vn.peer_id, ACCESS_GRAMMAR, raw)
        steps.check(
            "the shop tries a field outside its grant; the vault refuses",
            isinstance(reply, Error) and reply.code is ErrorCode.OUT_OF_SCOPE,
            f"{reply.code.value}: {reply.message}" if isinstance(reply, Error) else repr(reply),
        )

        # -- Anna revokes ---------------------------------------------------------------------
        await vn.revoke(grant.grant_id, reason="I bought the bike, thanks")
        await asyncio.wait_for(follower, 10)
        receipts = []
        if await _until(lambda: bool(vn.grants.receipts(grant.grant_id))):
            receipts = vn.grants.receipts(grant.grant_id)
            verify(receipts[0], shop.peer_id)
        steps.check(
            "Anna revokes; the shop deletes its copy and sends a signed receipt",
            shop.local_copy(grant) == {} and len(receipts) == 1,
            f"receipt {receipts[0].receipt_id}, key destroyed: {receipts[0].key_destroyed}"
            if receipts
            else "no receipt",
        )
        await steps.expect_error_async(
            "the shop's next read is refused",
            AccessDenied,
            lambda: shop.read(grant),
        )
        steps.check(
            "…and the vault refuses it too, should the shop bypass its SDK",
            await _vault_refuses_revoked(shop, vn, grant.grant_id),
        )

        # -- contact and erasure (act 3) -------------------------------------------------------
        await run_contact_erasure_story(con, vn, shop, steps)

        # -- the audit log ----------------------------------------------------------------------
        steps.act("The record: Anna's audit log")
        log = Table(title="Anna's audit log (newest 16)", title_justify="left")
        for column in ("seq", "kind", "details"):
            log.add_column(column)
        for entry in vn.vault.audit.tail(16):
            log.add_row(str(entry.seq), entry.kind, audit_summary(entry.details))
        con.print(log)
        report = vn.vault.audit.verify()
        steps.check(
            "the audit log records every decision and access, and verifies",
            report.ok,
            f"{report.checked} entries, hash-chained and signed",
        )
    return None


#: The details worth a glance, in the order a person reads them.
_SUMMARY_KEYS = ("code", "path", "fields", "purpose", "decided_by", "delivered", "reason")


def audit_summary(details: dict[str, object]) -> str:
    """One readable line for an audit entry: the telling keys, peer ids shortened."""
    parts = []
    for key in _SUMMARY_KEYS:
        if key in details:
            value = details[key]
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            parts.append(f"{key}={value}")
    for key in ("peer", "requester"):
        if isinstance(details.get(key), str):
            parts.append(f"{key}={details[key]}")
            break
    return ", ".join(parts)


async def _vault_refuses_revoked(shop: Requester, vn: VaultNode, grant_id: str) -> bool:
    raw = sign(
        Read(
            grant_id=grant_id,
            requester=shop.peer_id,
            fields=("contact.email",),
            nonce=new_nonce(),
            ts=shop.now(),
        ),
        shop.identity,
    )
    reply = await shop.node.request(vn.peer_id, ACCESS_GRAMMAR, raw)
    return isinstance(reply, Error) and reply.code is ErrorCode.REVOKED
