"""One kluis node in its own process, driven by JSON lines: the parts of the namespace tests.

Run as ``ip netns exec NS python -m tests.integration.netns_actor ROLE ...``.
Each line on stdin is a command (a JSON object); each event goes to stdout as
one JSON object per line. ``vault`` is a customer's :class:`VaultNode` (the
owner decides through commands: ``{"approve": id}``, ``{"set": [path, value]}``);
``business`` is the :class:`Requester` SDK (``{"request": peer_id}``,
``{"read": true}``, ``{"reads": n}`` (timed, for the benchmark),
``{"subscribe": true}``). Both report how they are connected
(``"direct"``/``"relayed"``), which is what the tests check. The process ends on
``{"quit": true}``, on EOF, or after ``--lifetime`` seconds, whichever is first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from protocol.runtime.reach import ReachConfig

PASSPHRASE = "netns horse battery staple"  # a throwaway test vault
PROFILE = {
    "contact.email": "anna@example.org",
    "address.home.street": "Prinsengracht 263",
    "address.home.city": "Amsterdam",
}


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def _commands() -> Any:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip():
            yield json.loads(line)


def _reach(args: argparse.Namespace) -> ReachConfig:
    return ReachConfig(
        bootstrap=tuple(args.bootstrap),
        reserve=args.reserve,
        hole_punch=args.hole_punch,
        dial_timeout=3.0,
        lookup_timeout=8.0,
    )


async def run_vault(args: argparse.Namespace) -> None:
    from vault.node.boss import VaultNode
    from vault.store.vault import Vault

    home = Path(args.home)
    if not home.exists():
        with Vault.create(home, PASSPHRASE) as vault:
            for path, value in PROFILE.items():
                vault.profile.set(path, value)
    async with await VaultNode.start(
        home, PASSPHRASE, listen=args.listen, control_port=None, reach=_reach(args)
    ) as vn:
        node = vn.node
        assert node is not None and node.reach is not None
        reach = node.reach
        emit(ready=vn.peer_id, addrs=vn.addrs)
        seen: set[str] = set()
        relay: str | None = None

        async def watch() -> None:
            nonlocal relay
            while True:
                for state in vn.grants.requests("pending"):
                    if state.request_id not in seen:
                        seen.add(state.request_id)
                        emit(request=state.request_id)
                now = reach.reservation.addr if reach.reservation is not None else None
                if now != relay:
                    relay = now
                    emit(relay=now, addrs=vn.addrs)
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        try:
            async for cmd in _commands():
                if "approve" in cmd:
                    vn.approve(cmd["approve"])
                    emit(approved=cmd["approve"])
                elif "set" in cmd:
                    path, value = cmd["set"]
                    vn.vault.profile.set(path, value)
                    emit(was_set=path)
                elif "subscribers" in cmd:
                    emit(subscribers=vn.access.subscriptions(cmd["subscribers"]))
                elif "quit" in cmd:
                    break
        finally:
            watcher.cancel()


async def run_business(args: argparse.Namespace) -> None:
    from vault.requester import Requester

    async with await Requester.open(
        args.home, PASSPHRASE, listen=args.listen, reach=_reach(args), retention_interval=None
    ) as biz:
        node = biz.node
        assert node is not None
        emit(ready=biz.peer_id, addrs=node.addrs)
        grant: Any = None
        vault_peer = ""
        tasks: list[asyncio.Task[None]] = []

        async def decide(pending: Any) -> None:
            nonlocal grant
            grant = await pending.decision(timeout=60)
            emit(grant=grant.grant_id, path=node.path_to(vault_peer))

        async def follow() -> None:
            try:
                async for update in biz.subscribe(grant):
                    emit(update=[update.path, update.value], path=node.path_to(vault_peer))
            except Exception as exc:
                emit(error=f"subscription: {type(exc).__name__}: {exc}")

        async for cmd in _commands():
            try:
                if "request" in cmd:
                    vault_peer = cmd["request"]
                    pending = await biz.request(
                        vault_peer,
                        fields=cmd.get("fields", ["contact.email", "address.home.*"]),
                        purpose="DeliveryOfGoods",
                        purpose_text="deliver your bike",
                    )
                    emit(pending=pending.request_id, path=node.path_to(vault_peer))
                    tasks.append(asyncio.create_task(decide(pending)))
                elif "read" in cmd:
                    data = await biz.read(grant)
                    emit(read=data, path=node.path_to(vault_peer), conns=_kinds(node, vault_peer))
                elif "reads" in cmd:  # benchmarks/bench_reach.py: n timed reads, in ms
                    timed = []
                    for _ in range(int(cmd["reads"])):
                        started = time.perf_counter()
                        await biz.read(grant)
                        timed.append((time.perf_counter() - started) * 1000)
                    emit(reads=timed, path=node.path_to(vault_peer))
                elif "subscribe" in cmd:
                    tasks.append(asyncio.create_task(follow()))
                    emit(subscribing=True)
                elif "connect" in cmd:
                    vault_peer = cmd["connect"]
                    await node.connect(vault_peer)
                    emit(connected=vault_peer, path=node.path_to(vault_peer))
                elif "path" in cmd:
                    emit(path=node.path_to(vault_peer), conns=_kinds(node, vault_peer))
                elif "quit" in cmd:
                    break
            except Exception as exc:  # reported, the test decides
                emit(error=f"{type(exc).__name__}: {exc}")
        for task in tasks:
            task.cancel()


def _kinds(node: Any, peer: str) -> list[str]:
    """How each open connection to ``peer`` goes: ``"relayed"`` or ``"direct"``."""
    from libp2p.peer.id import ID

    conns = node.libp2p_host.get_network().connections.get(ID.from_base58(peer)) or []
    kinds = []
    for conn in conns:
        addrs = [str(a) for a in conn.get_transport_addresses()]
        relayed = (
            any("/p2p-circuit" in a for a in addrs)
            or "RELAY" in str(conn.get_connection_type()).upper()
        )
        kinds.append("relayed" if relayed else "direct")
    return sorted(kinds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["vault", "business"])
    parser.add_argument("--home", required=True)
    parser.add_argument("--listen", action="append", default=[])
    parser.add_argument("--bootstrap", action="append", default=[])
    parser.add_argument("--reserve", default="auto", choices=["auto", "always", "never"])
    parser.add_argument("--hole-punch", action="store_true")
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()
    if os.environ.get("KLUIS_NETNS_DEBUG"):  # a failing story's stderr tells its path
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        logging.getLogger("multiaddr").setLevel(logging.WARNING)
    run = run_vault if args.role == "vault" else run_business

    async def bounded() -> None:
        try:
            async with asyncio.timeout(args.lifetime):
                await run(args)
        except TimeoutError:
            emit(error="lifetime over")

    asyncio.run(bounded())


if __name__ == "__main__":
    main()
