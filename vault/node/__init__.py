"""The running vault node: :class:`VaultNode`, the boss that owns the lock, the store, the
services, the libp2p runtime and the control API while it runs."""

from vault.node.boss import VaultNode

__all__ = ["VaultNode"]
