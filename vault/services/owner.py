"""What the owner's local surfaces (control API, dashboard) drive: the running node.

A protocol rather than an import of :class:`~vault.node.boss.VaultNode`, so the
dependency runs one way (node → control → dashboard → this module) and mypy
still checks every use: there is one node build, and it has every service
named here. The one optional part is :attr:`Owner.agents`, which is ``None``
when the node runs without the network (``network=False``), because agents
negotiate over libp2p.
"""

from __future__ import annotations

from typing import Any, Protocol

from protocol import Grant, RevokeNotice
from vault.services.agent_service import AgentService
from vault.services.contact_service import ContactService
from vault.services.delivery import DeliveryService
from vault.services.erasure import ErasureBook
from vault.services.grantbook import GrantBook
from vault.services.identity import BusinessBook
from vault.services.inbox import Inbox
from vault.services.rules import RuleBook
from vault.store.vault import Vault

__all__ = ["Owner"]


class Owner(Protocol):
    """The running :class:`~vault.node.boss.VaultNode`, as the owner's surfaces see it."""

    vault: Vault
    grants: GrantBook
    rules: RuleBook
    contact: ContactService
    inbox: Inbox
    delivery: DeliveryService
    erasures: ErasureBook
    agents: AgentService | None
    businesses: BusinessBook

    @property
    def peer_id(self) -> str: ...

    @property
    def addrs(self) -> list[str]: ...

    def approve(
        self,
        request_id: str,
        fields: list[str] | None = None,
        days: int | None = None,
        *,
        actions: list[str] | None = None,
    ) -> Grant: ...

    def deny(self, request_id: str, reason: str = "") -> Any: ...

    async def revoke(
        self, grant_id: str, *, reason: str = "", erase: bool = False
    ) -> RevokeNotice: ...
