"""A local HTTPS server on 127.0.0.1 with a throwaway CA (trustme), posing as public domains.

Tests only ever talk to 127.0.0.1: the verifier gets a
:class:`~vault.services.domain_check.StaticResolver` that maps each test domain
to this server, and an ``ssl_context`` that trusts the throwaway CA only.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trustme
from aiohttp import web

from protocol.business import WELL_KNOWN_PATH
from vault.services.domain_check import StaticResolver

#: Domains the server holds a certificate for.
DOMAINS = ("despaak.nl", "www.despaak.nl", "other.example")


@dataclass
class WellKnownServer:
    """What each domain (or ``domain/path``) answers: (status, body, headers)."""

    port: int = 0
    client_ssl: ssl.SSLContext = field(default_factory=ssl.create_default_context)
    answers: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    delay_s: float = 0.0
    hits: int = 0

    def resolver(self, *domains: str) -> StaticResolver:
        return StaticResolver({d: ("127.0.0.1", self.port) for d in domains or DOMAINS})

    def publish(self, domain: str, body: bytes, status: int = 200, **headers: str) -> None:
        self.answers[domain] = (status, body, headers)


@asynccontextmanager
async def https_server(cert_hosts: tuple[str, ...] = DOMAINS) -> AsyncIterator[WellKnownServer]:
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*cert_hosts).configure_cert(server_ssl)
    state = WellKnownServer()
    ca.configure_trust(state.client_ssl)

    async def handle(request: web.Request) -> web.StreamResponse:
        state.hits += 1
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        host = request.host.split(":")[0]
        answer = state.answers.get(host + request.path) or state.answers.get(host)
        status, body, headers = answer or (404, b"not found", {})
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    server = site._server
    assert server is not None
    state.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield state
    finally:
        await runner.cleanup()


__all__ = ["DOMAINS", "WELL_KNOWN_PATH", "WellKnownServer", "https_server"]
