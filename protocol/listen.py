"""Where a node listens unless it is told otherwise: one default for every kind of node.

The runtime's :class:`~protocol.runtime.Node`, a vault (``kluis start``,
``VaultNode``) and a business (``Requester``, ``kluis business``) all listen on
:data:`DEFAULT_LISTEN`: every IPv4 interface, on a port the OS picks. A vault and
a business are peers that must be able to dial each other, and every stream is
Noise-authenticated and every request signed, so reach is not the protection
(docs/architecture.md, D12 and D15). :data:`LOOPBACK` is for tests, demos and
benchmarks, which stay on this machine.

This module imports nothing, so the CLI and the store can name the default
without loading libp2p.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_LISTEN", "LOOPBACK"]

#: Every IPv4 interface, an OS-chosen TCP port.
DEFAULT_LISTEN: Final = ("/ip4/0.0.0.0/tcp/0",)
#: This machine only, an OS-chosen TCP port.
LOOPBACK: Final = ("/ip4/127.0.0.1/tcp/0",)
