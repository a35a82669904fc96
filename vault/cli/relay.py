"""``kluis relay``: public infrastructure in one long-running node.

It is at once a **bootstrap peer** (vaults and businesses dial it at start),
a **DHT server** (it keeps the routing table that lets a business find a vault
by peer id) and a **circuit relay v2** (vaults behind NAT reserve a slot and
are reached through it until DCUtR makes the connection direct). It also
answers AutoNAT, so nodes learn whether they are reachable.

It holds no vault, no passphrase and no personal data: its identity is a key
file (``relay.key``, mode 0600) in ``--home``, kept so its address stays the
same across restarts. It prints its addresses, then one health line every
``--health-every`` seconds::

    relay 12D3KooW… peers=42 dht=40 reservations=17/512 circuits=3 refused=0 rss=61MiB
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Annotated

import platformdirs
import typer

from protocol.listen import RELAY_PORT
from vault._exceptions import VaultError
from vault.cli.console import stdout

__all__ = ["register", "relay"]

KEY_FILE = "relay.key"


def _identity(folder: Path) -> object:
    from protocol.signing import Identity

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / KEY_FILE
    if path.exists():
        seed = path.read_bytes()
        if len(seed) != 32:
            raise VaultError(f"{path} is not a relay key (32 bytes)")
        return Identity(seed)
    seed = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(seed)
    return Identity(seed)


def relay(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help='Where the relay keeps its key (default: data dir "kluis-relay").'
        ),
    ] = None,
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            help=f"Multiaddr to listen on (repeatable). Default /ip4/0.0.0.0/tcp/{RELAY_PORT}.",
        ),
    ] = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option("--bootstrap", help="Other relays to join the DHT through (repeatable)."),
    ] = None,
    max_reservations: Annotated[int, typer.Option(help="Reserved peers in total.")] = 512,
    max_circuits: Annotated[int, typer.Option(help="Relayed connections per reserved peer.")] = 16,
    circuit_duration: Annotated[
        int, typer.Option(help="Seconds one relayed connection may last.")
    ] = 7200,
    data_mib: Annotated[
        int, typer.Option(help="MiB per reserved peer per reservation window.")
    ] = 64,
    health_every: Annotated[
        float, typer.Option(help="Seconds between health lines (0: once).")
    ] = 60.0,
) -> None:
    """Run a bootstrap peer + DHT server + circuit relay v2 until Ctrl-C or SIGTERM."""
    from protocol.runtime.reach import RelayLimits

    try:
        limits = RelayLimits(
            duration_s=circuit_duration,
            data_bytes=data_mib * 1024 * 1024,
            max_circuits=max_circuits,
            max_reservations=max_reservations,
        )
    except ValueError as exc:
        raise VaultError(str(exc)) from exc
    folder = Path(home) if home else platformdirs.user_data_path("kluis-relay", appauthor=False)
    identity = _identity(folder)
    addrs = list(listen or [f"/ip4/0.0.0.0/tcp/{RELAY_PORT}"])
    import asyncio

    asyncio.run(_serve(identity, addrs, list(bootstrap or []), limits, health_every))


async def _serve(
    identity: object, listen: list[str], bootstrap: list[str], limits: object, every: float
) -> None:
    import asyncio

    from protocol.runtime import Node
    from protocol.runtime.addrs import AddressInUse
    from protocol.runtime.reach import ReachConfig

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    config = ReachConfig.for_relay(limits, bootstrap)  # type: ignore[arg-type]
    try:
        node = await Node.start(identity, listen, bootstrap=bootstrap, reach=config)  # type: ignore[arg-type]
    except AddressInUse as exc:
        raise VaultError(
            f"port {exc.port} is in use; choose another with --listen /ip4/0.0.0.0/tcp/PORT"
        ) from exc
    async with node:
        out = stdout()
        out.print(f"relay {node.peer_id} running", markup=False)
        for addr in node.addrs:
            out.print(f"  listening: {addr}", markup=False)
        out.file.flush()
        while not stop.is_set():
            out.print(health_line(node), markup=False)
            out.file.flush()
            if every <= 0:
                await stop.wait()
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        out.print("stopping…", markup=False)
    stdout().print("stopped", markup=False)


def health_line(node: object) -> str:
    """One line: peers, DHT table, reservations and circuits against their caps, memory."""
    reach = node.reach  # type: ignore[attr-defined]
    status = reach.status()
    service = reach.relay_service
    summary = service.summary() if service is not None else {"reservations": 0, "circuits": 0}
    import resource

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    cap = service.limits.max_reservations if service is not None else 0
    return (
        f"relay {node.peer_id} peers={len(node.peers())} dht={status['dht_peers']} "  # type: ignore[attr-defined]
        f"reservations={summary['reservations']}/{cap} circuits={summary['circuits']} "
        f"refused={status['refused_streams']} maxrss={rss_mib}MiB"
    )


def register(app: typer.Typer) -> None:
    app.command("relay")(relay)
