"""The node's configuration file: ``KLUIS_HOME/config.toml``.

It holds network and inbox settings, none of them personal, so it is plain TOML
the owner can edit (and the one file under ``KLUIS_HOME`` that is not sealed)::

    [network]
    listen = ["/ip4/0.0.0.0/tcp/4747"]      # the default; 4747 is kluis's port
    bootstrap = ["/ip4/192.0.2.7/tcp/4749/p2p/12D3KooW..."]   # `kluis relay` nodes
    mdns = true
    relays = []          # relay multiaddrs; empty = the bootstrap peers
    reserve = "auto"     # reserve a relay slot: auto (when AutoNAT says not public),
                         # always, never
    hole_punch = true    # DCUtR: upgrade relayed connections to direct ones

    [requests]
    pending_days = 7     # an access request the owner has not decided expires (denied)

Command-line flags win over the file: ``--listen`` replaces ``listen``,
``--bootstrap`` adds to ``bootstrap``, ``--mdns/--no-mdns`` replaces ``mdns``.
The vault (``kluis start``) and the business side (``kluis business …``) read
the same ``[network]`` table from their own home, and take the same flags.
A file that does not parse, or a setting that does not validate, is a
:class:`ConfigError` that names the file and the setting; the node does not
start on a half-understood configuration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocol.listen import VAULT_LISTEN
from vault._exceptions import VaultError
from vault.home.paths import CONFIG_FILE

if TYPE_CHECKING:
    from protocol.runtime.reach import ReachConfig

__all__ = [
    "CONFIG_FILE",
    "BusinessConfig",
    "ConfigError",
    "NetworkConfig",
    "NodeConfig",
    "RequestsConfig",
    "load_config",
    "network_settings",
    "reach_config",
]

#: A configuration file is small; refuse anything that is clearly not one.
MAX_CONFIG_BYTES = 64 * 1024

_Addr = Annotated[str, Field(min_length=4, max_length=512)]


class ConfigError(VaultError):
    """The configuration file cannot be read or does not validate."""


class NetworkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: Annotated[tuple[_Addr, ...], Field(max_length=16)] = VAULT_LISTEN
    bootstrap: Annotated[tuple[_Addr, ...], Field(max_length=64)] = ()
    mdns: bool = False
    relays: Annotated[tuple[_Addr, ...], Field(max_length=16)] = ()
    reserve: Literal["auto", "always", "never"] = "auto"
    hole_punch: bool = True

    @field_validator("listen", "bootstrap", "relays")
    @classmethod
    def _multiaddrs(cls, addrs: tuple[str, ...]) -> tuple[str, ...]:
        for addr in addrs:
            if not addr.startswith("/"):
                raise ValueError(f"{addr!r} is not a multiaddr (it starts with '/')")
            _parse_multiaddr(addr)
        return addrs

    @field_validator("bootstrap", "relays")
    @classmethod
    def _bootstrap_names_peer(cls, addrs: tuple[str, ...]) -> tuple[str, ...]:
        for addr in addrs:
            if "/p2p/" not in addr:
                raise ValueError(f"bootstrap peer {addr!r} needs its /p2p/<peer id>")
        return addrs


class RequestsConfig(BaseModel):
    """The access-request inbox (decision D31)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Days a request waits for the owner before it expires (denied, audited).
    pending_days: Annotated[int, Field(ge=1, le=365)] = 7


def _parse_multiaddr(addr: str) -> None:
    """Refuse what libp2p would refuse later, mid-start (a port over 65535, a bad IP)."""
    import multiaddr  # here, not at the top: the light commands do not need it

    try:
        multiaddr.Multiaddr(addr)
    except Exception as exc:  # multiaddr raises several kinds, none useful to the owner
        why = str(exc).split("': ", 1)[-1].split(" (string:", 1)[0][:120]
        raise ValueError(f"{addr!r} is not a valid multiaddr: {why}") from None


class BusinessConfig(BaseModel):
    """Where a business keeps its book, and its name among workers (decision D28).

    Read from the *business* home's ``config.toml`` only (a vault ignores it)::

        [business]
        store = "postgresql://kluis@db.internal:5432/kluis"  # default: SQLite in the home
        worker = "web-1"        # this worker's name among those sharing the store
        lease_ttl = 15          # seconds; the same for every worker
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: Annotated[str | None, Field(max_length=2048)] = None
    worker: Annotated[str | None, Field(min_length=1, max_length=64, pattern=r"^[\w.:@-]+$")] = None
    lease_ttl: Annotated[float, Field(gt=0, le=3600)] = 15.0

    @field_validator("store")
    @classmethod
    def _postgres_only(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("store is a postgresql:// URL (leave it out for SQLite in the home)")
        return url


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    network: NetworkConfig = NetworkConfig()
    requests: RequestsConfig = RequestsConfig()
    business: BusinessConfig = BusinessConfig()


def load_config(home: Path) -> NodeConfig:
    """Read ``home/config.toml``; defaults when there is none."""
    path = home / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return NodeConfig()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is over {MAX_CONFIG_BYTES // 1024} KiB; is it the right file?")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return NodeConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc


def network_settings(
    config: NodeConfig,
    *,
    listen: Sequence[str] | None = None,
    bootstrap: Sequence[str] | None = None,
    mdns: bool | None = None,
) -> NetworkConfig:
    """Merge command-line flags over the file (see the module docstring)."""
    net = config.network
    try:
        return NetworkConfig(
            listen=tuple(listen) if listen else net.listen,
            bootstrap=(*net.bootstrap, *(a for a in bootstrap or () if a not in net.bootstrap)),
            mdns=net.mdns if mdns is None else mdns,
            relays=net.relays,
            reserve=net.reserve,
            hole_punch=net.hole_punch,
        )
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid network option: {msg}") from exc


def reach_config(net: NetworkConfig) -> ReachConfig | None:
    """The runtime's reach settings (DHT, relay, NAT); None without bootstrap peers."""
    if not net.bootstrap and not net.relays:
        return None
    from protocol.runtime.reach import ReachConfig

    return ReachConfig(
        bootstrap=net.bootstrap,
        relays=net.relays,
        reserve=net.reserve,
        hole_punch=net.hole_punch,
    )
