"""The business dashboard: the owner's dashboard stack (aiohttp-jinja2, one-time login
link, session cookie, CSRF), showing what the business node holds and owes.

Served on the business control API's origin (127.0.0.1), outside ``/api/``.
Login, sessions and CSRF are :class:`vault.api.dashboard.security.SessionStore`,
the owner's; the cross-site check is the same
:func:`~vault.api.dashboard.security.origin_ok`; the pages reuse the owner's
stylesheet and security headers. Jinja2 autoescapes every value (peer strings
are hostile), with ``StrictUndefined`` so a template typo fails a test.

Pages: relationships (vault, petname, grants and states), requests awaiting a
decision, received data (live grants only, with expiry and retention), deletion
receipts sent, erasure obligations with deadlines, contact yield per mailing,
deals and agreements. One action: the business's petname for a vault.

**Live updates**, as on the owner's dashboard (:mod:`vault.api.dashboard.app`):
``GET /events`` is a Server-Sent Events stream fed by one poller that watches
the business store's audit head (O(1); with PostgreSQL it sees every worker's
writes). When it moves, every open page is told which kinds of entries were
added (``requester.grant``, ``requester.receipt``, ``requester.contact_sent``,
``requester.contact_signal``…), and the owner's page script (``kluis.js``)
re-fetches the page's ``<main>`` (``?partial=1``) and swaps it in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import escape

from protocol import KluisError
from vault.api.dashboard.app import FILTERS, SECURITY_HEADERS
from vault.api.dashboard.live import AuditFeed
from vault.api.dashboard.security import COOKIE, SESSION_TTL_MS, Session, SessionStore, origin_ok
from vault.api.dashboard.security import own_hosts as _own_hosts
from vault.business import views

if TYPE_CHECKING:
    from vault.business.node import BusinessNode

__all__ = ["BusinessDashboard"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
OWNER_STATIC = HERE.parent / "api" / "dashboard" / "static"
JINJA_KEY = web.AppKey("kluis_business_jinja", jinja2.Environment)
MAX_FORM = 16 * 1024


@dataclass(frozen=True, slots=True)
class BizPage:
    path: str
    title: str
    template: str
    data: Callable[[Any], dict[str, Any]]  # BusinessNode -> the template's values


PAGES: tuple[BizPage, ...] = (
    BizPage("/relationships", "Relationships", "relationships.html",
            lambda n: {"rows": views.relationships(n)}),
    BizPage("/requests", "Awaiting decision", "requests.html",
            lambda n: {"rows": views.awaiting(n)}),
    BizPage("/data", "Received data", "data.html", lambda n: {"rows": views.received(n)}),
    BizPage("/receipts", "Receipts sent", "receipts.html",
            lambda n: {"rows": n.biz.receipts(), "erasures": n.biz.erasure_receipts()}),
    BizPage("/obligations", "Obligations", "obligations.html",
            lambda n: {"rows": views.obligations(n)}),
    BizPage("/mailings", "Contact yield", "mailings.html",
            lambda n: {"rows": n.biz.yields.mailings()}),
    BizPage("/deals", "Deals", "deals.html",
            lambda n: {"rows": views.deals(n), "categories": n.offer_categories}),
)  # fmt: skip

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BusinessDashboard:
    def __init__(self, node: BusinessNode, token: Callable[[], str], port: Callable[[], int]):
        self.node = node
        self.sessions = SessionStore(token)
        self._port = port
        self.env = jinja2.Environment(autoescape=True)
        self.live = AuditFeed(lambda: self.node.biz.vault.audit, self._snapshot)

    def attach(self, app: web.Application) -> None:
        self.env = aiohttp_jinja2.setup(
            app, app_key=JINJA_KEY, loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True, undefined=jinja2.StrictUndefined,
            filters=FILTERS,
        )  # fmt: skip
        app.router.add_get("/", self._root)
        app.router.add_get("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_post("/relationships/petname", self._petname)
        app.router.add_get("/events", self._events)
        app.router.add_static("/static", OWNER_STATIC, append_version=True)
        app.on_shutdown.append(self._shutdown)
        for pg in PAGES:
            app.router.add_get(pg.path, self._page(pg))

    def login_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/login?once={quote(self.sessions.new_link_code())}"

    # -- guards ----------------------------------------------------------------------

    def _host_ok(self, request: web.Request) -> bool:
        return request.host in _own_hosts(self._port())

    def _session(self, request: web.Request) -> tuple[str | None, Session | None]:
        sid = request.cookies.get(COOKIE)
        return sid, self.sessions.get(sid)

    async def _post_guard(self, request: web.Request) -> tuple[Session | None, Any]:
        """Host, same origin, session and CSRF for a form POST: (session, form) or a refusal."""
        if not self._host_ok(request) or not origin_ok(
            request.host, request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"),
            self._port(),
        ):  # fmt: skip
            return None, _plain(403, "cross-site requests are refused")
        _, session = self._session(request)
        if session is None:
            return None, _plain(401, "log in first")
        if request.content_length is not None and request.content_length > MAX_FORM:
            return None, _plain(413, "form too large")
        form = await request.post()
        given = form.get("csrf", "")
        if not isinstance(given, str) or not SessionStore.csrf_ok(session, given):
            return None, _plain(403, "the form is stale or forged (CSRF token mismatch); reload")
        return session, form

    # -- routes ----------------------------------------------------------------------------

    def _page(self, pg: BizPage) -> Route:
        async def handler(request: web.Request) -> web.StreamResponse:
            if not self._host_ok(request):
                return _plain(403, "requests must address 127.0.0.1")
            _, session = self._session(request)
            if session is None:
                return _redirect("/login")
            partial = request.query.get("partial") == "1"
            return self._render(pg, session, request.query.get("error", ""), partial=partial)

        return handler

    def _render(
        self, pg: BizPage, session: Session, error: str = "", *, partial: bool = False
    ) -> web.Response:
        biz = self.node.biz
        profile = biz.profile.get()
        context = {
            "page": pg, "csrf": session.csrf, "peer_id": biz.peer_id, "now": biz.now(),
            "name": profile.display_name if profile is not None else "",
            "nav": [{"path": p.path, "title": p.title, "current": p is pg} for p in PAGES],
            "held": set(self.node.holder.held()), "error": error[:200],
            **pg.data(self.node),
        }  # fmt: skip
        template = self.env.get_template(pg.template)
        if partial:  # the live update: what goes inside <main> (base.html's "content")
            jctx = template.new_context(context)
            head = f"<h1>{escape(pg.title)}</h1>\n"
            if error:
                head += f'<p class="flash error" role="alert">{escape(error[:200])}</p>\n'
            html = head + "".join(template.blocks["main"](jctx))
        else:
            html = template.render(context)
        return web.Response(text=html, content_type="text/html", charset="utf-8",
                            headers=SECURITY_HEADERS)  # fmt: skip

    # -- live updates --------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        pending = sum(1 for r in self.node.biz.requests() if r.status == "pending")
        return {"pending": pending, "badges": {}}

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            return _plain(403, "requests must address 127.0.0.1")
        _, session = self._session(request)
        if session is None:
            return _plain(401, "log in first")
        return await self.live.stream(request)

    async def _shutdown(self, app: web.Application) -> None:
        await self.live.close()

    async def _root(self, request: web.Request) -> web.StreamResponse:
        _, session = self._session(request)
        return _redirect("/relationships" if session is not None else "/login")

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            return _plain(403, "requests must address 127.0.0.1")
        code = request.query.get("once")
        if code is None or not self.sessions.redeem_code(code):
            return _plain(400 if code else 401, "open a fresh login link: "
                          "kluis business dashboard")  # fmt: skip
        sid, _ = self.sessions.create()
        resp = _redirect("/relationships")
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/",
                        max_age=SESSION_TTL_MS // 1000)  # fmt: skip
        return resp

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session, form = await self._post_guard(request)
        if session is None:
            return form
        sid, _ = self._session(request)
        self.sessions.end(sid)
        resp = _redirect("/login")
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def _petname(self, request: web.Request) -> web.StreamResponse:
        session, form = await self._post_guard(request)
        if session is None:
            return form
        vault, name = str(form.get("vault", "")), str(form.get("petname", ""))
        known = {r.vault for r in views.relationships(self.node)}
        if vault not in known:
            return _redirect("/relationships?error=" + quote("no relationship with that vault"))
        try:
            views.set_petname(self.node, vault, name)
        except KluisError as exc:
            return _redirect("/relationships?error=" + quote(exc.message))
        return _redirect("/relationships")


def _plain(status: int, message: str) -> web.Response:
    return web.Response(text=message, status=status, headers=SECURITY_HEADERS)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})
