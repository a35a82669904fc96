"""Fixtures for tests over real libp2p nodes on loopback: Alice's vault and a business.

A test file that needs another vault overrides ``vault_home`` (or ``vn``) with
a fixture of the same name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.vault import Vault


@pytest.fixture
def vault_home(tmp_path: Path) -> Path:
    """Alice's vault: an e-mail address, a home address and a given name."""
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
        v.profile.set("address.home.street", "Melkmarkt 1")
        v.profile.set("name.given", "Alice")
    return home


@pytest.fixture
async def vn(vault_home: Path) -> AsyncIterator[VaultNode]:
    """Alice's vault node on loopback, without the control API."""
    async with await VaultNode.start(
        vault_home, PASSPHRASE, listen=LOOPBACK, control_port=None
    ) as node:
        yield node


@pytest.fixture
async def biz(tmp_path: Path) -> AsyncIterator[Requester]:
    """A business with a fresh store, on loopback, with no retention sweeps of its own."""
    async with await Requester.ephemeral(
        tmp_path / "biz", listen=LOOPBACK, retention_interval=None
    ) as requester:
        yield requester
