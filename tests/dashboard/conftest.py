"""Fixtures: a vault with some profile data, a running VaultNode with its dashboard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.api.dashboard import Dashboard
from vault.node.boss import VaultNode
from vault.store.vault import Vault


@dataclass
class Running:
    node: VaultNode
    url: str  # the dashboard's base URL (the control API's origin)
    token: str
    dashboard: Dashboard

    def login_link(self) -> str:
        return self.dashboard.login_url(self.url)


@pytest.fixture
def vault_home(tmp_path: Path) -> Path:
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("address.home.city", "Zwolle")
        v.profile.set("name.given", "Alice")
    return home


async def start_running(home: Path, *, network: bool) -> Running:
    """A node with its control API, and the dashboard mounted on it (its one build)."""
    node = await VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, network=network)
    assert node.control is not None and node.control_url is not None
    return Running(node, node.control_url, node.control.token, node.control.dashboard)


@pytest.fixture
async def running(vault_home: Path) -> AsyncIterator[Running]:
    r = await start_running(vault_home, network=False)
    try:
        yield r
    finally:
        await r.node.close()


@pytest.fixture
async def running_net(vault_home: Path) -> AsyncIterator[Running]:
    r = await start_running(vault_home, network=True)
    try:
        yield r
    finally:
        await r.node.close()


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def logged_in(r: Running) -> tuple[aiohttp.ClientSession, str]:
    """A client session logged in with a one-time link; returns it and a CSRF token."""
    jar = aiohttp.CookieJar(unsafe=True)
    session = aiohttp.ClientSession(cookie_jar=jar)
    async with session.get(r.login_link()) as resp:
        assert resp.status == 200, await resp.text()
        html = await resp.text()
    return session, csrf_of(html)
