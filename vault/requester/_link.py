"""The business's way to its customers' vaults: one libp2p node, every exchange checked.

Every call goes through the runtime with the protocol's grammar
(``ACCESS_GRAMMAR``, ``CONTACT_GRAMMAR``, ``DELIVERY_GRAMMAR``), so the
h11-style :class:`~protocol.connection.Connection` on the stream checks that the
request may be sent and that the reply answers it; a reply that does not is a
:class:`~protocol.RemoteProtocolError`, and the stream is dropped.

A vault is dialled once, by the multiaddr it was first reached at; a transport
failure forgets the connection, so the next call dials again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import Grammar, LocalError, Message, TransportError
from vault.requester._errors import RequesterError

if TYPE_CHECKING:  # the runtime (libp2p) is imported only when the network is started
    from protocol.runtime import FramedStream

__all__ = ["CALL_TIMEOUT", "VaultLink"]

#: Seconds a single request/reply exchange with a vault may take.
CALL_TIMEOUT = 10.0


class VaultLink:
    """The requester's node (``None`` without the network) and the vaults it has dialled."""

    def __init__(self) -> None:
        self.node: Any = None  # protocol.runtime.Node when the network is on
        self._connected: set[str] = set()

    def require(self) -> Any:
        """The node, or a one-line error if this requester runs without the network."""
        if self.node is None:
            raise LocalError("this requester was opened without the network")
        return self.node

    def forget(self, vault_peer: str) -> None:
        """Dial ``vault_peer`` afresh next time (its address may have changed)."""
        self._connected.discard(vault_peer)

    async def connect(self, vault_peer: str, vault_addr: str) -> None:
        """Dial the vault at ``vault_addr`` unless connected; it must be ``vault_peer``."""
        if vault_peer in self._connected:
            return
        peer = await self.require().connect(vault_addr)
        if peer != vault_peer:
            raise RequesterError("the vault at this address has another peer id")
        self._connected.add(vault_peer)

    async def call(
        self, vault_peer: str, vault_addr: str, grammar: Grammar, msg: Message, timeout: float
    ) -> Message:
        """One request and its reply, checked by the grammar's state machine."""
        node = self.require()
        await self.connect(vault_peer, vault_addr)
        try:
            reply: Message = await node.request(vault_peer, grammar, msg, timeout=timeout)
        except TransportError:
            self.forget(vault_peer)  # dial again next time
            raise
        return reply

    async def open(
        self, vault_peer: str, vault_addr: str, grammar: Grammar, timeout: float
    ) -> FramedStream[Message]:
        """A stream of its own (a subscription), run by the grammar's state machine."""
        node = self.require()
        await self.connect(vault_peer, vault_addr)
        stream: FramedStream[Message] = await node.open_stream(vault_peer, grammar, timeout=timeout)
        return stream
