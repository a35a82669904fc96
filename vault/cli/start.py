"""``kluis start``: run the vault node in the foreground.

It prints its multiaddrs (each with ``/p2p/<peer id>``, ready to give to a
business) and the control URL, and stops cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from vault._exceptions import VaultError
from vault.cli.console import emit_json, note, stdout
from vault.cli.options import BootstrapOpt, HomeOpt, PassFileOpt, read_passphrase
from vault.home.lock import running_pid
from vault.home.paths import resolve_home

__all__ = ["start"]


def start(
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    listen: Annotated[
        list[str] | None,
        typer.Option("--listen", help="Multiaddr to listen on (repeatable).", show_default=False),
    ] = None,
    bootstrap: BootstrapOpt = None,
    control_port: Annotated[
        int,
        typer.Option(
            "--control-port", min=0, max=65535, help="Control API port on 127.0.0.1 (0 = any)."
        ),
    ] = 0,
    mdns: Annotated[
        bool | None,
        typer.Option(
            "--mdns/--no-mdns",
            help="Discover peers on the LAN (default: config.toml's network.mdns, else off).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the running node as one JSON object (then run, as always)."
        ),
    ] = False,
) -> None:
    """Run the vault node in the foreground until Ctrl-C or SIGTERM.

    Network settings come from KLUIS_HOME/config.toml (\\[network] listen,
    bootstrap, mdns); --listen replaces the file's listen addresses,
    --bootstrap adds peers, --mdns/--no-mdns overrides.
    """
    from vault.home.config import load_config, network_settings, reach_config
    from vault.home.lock import AlreadyRunning

    folder = resolve_home(home)
    pid = running_pid(folder)
    if pid is not None:
        raise AlreadyRunning(pid or None)  # fail before asking for the passphrase
    net = network_settings(load_config(folder), listen=listen, bootstrap=bootstrap, mdns=mdns)
    if control_port:
        _check_control_port(control_port)  # before the passphrase and the KDF
    passphrase = read_passphrase(passphrase_file)
    import asyncio

    asyncio.run(
        _serve(
            folder,
            passphrase,
            list(net.listen),
            list(net.bootstrap),
            control_port,
            net.mdns,
            reach_config(net),
            as_json,
        )
    )


def _check_control_port(port: int) -> None:
    """A taken ``--control-port`` is the owner's mistake: say so in one line."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise VaultError(
                f"control port {port} on 127.0.0.1 is in use ({exc.strerror}); choose "
                "another with --control-port, or 0 for any free port"
            ) from None


async def _serve(
    folder: Path,
    passphrase: str,
    listen: list[str],
    bootstrap: list[str],
    control_port: int,
    mdns: bool,
    reach: object,
    as_json: bool = False,
) -> None:
    import asyncio

    from vault.home.lock import VaultLock
    from vault.store.vault import Vault

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with note("Unlocking the vault (Argon2id) and starting the node…"):
        # The KDF runs in a thread (it releases the GIL) while this thread imports
        # libp2p, aiohttp and the services: the two overlap (issue 14 §2).
        lock = VaultLock(folder)
        lock.acquire()
        unlock = asyncio.ensure_future(asyncio.to_thread(Vault.open, folder, passphrase))
        try:
            from protocol.runtime.addrs import AddressInUse
            from vault.node.boss import VaultNode
        except BaseException:
            with contextlib.suppress(BaseException):
                (await unlock).close()
            lock.release()
            raise
        try:
            vault = await unlock
        except BaseException:
            lock.release()
            raise
        try:
            node = await VaultNode.start(
                folder,
                passphrase,
                listen=listen,
                bootstrap=bootstrap,
                mdns=mdns,
                control_port=control_port,
                reach=reach,
                unlocked=(lock, vault),
            )
        except AddressInUse as exc:
            raise VaultError(
                f"port {exc.port} is in use (another kluis node?); choose another with "
                f"--listen /ip4/0.0.0.0/tcp/PORT or [network] listen in config.toml"
            ) from exc
        except OSError as exc:  # the control port was taken between the check and the bind
            raise VaultError(f"cannot start the node: {exc.strerror or exc}") from exc
    async with node:
        if as_json:
            login = None
            if node.control is not None:
                login = node.control.dashboard.login_url(node.control.url)
            emit_json(
                {
                    "peer_id": node.peer_id,
                    "addrs": list(node.addrs),
                    "control_url": node.control_url,
                    "dashboard_url": f"{node.control_url}/" if node.control else None,
                    "login_url": login,
                }
            )
            sys.stdout.flush()
            await stop.wait()
            return
        out = stdout()
        out.print(f"vault node {node.peer_id} running", markup=False)
        for addr in node.addrs:
            out.print(f"  listening: {addr}", markup=False)
        out.print(f"  control:   {node.control_url}", markup=False)
        if node.control is not None:
            out.print(f"  dashboard: {node.control_url}/", markup=False)
            link = node.control.dashboard.login_url(node.control.url)
            out.print(f"  log in:    {link}", markup=False)
            out.print(
                "             (one-time link, valid 10 minutes; `kluis dashboard` makes a new one)",
                markup=False,
            )
        out.print("press Ctrl-C to stop", markup=False)
        out.file.flush()
        await stop.wait()
        out.print("stopping…", markup=False)
    stdout().print("stopped", markup=False)
