"""Dashboard sessions, one-time login links and cross-site protection.

* **Login** needs the owner's control token (typed into the login form) or a
  one-time link printed by ``kluis start`` / ``kluis dashboard``. A link's code
  is 32 random bytes, works once, and expires after :data:`LINK_TTL_MS`; the
  server keeps only its SHA-256.
* **The session cookie** ``kluis_session`` is random, ``HttpOnly`` (no script
  can read it), ``SameSite=Strict`` (no other site's page can make the browser
  send it) and ``Path=/``. Sessions live in memory: stopping the node ends them.
* **Every state-changing request** (every POST) must carry the session's CSRF
  token (a hidden form field, or the ``X-CSRF-Token`` header from script),
  compared in constant time, *and* come from our own origin: an ``Origin``
  header other than ours, or ``Sec-Fetch-Site`` other than ``same-origin``/
  ``none``, is refused before anything else. A ``Host`` other than
  ``127.0.0.1:<port>``/``localhost:<port>`` is refused (DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from protocol.clock import Clock, now_ms

__all__ = [
    "COOKIE",
    "LINK_TTL_MS",
    "SESSION_TTL_MS",
    "Session",
    "SessionStore",
    "origin_ok",
]

COOKIE = "kluis_session"
LINK_TTL_MS = 10 * 60 * 1000
SESSION_TTL_MS = 12 * 3600 * 1000
MAX_SESSIONS = 64
MAX_LINKS = 64


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@dataclass(slots=True)
class Session:
    sid_hash: str
    csrf: str
    expires_at: int


class SessionStore:
    """In-memory sessions and one-time login codes (only hashes are kept)."""

    def __init__(self, token: Callable[[], str], *, clock: Clock = now_ms) -> None:
        self._token = token
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._links: dict[str, int] = {}  # sha256(code) -> expires_at

    # -- one-time login links ---------------------------------------------------------

    def new_link_code(self) -> str:
        """A fresh one-time login code (valid once, for :data:`LINK_TTL_MS`)."""
        self._prune()
        if len(self._links) >= MAX_LINKS:
            oldest = min(self._links, key=self._links.__getitem__)
            del self._links[oldest]
        code = secrets.token_urlsafe(32)
        self._links[_digest(code)] = self._clock() + LINK_TTL_MS
        return code

    def redeem_code(self, code: str) -> bool:
        """Consume a login code; True if it was valid (it never works again)."""
        expires = self._links.pop(_digest(code), None)
        return expires is not None and self._clock() < expires

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self._token().encode("utf-8")
        )

    # -- sessions ---------------------------------------------------------------------

    def create(self) -> tuple[str, Session]:
        """A new session: returns the cookie value and the session."""
        self._prune()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
            del self._sessions[oldest.sid_hash]
        sid = secrets.token_urlsafe(32)
        session = Session(_digest(sid), secrets.token_urlsafe(32), self._clock() + SESSION_TTL_MS)
        self._sessions[session.sid_hash] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._sessions.get(_digest(sid))
        if session is None:
            return None
        if self._clock() >= session.expires_at:
            del self._sessions[session.sid_hash]
            return None
        return session

    def end(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(_digest(sid), None)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(
            str(given).encode("utf-8", "replace"), session.csrf.encode("ascii")
        )

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]
        for key in [k for k, exp in self._links.items() if now >= exp]:
            del self._links[key]


def own_hosts(port: int) -> set[str]:
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def origin_ok(host: str, origin: str | None, fetch_site: str | None, port: int) -> bool:
    """True if a request with these headers comes from our own origin (or no browser)."""
    own = own_hosts(port)
    if host not in own:
        return False
    if origin is not None and origin not in {f"http://{h}" for h in own}:
        return False
    return fetch_site in (None, "same-origin", "none")
