"""Fixtures: a vault with some profile data, a running VaultNode with its dashboard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

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


async def _standalone(node: VaultNode) -> tuple[web.AppRunner, Dashboard, str]:
    """Serve the dashboard on its own loopback port (when the node does not mount it)."""
    port = 0
    token = node.control_token or "test-token"
    dash = Dashboard(node, lambda: token, port=lambda: port)
    app = web.Application()
    dash.attach(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, dash, f"http://127.0.0.1:{port}"


async def start_running(home: Path, *, network: bool) -> tuple[Running, web.AppRunner | None]:
    node = await VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, network=network)
    mounted = getattr(node.control, "dashboard", None)
    if mounted is not None:
        assert node.control_url is not None and node.control_token is not None
        return Running(node, node.control_url, node.control_token, mounted), None
    runner, dash, url = await _standalone(node)
    return Running(node, url, node.control_token or "test-token", dash), runner


@pytest.fixture
async def running(vault_home: Path) -> AsyncIterator[Running]:
    r, runner = await start_running(vault_home, network=False)
    try:
        yield r
    finally:
        if runner is not None:
            await runner.cleanup()
        await r.node.close()


@pytest.fixture
async def running_net(vault_home: Path) -> AsyncIterator[Running]:
    r, runner = await start_running(vault_home, network=True)
    try:
        yield r
    finally:
        if runner is not None:
            await runner.cleanup()
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
