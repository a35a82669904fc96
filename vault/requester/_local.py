"""The business's own side, as every part of the SDK sees it: store, book, copies, clock.

One :class:`Local` is made per :class:`~vault.requester.Requester` and handed to
the parts that keep its promises (asking, reading, revocation, receipts), so
that each of them reads and writes the same store under the same clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from protocol import Identity
from vault.requester._book import GrantRecord, LocalBook
from vault.requester._copies import SealedCopies
from vault.requester._handles import GrantHandle
from vault.store.audit import AuditLog, Clock
from vault.store.crypto import Rng
from vault.store.vault import Vault

__all__ = ["GrantRef", "Local"]

#: A grant as the SDK's methods accept it: the handle, or its id.
GrantRef = GrantHandle | str


@dataclass(eq=False)
class Local:
    """The business's store (a kluis :class:`Vault`), its book and sealed copies, its clock."""

    vault: Vault
    clock: Clock
    rng: Rng = os.urandom
    #: Whether this process acts for a vault now: always, unless workers share the
    #: store (D28), when only the vaults of the shards it leases are its own.
    owns: Callable[[str], bool] = lambda _vault_peer: True
    book: LocalBook = field(init=False)
    copies: SealedCopies = field(init=False)

    def __post_init__(self) -> None:
        self.book = LocalBook(self.vault)
        self.copies = SealedCopies(self.vault, self.rng)

    @property
    def identity(self) -> Identity:
        return self.vault.identity

    @property
    def peer_id(self) -> str:
        return self.vault.peer_id

    @property
    def audit(self) -> AuditLog:
        return self.vault.audit

    def now(self) -> int:
        """Integer ms by the requester's clock (it also stamps signed messages)."""
        return int(self.clock())

    def transaction(self) -> AbstractContextManager[None]:
        return self.vault.transaction()

    def record(self, grant: GrantRef) -> GrantRecord:
        """The local record of a grant, by handle or id (UnknownGrant if none)."""
        grant_id = grant.grant_id if isinstance(grant, GrantHandle) else str(grant)
        return self.book.grant(grant_id)
