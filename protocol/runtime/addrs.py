"""The addresses a node listens on, and the ones it tells others: dialable ones only.

* **Listening.** A fixed port that is taken is a one-line :class:`AddressInUse`
  naming the port, before libp2p starts. (py-libp2p 0.8.1 only *logs* a failed
  listen and starts anyway, listening on nothing; and it sets ``SO_REUSEPORT``,
  so a second node on the same port would silently share it with the first.
  :func:`check_free` binds a plain socket first, which fails if anyone listens.)
* **Advertising.** ``/ip4/0.0.0.0/tcp/N`` cannot be dialled from anywhere: it is
  expanded to one address per interface address (loopback last). Identify's
  observed addresses stay in, as py-libp2p adds them once enough peers agree
  (its anti-spoofing threshold). Circuit addresses (``<relay>/p2p-circuit``)
  are appended by :func:`advertise_circuits`, working around py-libp2p 0.8.1's
  ``BasicHost.get_addrs()``, which cuts every address at its first ``/p2p/``
  and so turns ``<relay>/p2p/R/p2p-circuit`` into a fake direct address.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

import multiaddr

from .._exceptions import ConnectError

__all__ = [
    "AddressInUse",
    "advertise_circuits",
    "check_free",
    "expand_wildcards",
    "interface_ips",
    "is_circuit",
]


class AddressInUse(ConnectError):
    """A listen port is taken by another program (or another kluis node)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"cannot listen on {host}:{port}: the port is in use")
        self.host = host
        self.port = port


def _tcp_endpoint(addr: multiaddr.Multiaddr) -> tuple[int, str, int] | None:
    for family, proto in ((socket.AF_INET, "ip4"), (socket.AF_INET6, "ip6")):
        with contextlib.suppress(Exception):
            ip = addr.value_for_protocol(proto)
            port = int(addr.value_for_protocol("tcp"))
            return family, ip, port
    return None


def check_free(listen: Sequence[multiaddr.Multiaddr]) -> None:
    """Raise :class:`AddressInUse` if a fixed TCP port in ``listen`` is taken."""
    for addr in listen:
        endpoint = _tcp_endpoint(addr)
        if endpoint is None or endpoint[2] == 0:
            continue
        family, ip, port = endpoint
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
            sock.bind((ip, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUse(ip, port) from exc
            raise ConnectError(f"cannot listen on {ip}:{port}: {exc.strerror}") from exc
        finally:
            sock.close()


def interface_ips() -> list[str]:
    """This machine's IP addresses (link-local left out), loopback last."""
    import ifaddr  # zeroconf's dependency, already installed with libp2p's mDNS

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            with contextlib.suppress(ValueError):
                parsed = ipaddress.ip_address(text)
                if not parsed.is_link_local and text not in found:
                    found.append(text)
    found.sort(key=lambda t: ipaddress.ip_address(t).is_loopback)
    return found


def expand_wildcards(
    addrs: Sequence[multiaddr.Multiaddr], ips: Callable[[], list[str]] = interface_ips
) -> list[multiaddr.Multiaddr]:
    """Replace ``0.0.0.0``/``::`` listen addresses by one per interface address."""
    out: list[multiaddr.Multiaddr] = []
    seen: set[str] = set()
    local: list[str] | None = None

    def add(addr: multiaddr.Multiaddr) -> None:
        if str(addr) not in seen:
            seen.add(str(addr))
            out.append(addr)

    for addr in addrs:
        text = str(addr)
        for proto, wildcard in (("ip4", "0.0.0.0"), ("ip6", "::")):  # noqa: S104
            prefix = f"/{proto}/{wildcard}/"
            if text.startswith(prefix):
                local = ips() if local is None else local
                rest = text[len(prefix) - 1 :]
                for ip in local:
                    if (":" in ip) == (proto == "ip6"):
                        add(multiaddr.Multiaddr(f"/{proto}/{ip}{rest}"))
                break
        else:
            add(addr)
    return out


def is_circuit(addr: str) -> bool:
    return "/p2p-circuit" in addr


def advertise_circuits(host: Any, circuits: Callable[[], list[str]]) -> None:
    """Make ``host.get_addrs()`` expand wildcards and end with our circuit addresses.

    ``circuits()`` returns relay addresses ending in ``/p2p/<relay>/p2p-circuit``.
    Identify, the DHT's signed peer records and AutoNAT all read ``get_addrs()``,
    so this one hook advertises the same addresses everywhere.
    """
    host._addrs_factory = expand_wildcards  # BasicHost applies it to its candidates
    original = host.get_addrs
    own = f"/p2p/{host.get_id()}"

    def get_addrs() -> list[multiaddr.Multiaddr]:
        addrs = list(original())
        for circuit in circuits():
            with contextlib.suppress(Exception):
                addrs.append(multiaddr.Multiaddr(circuit + own))
        return addrs

    host.get_addrs = get_addrs
