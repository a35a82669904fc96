"""Where a node listens unless it is told otherwise: the ports and addresses, in one place.

A vault (``kluis start``) listens on :data:`VAULT_LISTEN`, every IPv4 interface
on kluis's own port :data:`VAULT_PORT`, so that its address survives a restart
(docs/architecture.md, D16; docs/deployment.md). ``kluis relay`` listens on
:data:`RELAY_PORT`. Nodes that nobody needs to find at a fixed address (the
runtime's :class:`~protocol.runtime.Node` on its own, a business's
``Requester``, an embedded ``VaultNode``) listen on :data:`DEFAULT_LISTEN`: every
IPv4 interface, on a port the OS picks. Vaults and businesses are peers that
must be able to dial each other, and every stream is Noise-authenticated and
every request signed, so reach is not the protection (D12). :data:`LOOPBACK` is
for tests, demos and benchmarks, which stay on this machine.

This module imports nothing, so the CLI and the store can name the defaults
without loading libp2p.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_LISTEN", "LOOPBACK", "RELAY_PORT", "VAULT_LISTEN", "VAULT_PORT"]

#: kluis's port: a vault listens here unless ``--listen``/``[network] listen`` say otherwise.
VAULT_PORT: Final = 4747
#: ``kluis relay``'s port.
RELAY_PORT: Final = 4749
#: A vault's default: every IPv4 interface, on :data:`VAULT_PORT`.
VAULT_LISTEN: Final = (f"/ip4/0.0.0.0/tcp/{VAULT_PORT}",)
#: Every IPv4 interface, an OS-chosen TCP port.
DEFAULT_LISTEN: Final = ("/ip4/0.0.0.0/tcp/0",)
#: This machine only, an OS-chosen TCP port.
LOOPBACK: Final = ("/ip4/127.0.0.1/tcp/0",)
