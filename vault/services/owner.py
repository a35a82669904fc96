"""What the owner's local surfaces (control API, dashboard) drive: the running node.

A protocol rather than an import of :class:`~vault.node.boss.VaultNode`, so the
control API and the dashboard can be tested against the real node without
importing each other, and the dependency runs one way: node → control →
dashboard → this module.
"""

from __future__ import annotations

from typing import Any, Protocol

from protocol import Grant, RevokeNotice
from vault.services.grantbook import GrantBook
from vault.services.identity import BusinessBook
from vault.services.rules import RuleBook
from vault.store.vault import Vault

__all__ = ["Owner"]


class Owner(Protocol):
    """The running :class:`~vault.node.boss.VaultNode`, as the owner's surfaces see it."""

    vault: Vault
    grants: GrantBook
    rules: RuleBook
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
