"""The dashboard: server-rendered pages for the owner, on the control API's origin.

How it fits together:

* :class:`Dashboard` adds its routes to an aiohttp app (the control server's,
  so the dashboard and ``/api/v1`` share one origin on 127.0.0.1), sets up
  Jinja2 (autoescaping on) and serves ``/static``.
* **Pages** are registered with :func:`page` and **actions** (form POSTs) with
  :func:`action`. Adding a page is one handler plus one template::

      @page("/inbox", "Inbox", "inbox.html", order=60)
      async def inbox(ctx: Ctx) -> dict[str, Any]:
          return {"messages": ...}

  and importing its module in :mod:`vault.api.dashboard` (``PAGE_MODULES``). The
  navigation is built from the registry.
* Every page and action goes through :meth:`Dashboard._guarded`: Host check,
  session cookie, and for POSTs the same-origin check and the CSRF token
  (:mod:`vault.api.dashboard.security`). Handlers never see an anonymous request.
* **Live updates**: ``GET /events`` is a Server-Sent Events stream. One poller
  per dashboard watches the audit head (O(1)); when it moves it tells every
  open page which kinds of entries were added and how many requests are
  pending. The page script then re-fetches the current page's ``<main>``
  (``?partial=1``) and swaps it in, unless the owner is editing a form there.
* Errors on pages are HTML, never a traceback; a kluis error from an action is
  shown as a message on the page it came from.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web

from protocol import ErrorCode, KluisError
from protocol.clock import ISO, MINUTE_UTC, format_ms
from protocol.confusables import visible
from vault.api.answers import BadRequest, status_of
from vault.api.dashboard.live import AuditFeed
from vault.api.dashboard.security import (
    COOKIE,
    SESSION_TTL_MS,
    Session,
    SessionStore,
    origin_ok,
    own_hosts,
)
from vault.api.dashboard.stats import AccessStats
from vault.services.owner import Owner

__all__ = ["Ctx", "Dashboard", "Invalid", "Owner", "Page", "action", "endpoint", "page"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
JINJA_KEY = web.AppKey("kluis_dashboard_jinja", jinja2.Environment)
MAX_FORM = 64 * 1024

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make form POSTs send Origin: null
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Invalid(BadRequest):
    """Raised by an action: re-render ``page_path`` with these inline errors (status 400)."""

    def __init__(self, page_path: str, errors: dict[str, str], **context: Any) -> None:
        super().__init__("invalid form", code=ErrorCode.INVALID_BODY)
        self.page_path = page_path
        self.errors = errors
        self.context = context


@dataclass(slots=True)
class Ctx:
    """What a page or action handler gets."""

    request: web.Request
    dash: Dashboard
    session: Session
    form: dict[str, list[str]] = field(default_factory=dict)

    @property
    def owner(self) -> Owner:
        return self.dash.owner

    def value(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    def values(self, name: str) -> list[str]:
        return list(self.form.get(name, []))

    def flash(self, message: str, kind: str = "ok") -> None:
        self.dash.flashes.setdefault(self.session.sid_hash, []).append((kind, message))


PageHandler = Callable[[Ctx], Awaitable[dict[str, Any]]]
ActionHandler = Callable[[Ctx], Awaitable[str]]  # returns the path to redirect to
EndpointHandler = Callable[[Ctx], Awaitable[web.StreamResponse]]  # a logged-in GET (downloads)


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    title: str
    template: str
    handler: PageHandler
    order: int = 100
    nav: bool = True
    badge: Callable[[Owner], int] | None = None


def _inert(value: Any) -> Any:
    """Every ``{{ }}`` output: autoescape makes markup inert; this spells out control
    and bidi characters (text stored before the wire refused them) so none acts."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return visible(value)
    return value


PAGES: dict[str, Page] = {}
ACTIONS: dict[str, ActionHandler] = {}
ENDPOINTS: dict[str, EndpointHandler] = {}


def page(
    path: str,
    title: str,
    template: str,
    *,
    order: int = 100,
    nav: bool = True,
    badge: Callable[[Owner], int] | None = None,
) -> Callable[[PageHandler], PageHandler]:
    """Register a page (GET ``path``) rendered with ``template`` from the handler's dict."""

    def deco(fn: PageHandler) -> PageHandler:
        PAGES[path] = Page(path, title, template, fn, order, nav, badge)
        return fn

    return deco


def endpoint(path: str) -> Callable[[EndpointHandler], EndpointHandler]:
    """Register a logged-in GET that answers by itself (a download, a fragment)."""

    def deco(fn: EndpointHandler) -> EndpointHandler:
        ENDPOINTS[path] = fn
        return fn

    return deco


def action(path: str) -> Callable[[ActionHandler], ActionHandler]:
    """Register a form POST at ``path``; the handler returns where to redirect (303)."""

    def deco(fn: ActionHandler) -> ActionHandler:
        ACTIONS[path] = fn
        return fn

    return deco


# -- template helpers -----------------------------------------------------------------------


def when(ms: int | None) -> str:
    return format_ms(ms, MINUTE_UTC, missing="—")


def short_peer(peer: str) -> str:
    return peer if len(peer) <= 16 else f"{peer[:8]}…{peer[-6:]}"


def money(cents: int) -> str:
    return f"€{cents // 100},{cents % 100:02d}" if cents else ""


FILTERS: dict[str, Callable[..., str]] = {
    "when": when,
    "short": short_peer,
    "money": money,
    "iso": functools.partial(format_ms, fmt=ISO),
}


class Dashboard:
    """The owner's web dashboard for one running node."""

    def __init__(self, owner: Owner, token: Callable[[], str], *, port: Callable[[], int]) -> None:
        self.owner = owner
        self.sessions = SessionStore(token)
        self._port = port
        self.stats = AccessStats()
        self.flashes: dict[str, list[tuple[str, str]]] = {}
        self.live = AuditFeed(lambda: self.owner.vault.audit, self._snapshot)
        self.env = jinja2.Environment(autoescape=True)  # replaced in attach()

    # -- wiring ------------------------------------------------------------------------

    def attach(self, app: web.Application) -> None:
        """Add the dashboard's routes to ``app`` (call before the app starts)."""
        from vault.api.dashboard import PAGE_MODULES  # noqa: F401  (importing them registers their pages)

        self.env = aiohttp_jinja2.setup(
            app,
            app_key=JINJA_KEY,
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            filters=FILTERS,
            finalize=_inert,
        )
        app.router.add_get("/", self._root)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login_submit)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/events", self._events)
        app.router.add_static("/static", HERE / "static", append_version=True)
        for path in PAGES:
            app.router.add_get(path, self._page_route(path))
        for path in ACTIONS:
            app.router.add_post(path, self._action_route(path))
        for path in ENDPOINTS:
            app.router.add_get(path, self._endpoint_route(path))
        app.on_shutdown.append(self._on_shutdown)

    def login_url(self, base_url: str) -> str:
        """A fresh one-time login link (works once, for ten minutes)."""
        return f"{base_url.rstrip('/')}/login?once={quote(self.sessions.new_link_code())}"

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.live.close()

    # -- guards ------------------------------------------------------------------------

    def _host_ok(self, request: web.Request) -> bool:
        return request.host in own_hosts(self._port())

    def _session(self, request: web.Request) -> tuple[str | None, Session | None]:
        sid = request.cookies.get(COOKIE)
        return sid, self.sessions.get(sid)

    def _page_route(self, path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            if not self._host_ok(request):
                return _plain(403, "requests must address 127.0.0.1")
            _, session = self._session(request)
            if session is None:
                return _redirect("/login")
            return await self.render(PAGES[path], Ctx(request, self, session))

        return handler

    def _endpoint_route(self, path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            if not self._host_ok(request):
                return _plain(403, "requests must address 127.0.0.1")
            _, session = self._session(request)
            if session is None:
                return _plain(401, "log in first")
            try:
                return await ENDPOINTS[path](Ctx(request, self, session))
            except KluisError as exc:
                return _plain(status_of(exc), exc.message)

        return handler

    def _action_route(self, path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            refused = self._cross_site(request)
            if refused is not None:
                return refused
            _, session = self._session(request)
            if session is None:
                return _plain(401, "log in first")
            form = await _form(request)
            given = form.get("csrf", [""])[0] or request.headers.get("X-CSRF-Token", "")
            if not SessionStore.csrf_ok(session, given):
                return _plain(403, "the form is stale or forged (CSRF token mismatch); reload")
            ctx = Ctx(request, self, session, form)
            try:
                target = await ACTIONS[path](ctx)
            except Invalid as exc:
                return await self.render(
                    PAGES[exc.page_path], ctx, status=400, errors=exc.errors, **exc.context
                )
            except KluisError as exc:
                ctx.flash(exc.message, "error")
                target = _back(request)
            return _redirect(target)

        return handler

    def _cross_site(self, request: web.Request) -> web.Response | None:
        if not origin_ok(
            request.host,
            request.headers.get("Origin"),
            request.headers.get("Sec-Fetch-Site"),
            self._port(),
        ):
            return _plain(403, "cross-site requests are refused")
        return None

    # -- rendering -----------------------------------------------------------------------

    async def render(self, pg: Page, ctx: Ctx, *, status: int = 200, **extra: Any) -> web.Response:
        self.stats.refresh(self.owner.vault.audit)
        data = await pg.handler(ctx)
        data.update(extra)
        data.setdefault("errors", {})
        nav = [
            {
                "path": p.path,
                "title": p.title,
                "current": p.path == pg.path,
                "badge": p.badge(self.owner) if p.badge is not None else 0,
            }
            for p in sorted(PAGES.values(), key=lambda p: (p.order, p.path))
            if p.nav
        ]
        flashes = self.flashes.pop(ctx.session.sid_hash, [])
        context = {
            "page": pg,
            "nav": nav,
            "csrf": ctx.session.csrf,
            "flashes": flashes,
            "peer_id": self.owner.peer_id,
            "now": self.owner.grants.now(),
            "biz": self.owner.businesses.label,  # who a peer id is (templates/_business.html)
            **data,
        }
        template = self.env.get_template(pg.template)
        if ctx.request.query.get("partial") == "1":
            jctx = template.new_context(context)
            html = "".join(template.blocks["main"](jctx))
        else:
            html = template.render(context)
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    # -- login -----------------------------------------------------------------------------

    async def _root(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            return _plain(403, "requests must address 127.0.0.1")
        _, session = self._session(request)
        return _redirect("/requests" if session is not None else "/login")

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            return _plain(403, "requests must address 127.0.0.1")
        code = request.query.get("once")
        if code is not None:
            if self.sessions.redeem_code(code):
                return self._logged_in()
            return self._login_form("This login link was used already or has expired.", 400)
        return self._login_form("", 200)

    async def _login_submit(self, request: web.Request) -> web.StreamResponse:
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        form = await _form(request)
        if self.sessions.token_ok(form.get("token", [""])[0]):
            return self._logged_in()
        return self._login_form("That is not this vault's token.", 400)

    def _logged_in(self) -> web.Response:
        sid, _ = self.sessions.create()
        resp = _redirect("/requests")
        resp.set_cookie(
            COOKIE,
            sid,
            httponly=True,
            samesite="Strict",
            path="/",
            max_age=SESSION_TTL_MS // 1000,
        )
        return resp

    def _login_form(self, error: str, status: int) -> web.Response:
        html = self.env.get_template("login.html").render(error=error, peer_id=self.owner.peer_id)
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        sid, session = self._session(request)
        form = await _form(request)
        if session is None or not SessionStore.csrf_ok(session, form.get("csrf", [""])[0]):
            return _redirect("/login")
        self.sessions.end(sid)
        resp = _redirect("/login")
        resp.del_cookie(COOKIE, path="/")
        return resp

    # -- live updates ---------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        badges = {p.path: p.badge(self.owner) for p in PAGES.values() if p.badge is not None}
        return {"pending": badges.get("/requests", 0), "badges": badges}

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            return _plain(403, "requests must address 127.0.0.1")
        _, session = self._session(request)
        if session is None:
            return _plain(401, "log in first")
        return await self.live.stream(request)


# -- small helpers ------------------------------------------------------------------------------


def _plain(status: int, message: str) -> web.Response:
    return web.Response(text=message, status=status, headers=SECURITY_HEADERS)


def _redirect(location: str) -> web.Response:
    if not location.startswith("/") or location.startswith("//"):
        location = "/"
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def _back(request: web.Request) -> str:
    path = request.path
    parent = "/" + path.strip("/").split("/")[0]
    return parent if parent in PAGES else "/"


async def _form(request: web.Request) -> dict[str, list[str]]:
    if request.content_length is not None and request.content_length > MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM, actual_size=request.content_length)
    try:
        data = await request.post()
    except Exception:
        return {}
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out
