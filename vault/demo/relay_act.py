"""``kluis demo``, the reach act: a vault with no address of its own, found by peer id alone.

At home, a vault sits behind a router that lets nobody in. The story, each
step checked, all on 127.0.0.1:

1. a relay starts, the kind ``kluis relay`` runs: bootstrap peer, DHT server
   and circuit relay v2 at once (it holds no vault and no personal data);
2. Anna's vault starts listening on *no* address: it holds a slot at the
   relay and advertises ``<relay>/p2p-circuit`` as its only address;
3. a web shop (which dials out only, so no direct path can open between the
   two) is given nothing but the vault's peer id: it finds the vault
   through the relay's DHT and asks for the e-mail address; Anna approves;
4. the shop reads, and the read went through the relay (the frames stay
   end-to-end encrypted between shop and vault: the relay sees sizes and
   timing, never values; docs/threat-model.md);
5. Anna changes her e-mail address and the change reaches the shop by
   subscription, through the relay too.

Hole punching (DCUtR) is off here: on one machine there is no NAT to punch
through, and the point is that the relayed path works on its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from protocol.listen import LOOPBACK
from protocol.runtime import Node
from protocol.runtime.reach import ReachConfig, RelayLimits
from protocol.signing import Identity
from vault.demo.steps import Steps
from vault.node.boss import VaultNode
from vault.requester import Requester, Update
from vault.store.vault import Vault

__all__ = ["run_relay_act"]

#: Short timeouts: everything is on loopback; a hang should fail the demo quickly.
_DIAL_S, _LOOKUP_S = 3.0, 5.0


async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def run_relay_act(tmp: Path, passphrase: str, con: Console, steps: Steps) -> None:
    """Run the reach story. See the module docstring."""
    # py-libp2p warns through logging's last-resort handler when a DHT or relay
    # stream ends early (normal at shutdown); that is noise to a newcomer. A
    # NullHandler silences only the fallback: configured handlers still get them.
    quiet = logging.NullHandler()
    logging.getLogger("libp2p").addHandler(quiet)
    try:
        await _story(tmp, passphrase, con, steps)
    finally:
        logging.getLogger("libp2p").removeHandler(quiet)


async def _story(tmp: Path, passphrase: str, con: Console, steps: Steps) -> None:
    home = tmp / "anna-at-home"
    with con.status("Creating Anna's home vault (Argon2id)…"):
        with Vault.create(home, passphrase) as vault:
            vault.profile.set("name.given", "Anna")
            vault.profile.set("contact.email", "anna.devries@example.org")

    relay = await Node.start(
        Identity.generate(), list(LOOPBACK), reach=ReachConfig.for_relay(RelayLimits())
    )
    try:
        relay_addr = relay.addrs[0]
        steps.check(
            "a relay starts: bootstrap peer, DHT server and circuit relay, as `kluis relay` runs",
            relay.reach is not None and relay.reach.relay_service is not None,
            relay_addr,
        )
        at_home = ReachConfig(
            bootstrap=(relay_addr,),
            reserve="always",
            hole_punch=False,
            dial_timeout=_DIAL_S,
            lookup_timeout=_LOOKUP_S,
        )
        business = ReachConfig(
            bootstrap=(relay_addr,),
            hole_punch=False,
            dial_timeout=_DIAL_S,
            lookup_timeout=_LOOKUP_S,
        )
        async with (
            VaultNode.start(home, passphrase, listen=[], control_port=None, reach=at_home) as vn,
            Requester.open(
                tmp / "webshop",
                passphrase,
                listen=[],  # dials out only: the vault cannot open a direct path back
                reach=business,
                retention_interval=None,
            ) as shop,
        ):
            assert vn.node is not None and shop.node is not None
            reach = vn.node.reach
            reserved = await _until(lambda: reach is not None and reach.reservation is not None)
            own = [a for a in vn.addrs if "/p2p-circuit" not in a]
            steps.check(
                "Anna's vault listens on no address of its own; it holds a slot at the relay",
                reserved and not own and any("/p2p-circuit" in a for a in vn.addrs),
                ", ".join(a.replace(vn.peer_id, "<vault>") for a in vn.addrs) or "no address",
            )

            # The shop is told the peer id and nothing else: no IP, no port.
            started = time.perf_counter()
            pending = await shop.request(
                vn.peer_id,
                fields=["contact.email"],
                purpose="DeliveryOfGoods",
                purpose_text="send your order confirmation",
                days=30,
                retention_days=0,
            )
            found_ms = (time.perf_counter() - started) * 1000
            decision = asyncio.create_task(pending.decision(timeout=30))
            queued = await _until(
                lambda: any(r.request_id == pending.request_id for r in vn.grants.requests())
            )
            steps.check(
                "a web shop given only the vault's peer id finds it through the relay and asks",
                queued,
                f"found and asked in {found_ms:.0f} ms; peer id {vn.peer_id[:16]}…",
            )
            vn.approve(pending.request_id)
            grant = await decision
            steps.check(
                "Anna approves; the shop receives her signed grant, through the relay",
                grant.vault_peer == vn.peer_id,
                f"grant {grant.grant_id}",
            )

            data = await shop.read(grant)
            path = shop.node.path_to(vn.peer_id)
            steps.check(
                "the shop reads the e-mail address; the relay carried only encrypted bytes",
                data.get("contact.email") == "anna.devries@example.org" and path == "relayed",
                f"connection: {path}; Noise encrypts end to end, the relay sees sizes and timing",
            )

            updates: list[Update] = []

            async def follow() -> None:
                async for update in shop.subscribe(grant):
                    updates.append(update)

            follower = asyncio.create_task(follow())
            try:
                await _until(lambda: vn.access.subscriptions(grant.grant_id) == 1)
                vn.vault.profile.set("contact.email", "anna@example.org")
                arrived = await _until(lambda: bool(updates))
                steps.check(
                    "Anna changes her e-mail address; the change reaches the shop via the relay",
                    arrived and updates[0].value == "anna@example.org",
                    f"{updates[0].path}={updates[0].value}" if updates else "no update",
                )
            finally:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
    finally:
        await relay.close()
