"""Domain verification: does ``https://DOMAIN/.well-known/kluis.json`` name this peer id?

A business's signed profile claims a website; :class:`DomainVerifier` checks
the claim by fetching the domain's ``/.well-known/kluis.json``
(:data:`protocol.business.WELL_KNOWN_PATH`) over HTTPS and looking for the
peer id in it. The rules, and why:

* **Strict TLS.** The system's trust store and host-name checking
  (``ssl.create_default_context()``); no fallback to plain HTTP. A
  certificate for another name is a failed check, not a warning.
* **Bounded.** Connect within :data:`CONNECT_TIMEOUT_S`, everything within
  :data:`TOTAL_TIMEOUT_S`; a body over
  :data:`protocol.limits.MAX_WELL_KNOWN_BYTES` is refused without being read
  further; at most :data:`MAX_CONCURRENT` fetches at once and at most
  :data:`MAX_QUEUED` waiting, so a flood of requests from many peer ids
  cannot turn the vault into a crawler.
* **No redirects off the domain.** Up to :data:`MAX_REDIRECTS` redirects to
  ``https`` on the *same host* are followed (``/kluis.json`` →
  ``/kluis.json/``); any other redirect fails the check, so a domain cannot
  vouch by pointing at someone else's file.
* **Public addresses only.** The default resolver drops loopback, private,
  link-local and other non-global addresses, so a hostile profile cannot aim
  the vault at the owner's router or LAN. Tests inject a resolver (a map from
  host name to ``127.0.0.1`` and a port) and an ``ssl_context`` that trusts a
  throwaway CA; nothing else changes.
* **Never in the way.** :meth:`DomainVerifier.schedule` starts a check in the
  background and returns at once; the access path only ever reads the cache
  (:meth:`DomainVerifier.result`). Results expire (:data:`OK_TTL_MS`,
  :data:`FAIL_TTL_MS`) and the cache is bounded (:data:`MAX_ENTRIES`, least
  recently used out first): state a peer can cause is bounded and expires.

The outcome is one of ``verified``, ``unverified`` (with a one-line reason
that never holds the response body) or, while a check runs, ``checking``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from protocol import KluisError
from protocol.business import WELL_KNOWN_PATH, parse_well_known
from protocol.limits import MAX_WELL_KNOWN_BYTES
from vault._exceptions import VaultError

__all__ = [
    "CHECKING",
    "UNVERIFIED",
    "VERIFIED",
    "DomainCheck",
    "DomainVerifier",
    "PublicOnlyResolver",
    "StaticResolver",
]

log = logging.getLogger(__name__)

VERIFIED = "verified"
UNVERIFIED = "unverified"
CHECKING = "checking"

CONNECT_TIMEOUT_S = 3.0
TOTAL_TIMEOUT_S = 6.0
MAX_REDIRECTS = 3
MAX_CONCURRENT = 4
MAX_QUEUED = 64
MAX_ENTRIES = 1024
#: A verified domain is re-checked after six hours; a failure after ten minutes.
OK_TTL_MS = 6 * 3600 * 1000
FAIL_TTL_MS = 10 * 60 * 1000


@dataclass(frozen=True, slots=True)
class DomainCheck:
    """The outcome of one check of ``domain`` for ``peer_id``."""

    peer_id: str
    domain: str
    status: str  # verified | unverified | checking
    reason: str = ""
    checked_at: int = 0
    expires_at: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "status": self.status,
            "reason": self.reason,
            "checked_at": self.checked_at or None,
        }


class DomainUnverified(VaultError):
    """A check that failed, with the one-line reason shown to the owner."""


class PublicOnlyResolver(AbstractResolver):
    """The system resolver, keeping only globally routable addresses."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if ipaddress.ip_address(r["host"]).is_global]
        if not public:
            raise OSError(f"{host} has no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class StaticResolver(AbstractResolver):
    """Host name → (IP address, port): for tests, which must only talk to 127.0.0.1."""

    def __init__(self, table: Mapping[str, tuple[str, int]]) -> None:
        self._table = dict(table)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._table:
            raise OSError(f"{host} is not in the test resolver")
        ip, to_port = self._table[host]
        return [
            ResolveResult(
                hostname=host, host=ip, port=to_port, family=socket.AF_INET, proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]  # fmt: skip

    async def close(self) -> None:
        return None


class DomainVerifier:
    """Checks domains in the background and caches what it found (see the module docstring)."""

    def __init__(
        self,
        clock: Callable[[], int],
        *,
        ssl_context: ssl.SSLContext | None = None,
        resolver: AbstractResolver | None = None,
        on_result: Callable[[DomainCheck], None] | None = None,
    ) -> None:
        self._clock = clock
        # None: the system's trust store, loaded at the first check, not at start-up
        # (reading the CA bundle costs tens of ms before `kluis start` serves; issue 14 §2)
        self._ssl = ssl_context
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._cache: OrderedDict[tuple[str, str], DomainCheck] = OrderedDict()
        self._running: dict[tuple[str, str], asyncio.Task[DomainCheck]] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._on_result = on_result
        self._closed = False

    # -- reading (never blocks) --------------------------------------------------------

    def result(self, peer_id: str, domain: str) -> DomainCheck | None:
        """The cached, unexpired outcome; ``checking`` while one runs; else ``None``."""
        key = (peer_id, domain)
        hit = self._cache.get(key)
        if hit is not None and hit.expires_at > self._clock():
            self._cache.move_to_end(key)
            return hit
        if key in self._running:
            return DomainCheck(peer_id, domain, CHECKING)
        return hit  # expired: still the last known outcome, until the re-check lands

    def schedule(self, peer_id: str, domain: str) -> bool:
        """Start a background check unless a fresh result or a running check exists.

        Returns True if a check was started. Needs a running event loop; without
        one (a synchronous caller) it does nothing.
        """
        key = (peer_id, domain)
        hit = self._cache.get(key)
        if self._closed or key in self._running or len(self._running) >= MAX_QUEUED:
            return False
        if hit is not None and hit.expires_at > self._clock():
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task = loop.create_task(self.check(peer_id, domain))
        self._running[key] = task
        task.add_done_callback(lambda _t: self._running.pop(key, None))
        return True

    # -- checking ----------------------------------------------------------------------

    async def check(self, peer_id: str, domain: str) -> DomainCheck:
        """Fetch and compare now; cache and return the outcome (never raises)."""
        async with self._slots:
            try:
                names = parse_well_known(await self._fetch(domain))
                if peer_id in names:
                    status, reason = VERIFIED, ""
                else:
                    status, reason = UNVERIFIED, "the domain's kluis.json names another peer"
            except DomainUnverified as exc:
                status, reason = UNVERIFIED, str(exc)
            except KluisError:
                status, reason = UNVERIFIED, "the domain's kluis.json is not valid"
            except TimeoutError:
                status, reason = UNVERIFIED, "the domain did not answer in time"
            except aiohttp.ClientSSLError:
                status, reason = UNVERIFIED, "the domain's TLS certificate is not valid for it"
            except (aiohttp.ClientError, OSError):
                status, reason = UNVERIFIED, "the domain could not be reached"
        now = self._clock()
        ttl = OK_TTL_MS if status == VERIFIED else FAIL_TTL_MS
        outcome = DomainCheck(peer_id, domain, status, reason, now, now + ttl)
        self._store(outcome)
        return outcome

    def _store(self, outcome: DomainCheck) -> None:
        key = (outcome.peer_id, outcome.domain)
        self._cache[key] = outcome
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)
        if self._on_result is not None:
            try:
                self._on_result(outcome)
            except Exception:
                log.exception("domain check listener failed")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            connector = aiohttp.TCPConnector(
                ssl=self._ssl,
                resolver=self._resolver if self._resolver is not None else PublicOnlyResolver(),
                limit=MAX_CONCURRENT,
                use_dns_cache=False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=TOTAL_TIMEOUT_S, sock_connect=CONNECT_TIMEOUT_S
                ),
                headers={"Accept": "application/json", "User-Agent": "kluis-domain-check"},
                auto_decompress=False,
            )
        return self._session

    async def _fetch(self, domain: str) -> bytes:
        url = f"https://{domain}{WELL_KNOWN_PATH}"
        for _ in range(MAX_REDIRECTS + 1):
            async with self._client().get(url, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303, 307, 308):
                    target = urljoin(url, resp.headers.get("Location", ""))
                    parts = urlsplit(target)
                    if parts.scheme != "https" or parts.netloc != domain:
                        raise DomainUnverified("the domain redirects its kluis.json elsewhere")
                    url = target
                    continue
                if resp.status != 200:
                    raise DomainUnverified(f"the domain has no kluis.json (HTTP {resp.status})")
                if (resp.content_length or 0) > MAX_WELL_KNOWN_BYTES:
                    raise DomainUnverified("the domain's kluis.json is too large")
                body = b""
                while chunk := await resp.content.read(MAX_WELL_KNOWN_BYTES + 1 - len(body)):
                    body += chunk
                    if len(body) > MAX_WELL_KNOWN_BYTES:
                        raise DomainUnverified("the domain's kluis.json is too large")
                return body
        raise DomainUnverified("the domain redirects too often")

    async def aclose(self) -> None:
        """Cancel running checks and close the HTTP client. Idempotent."""
        self._closed = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            with contextlib.suppress(Exception):
                await session.close()
