"""Reach across real network boundaries: Linux namespaces, veth links, nftables NAT.

Every node is a real process in its own namespace (``netns_actor.py``, and
``kluis relay`` itself). Topology of the routed stories (a), (c), (d)::

    vault A 10.77.1.2 ── 10.77.1.1  R (relays, forwarding off)  10.77.2.1 ── 10.77.2.2 business B

A and B have no route to each other: every byte between them goes through a
relay. The NAT story (b) is in :func:`test_b_behind_two_nats_dcutr_makes_the_read_direct`.
The slot-leak regression (e) is ``tests/protocol/runtime/test_staying_up.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .netns import Net, Proc, unavailable

_why = unavailable()
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=_why or ""),
    pytest.mark.timeout(90),
]

VAULT_PORT = 4747
BIZ_PORT = 4748


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    world = Net(tmp_path)
    try:
        yield world
    finally:
        await world.close()


class Routed:
    """The routed world: namespaces A, R, B, two ``kluis relay`` processes in R."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.a, self.r, self.b = net.ns("a"), net.ns("r"), net.ns("b")
        self.a_if, _ = net.link(self.a, "10.77.1.2/24", self.r, "10.77.1.1/24")
        net.link(self.b, "10.77.2.2/24", self.r, "10.77.2.1/24")
        net.forwarding(self.r, False)
        self.relays: list[tuple[Proc, str]] = []

    async def start_relays(self, count: int) -> None:
        first = await self.net.relay(self.r, "relay1", 4749)
        self.relays.append(first)
        for n in range(2, count + 1):
            boot = f"/ip4/127.0.0.1/tcp/4749/p2p/{first[1]}"
            self.relays.append(await self.net.relay(self.r, f"relay{n}", 4748 + n, boot))

    def seen_from(self, side: str) -> list[str]:
        ip = "10.77.1.1" if side == "a" else "10.77.2.1"
        return [f"/ip4/{ip}/tcp/{4748 + n}/p2p/{pid}" for n, (_, pid) in enumerate(self.relays, 1)]

    async def vault(
        self, name: str = "vault", listen: str = f"/ip4/0.0.0.0/tcp/{VAULT_PORT}"
    ) -> Proc:
        boot = [arg for addr in self.seen_from("a") for arg in ("--bootstrap", addr)]
        return await self.net.actor(
            self.a, name, "vault", "--listen", listen, *boot, "--reserve", "always"
        )

    async def business(self) -> Proc:
        boot = [arg for addr in self.seen_from("b") for arg in ("--bootstrap", addr)]
        return await self.net.actor(
            self.b, "business", "business", "--listen", f"/ip4/0.0.0.0/tcp/{BIZ_PORT}", *boot
        )


async def _reserved(vault: Proc) -> dict[str, object]:
    """The vault's next report of a relay slot held (not of one lost)."""
    event = await vault.expect("relay")
    while event["relay"] is None:
        event = await vault.expect("relay")
    return event


async def _granted(vault: Proc, biz: Proc, vault_id: str) -> dict[str, object]:
    """The business asks by peer id alone; the owner approves; the grant arrives."""
    await biz.send(request=vault_id)
    pending = await biz.expect("pending")
    assert pending["path"] == "relayed"
    asked = await vault.expect("request")
    assert asked["request"] == pending["pending"]
    await vault.send(approve=asked["request"])
    return await biz.expect("grant")


async def test_a_request_read_subscribe_through_a_relay_by_peer_id(net: Net) -> None:
    world = Routed(net)
    await world.start_relays(1)
    vault = await world.vault()
    biz = await world.business()
    vault_id = (await vault.expect("ready"))["ready"]
    await biz.expect("ready")
    reserved = await _reserved(vault)
    assert world.relays[0][1] in reserved["relay"]

    grant = (await _granted(vault, biz, vault_id))["grant"]
    await biz.send(read=True)
    got = await biz.expect("read")
    assert got["read"]["contact.email"] == "anna@example.org"
    assert got["path"] == "relayed"  # no route between the subnets: only the relay

    await biz.send(subscribe=True)
    await biz.expect("subscribing")
    held = 0
    for _ in range(100):  # until the vault holds the subscription (bounded, ~20 s)
        await vault.send(subscribers=grant)
        held = (await vault.expect("subscribers"))["subscribers"]
        if held == 1:
            break
        await asyncio.sleep(0.2)
    assert held == 1
    await vault.send(set=["address.home.city", "Utrecht"])
    update = await biz.expect("update")
    assert update["update"] == ["address.home.city", "Utrecht"]
    assert update["path"] == "relayed"


async def test_c_a_vault_restarted_on_a_new_address_is_reached_by_peer_id(net: Net) -> None:
    world = Routed(net)
    await world.start_relays(1)
    vault = await world.vault()
    biz = await world.business()
    vault_id = (await vault.expect("ready"))["ready"]
    await biz.expect("ready")
    await _reserved(vault)
    await _granted(vault, biz, vault_id)
    await biz.send(read=True)
    assert (await biz.expect("read"))["read"]["contact.email"] == "anna@example.org"

    await vault.send(quit=True)
    await vault.proc.wait()
    net.add_addr(world.a, world.a_if, "10.77.1.3/24")  # a new IP and a new port
    moved = await world.vault("vault", listen="/ip4/10.77.1.3/tcp/4757")
    ready = await moved.expect("ready")
    assert ready["ready"] == vault_id
    assert not any(f"/tcp/{VAULT_PORT}/" in a for a in ready["addrs"])
    await _reserved(moved)  # reachable again once it holds a relay slot
    await biz.send(read=True)  # the business names the vault by its peer id only
    again = await biz.expect("read")
    assert again["read"]["contact.email"] == "anna@example.org"


async def test_d_a_vault_moves_to_a_second_relay_when_its_relay_dies(net: Net) -> None:
    world = Routed(net)
    await world.start_relays(2)
    vault = await world.vault()
    biz = await world.business()
    vault_id = (await vault.expect("ready"))["ready"]
    await biz.expect("ready")
    event = await _reserved(vault)
    (first, first_id), (_, second_id) = world.relays
    assert first_id in event["relay"]
    await _granted(vault, biz, vault_id)

    await first.wait_dead()  # the relay's machine goes away; nobody touches the vault
    event = await _reserved(vault)
    assert second_id in event["relay"]
    assert any(second_id in a and "/p2p-circuit" in a for a in event["addrs"])
    await biz.send(read=True)
    got = await biz.expect("read")
    assert got["read"]["contact.email"] == "anna@example.org"
    assert got["path"] == "relayed"


async def test_b_behind_two_nats_dcutr_makes_the_read_direct(net: Net) -> None:
    """Vault and business each behind a home router (nftables masquerade, unsolicited
    inbound dropped); a public relay. DCUtR punches a direct connection; the relay is
    then killed and the read still arrives, over the one connection left: the direct one.

    Topology::

        A 192.168.1.2 ─ NA [masq] 10.99.1.2 ─ 10.99.1.1 P (relay, forwards)
        B 192.168.2.2 ─ NB [masq] 10.99.2.2 ─ 10.99.2.1 P
    """
    a, na, p, nb, b = (net.ns(n) for n in ("a", "na", "p", "nb", "b"))
    na_wan, _ = net.link(na, "10.99.1.2/24", p, "10.99.1.1/24")
    nb_wan, _ = net.link(nb, "10.99.2.2/24", p, "10.99.2.1/24")
    net.link(a, "192.168.1.2/24", na, "192.168.1.1/24")
    net.link(b, "192.168.2.2/24", nb, "192.168.2.1/24")
    net.forwarding(p, True)
    net.route(na, "10.99.1.1")
    net.route(nb, "10.99.2.1")
    net.route(a, "192.168.1.1")
    net.route(b, "192.168.2.1")
    net.home_router(na, na_wan)
    net.home_router(nb, nb_wan)

    relay, relay_id = await net.relay(p, "relay", 4749)
    vault = await net.actor(
        a, "vault", "vault", "--listen", f"/ip4/0.0.0.0/tcp/{VAULT_PORT}",
        "--bootstrap", f"/ip4/10.99.1.1/tcp/4749/p2p/{relay_id}", "--hole-punch",
    )  # fmt: skip
    biz = await net.actor(
        b, "business", "business", "--listen", f"/ip4/0.0.0.0/tcp/{BIZ_PORT}",
        "--bootstrap", f"/ip4/10.99.2.1/tcp/4749/p2p/{relay_id}", "--hole-punch",
    )  # fmt: skip
    vault_id = (await vault.expect("ready"))["ready"]
    await biz.expect("ready")
    await _reserved(vault)  # AutoNAT did not find it public: it holds a relay slot
    await _granted(vault, biz, vault_id)  # first contact is relayed (asserted inside)

    conns: list[str] = []
    punch = asyncio.get_running_loop().time()
    for _ in range(100):  # DCUtR runs in the background; bounded wait (~20 s)
        await biz.send(path=True)
        conns = (await biz.expect("conns"))["conns"]
        if "direct" in conns:
            break
        await asyncio.sleep(0.2)
    assert "direct" in conns, f"DCUtR did not punch through: {conns}"
    print(f"DCUtR: direct after {asyncio.get_running_loop().time() - punch:.1f} s")

    await relay.wait_dead()  # from now on only a direct connection can carry a read
    await biz.send(read=True)
    got = await biz.expect("read")
    assert got["read"]["contact.email"] == "anna@example.org"
    # A relayed connection object may still be listed (the business has not yet seen
    # the relay go), but no byte can cross a dead relay: the read went direct.
    assert "direct" in got["conns"] and got["path"] == "direct"
