"""The owner's control API: local HTTP + JSON, for the CLI and (later) the dashboard.

Security, and why:

* **Loopback only.** The server binds ``127.0.0.1``; the port is chosen by the
  OS when ``port=0``.
* **A bearer token** of 32 random bytes (hex) is written to
  ``KLUIS_HOME/control.token`` with mode 0600, beside ``control.url``; only the
  owner's account can read it. Every request must carry
  ``Authorization: Bearer <token>``, compared in constant time
  (:func:`hmac.compare_digest`). Missing or wrong → 401.
* **Cross-site protection.** A request whose ``Origin`` is not the API's own
  origin, or whose ``Sec-Fetch-Site`` says ``cross-site``, is refused with 403
  before the token is even looked at; a ``Host`` other than
  ``127.0.0.1:<port>``/``localhost:<port>`` is refused too (DNS rebinding).
* **Errors are JSON** ``{"error": {"code", "message"}}`` with a 4xx status:
  bad JSON → 400 ``bad_json``, a body that does not validate → 400
  ``invalid_body``, unknown ids → 404, kluis errors → 400 with their code. A 500
  means a bug, and says only "internal error".

Routes (all under ``/api/v1``; bodies are the models in :mod:`vault.api.models`):

=======  ==============================  ==============================================
GET      /status                         peer id, multiaddrs, control URL, pid
GET      /requests[?status=pending]      access requests
POST     /requests/{id}/approve          ``ApproveBody`` → ``DecisionView``
POST     /requests/{id}/deny             ``DenyBody`` → ``DecisionView``
GET      /grants                         grants with status
POST     /grants/{id}/revoke             ``RevokeBody`` → ``RevokeResult`` (in force on return)
GET      /rules; POST /rules             list; add a ``Rule`` (201)
DELETE   /rules/{id}                     remove a rule
GET      /profile                        every set field (the owner's own values)
GET/PUT/DELETE /profile/{path}           one field; PUT takes ``PutFieldBody``
GET      /audit[?verify=1&tail=N]        audit entries (details hold paths, not values)
GET      /receipts[?grant=ID]            consent receipts (signed JSON + Kantara shape)
GET      /receipts/{id}[?format=...]     one receipt (kantara, iso27560: rendered, signed)
GET      /businesses[/{peer}]            who asks: label, profile, domain check (business_routes)
POST     /dashboard/login-link           a one-time dashboard login link
POST     /backup                         ``BackupBody`` → an encrypted backup (``kluis export``)
POST     /passphrase                     ``PassphraseBody``: rewrap the data key
GET      /openapi.json                   the OpenAPI 3.1 document (from the pydantic models)
=======  ==============================  ==============================================

Every route is also listed in :data:`vault.api.spec.OPERATIONS`, which the
OpenAPI document is generated from (a test checks the two agree).

The dashboard (:mod:`vault.api.dashboard`) is served on the same origin, outside
``/api/``: its pages use a session cookie and CSRF tokens instead of the bearer
token; the Host check applies to it as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from protocol import ErrorCode, Identity, KluisError
from protocol.consent_export import to_iso27560, to_kantara
from protocol.receipts import ConsentReceipt
from vault._exceptions import CorruptRecord
from vault.api.agent_routes import register_agent_routes
from vault.api.business_routes import register_business_routes
from vault.api.contact_routes import register_contact_routes
from vault.api.dashboard import Dashboard
from vault.api.dashboard.security import LINK_TTL_MS
from vault.api.models import (
    API_PREFIX,
    ApproveBody,
    AuditView,
    BackupBody,
    BackupResult,
    DecisionView,
    DenyBody,
    ErrorBody,
    ErrorDetail,
    FieldView,
    GrantList,
    GrantView,
    LoginLink,
    PassphraseBody,
    ProfileView,
    PutFieldBody,
    ReceiptList,
    ReceiptView,
    RequestList,
    RequestView,
    RevokeBody,
    RevokeResult,
    RuleList,
    StatusView,
)
from vault.api.spec import openapi_document, operations
from vault.home.atomic import atomic_write
from vault.services.consent import receipt_for, receipts
from vault.services.owner import Owner
from vault.services.rules import Rule
from vault.store.backup import write_backup
from vault.store.profile import FieldRecord
from vault.store.schema import parse_text
from vault.store.vault import Vault

__all__ = ["TOKEN_FILE", "URL_FILE", "ControlServer", "Owner"]

log = logging.getLogger(__name__)

TOKEN_FILE = "control.token"  # noqa: S105 (a file name)
URL_FILE = "control.url"
MAX_BODY = 64 * 1024

#: (method, route) -> the query parameters the OpenAPI document lists; others are a 400.
_KNOWN_QUERY: dict[tuple[str, str], set[str]] = {
    (op.method, API_PREFIX + op.path): {q.name for q in op.query} for op in operations()
}

_STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> web.Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return web.json_response(body.model_dump(mode="json"), status=status)


def _ok(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlServer:
    """The aiohttp app on 127.0.0.1 and its token/URL files."""

    def __init__(self, owner: Owner, home: Path, *, port: int = 0) -> None:
        self.owner = owner
        self.home = Path(home)
        self.port = port
        self.token = secrets.token_hex(32)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.dashboard = Dashboard(owner, lambda: self.token, port=lambda: self.port)

    @property
    def token_file(self) -> Path:
        return self.home / TOKEN_FILE

    @property
    def url_file(self) -> Path:
        return self.home / URL_FILE

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> str:
        """Bind, write ``control.token`` (0600) and ``control.url``; return the URL."""
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[self._guard_mw, self._errors_mw]
        )
        self._routes(app)
        self.dashboard.attach(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.port}"
        atomic_write(self.token_file, (self.token + "\n").encode("ascii"), mode=0o600)
        atomic_write(self.url_file, (self.url + "\n").encode("ascii"), mode=0o600)
        return self.url

    async def stop(self) -> None:
        """Stop serving and remove the token and URL files (only if they are still ours)."""
        for path, mine in ((self.token_file, self.token), (self.url_file, self.url)):
            with contextlib.suppress(OSError):
                if mine and path.read_text(encoding="ascii").strip() == mine:
                    path.unlink()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- middleware ----------------------------------------------------------------

    @web.middleware
    async def _guard_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        own = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if request.host not in own:
            return _error(403, "forbidden_host", "requests must address 127.0.0.1")
        if not request.path.startswith("/api/"):
            return await handler(request)  # the dashboard: session cookie + CSRF (its own guard)
        origin = request.headers.get("Origin")
        allowed = {f"http://{h}" for h in own}
        if origin is not None and origin not in allowed:
            return _error(403, "cross_origin", "cross-origin requests are refused")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _error(403, "cross_origin", "cross-site requests are refused")
        auth = request.headers.get("Authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("ascii")):
            return _error(401, "unauthorized", "a valid bearer token is required")
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource is not None else ""
        known = _KNOWN_QUERY.get((request.method, route))
        if known is not None and (extra := set(request.query) - known):
            unknown = ", ".join(sorted(extra))[:100]
            return _error(400, "bad_query", f"unknown query parameter: {unknown}")
        return await handler(request)

    @web.middleware
    async def _errors_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
                exc.status, "http_error"
            )
            return _error(exc.status, code, exc.reason)
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        except ValidationError as exc:
            return _error(400, "invalid_body", _describe(exc))
        except KluisError as exc:
            return _error(_STATUS.get(exc.code, 400), exc.code.value, exc.message)
        except Exception:
            log.exception("control API failed on %s %s", request.method, request.path)
            return _error(500, "internal_error", "internal error")

    # -- routes --------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        p = API_PREFIX
        app.router.add_get(f"{p}/status", self.status)
        app.router.add_get(f"{p}/requests", self.list_requests)
        app.router.add_post(f"{p}/requests/{{id}}/approve", self.approve)
        app.router.add_post(f"{p}/requests/{{id}}/deny", self.deny)
        app.router.add_get(f"{p}/grants", self.list_grants)
        app.router.add_post(f"{p}/grants/{{id}}/revoke", self.revoke)
        app.router.add_get(f"{p}/rules", self.list_rules)
        app.router.add_post(f"{p}/rules", self.add_rule)
        app.router.add_delete(f"{p}/rules/{{id}}", self.remove_rule)
        app.router.add_get(f"{p}/profile", self.profile)
        app.router.add_get(f"{p}/profile/{{path}}", self.get_field)
        app.router.add_put(f"{p}/profile/{{path}}", self.put_field)
        app.router.add_delete(f"{p}/profile/{{path}}", self.delete_field)
        app.router.add_get(f"{p}/audit", self.audit)
        app.router.add_get(f"{p}/receipts", self.list_receipts)
        app.router.add_get(f"{p}/receipts/{{id}}", self.get_receipt)
        app.router.add_post(f"{p}/dashboard/login-link", self.login_link)
        app.router.add_post(f"{p}/backup", self.backup)
        app.router.add_post(f"{p}/passphrase", self.change_passphrase)
        app.router.add_get(f"{p}/openapi.json", self.openapi)
        register_contact_routes(app, p, lambda: self.owner)  # inbox, contacts, erasures
        register_agent_routes(app, p, lambda: self.owner)  # intents, deals, agreements
        register_business_routes(app, p, lambda: self.owner)  # who asks: labels, petnames

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document(API_PREFIX))

    async def list_receipts(self, request: web.Request) -> web.Response:
        grant_id = _query(request, "grant", max_len=128)
        refs = receipts(self.owner.grants, self.owner.vault.identity, grant_id)
        label = self._label
        return _ok(
            ReceiptList(
                receipts=[_receipt(r.receipt, None, label(r.receipt.requester)) for r in refs]
            )
        )

    async def get_receipt(self, request: web.Request) -> web.Response:
        identity = self.owner.vault.identity
        ref = receipt_for(self.owner.grants, identity, request.match_info["id"])
        fmt = _query(request, "format", choices=("json", "kantara", "iso27560"))
        signer = identity if fmt in ("kantara", "iso27560") else None
        label = self._label(ref.receipt.requester)
        return _ok(_receipt(ref.receipt, signer, label, iso=fmt == "iso27560"))

    async def _check_passphrase(self, passphrase: str) -> None:
        vault = self.owner.vault
        await asyncio.to_thread(Vault.unlock_keyring, vault.paths, passphrase)  # WrongPassphrase

    async def backup(self, request: web.Request) -> web.Response:
        """``kluis export`` through the node (D2): the node is the one writer of the audit log."""
        body = BackupBody.model_validate(await _json(request))
        target = Path(body.path)
        if not target.is_absolute():
            raise ApiError(400, "bad_path", "give an absolute path")
        if not target.parent.is_dir():
            raise ApiError(400, "bad_path", "the backup's folder does not exist")
        if target.exists() and not body.force:
            raise ApiError(400, "exists", f"{target} exists; use force to overwrite it")
        await self._check_passphrase(body.passphrase)
        vault = self.owner.vault
        vault.audit.append("backup.export")
        snap = vault.snapshot()
        try:
            await asyncio.to_thread(
                write_backup, target, snap, body.passphrase, created_at=vault.clock()
            )
        except OSError as exc:
            raise ApiError(400, "bad_path", f"cannot write {target}: {exc.strerror}") from None
        result = BackupResult(
            path=str(target), records=len(snap.records), audit_entries=len(snap.audit)
        )
        return _ok(result, status=201)

    async def change_passphrase(self, request: web.Request) -> web.Response:
        """``kluis passphrase`` through the node: rewrap the data key, audited."""
        body = PassphraseBody.model_validate(await _json(request))
        await self._check_passphrase(body.current)
        self.owner.vault.change_passphrase(body.new)  # WeakPassphrase → 400
        return await self.status(request)

    async def login_link(self, request: web.Request) -> web.Response:
        await _json(request)  # no body fields; a malformed body is still a 400
        return _ok(
            LoginLink(
                url=self.dashboard.login_url(self.url),
                dashboard_url=self.url + "/",
                expires_in_s=LINK_TTL_MS // 1000,
            )
        )

    async def status(self, request: web.Request) -> web.Response:
        return _ok(
            StatusView(
                peer_id=self.owner.peer_id,
                addrs=list(self.owner.addrs),
                control_url=self.url,
                pid=os.getpid(),
            )
        )

    async def list_requests(self, request: web.Request) -> web.Response:
        status = _query(request, "status", choices=("pending", "approved", "denied"))
        states = self.owner.grants.requests(status)
        label = self._label
        return _ok(
            RequestList(requests=[RequestView.of(s, label(s.request.requester)) for s in states])
        )

    def _label(self, peer: str) -> dict[str, Any]:
        """The business's label (name, domain check, flags) for a view."""
        return self.owner.businesses.label(peer).to_json()

    async def approve(self, request: web.Request) -> web.Response:
        body = ApproveBody.model_validate(await _json(request))
        rid = request.match_info["id"]
        grant = self.owner.approve(rid, body.fields, body.days, actions=body.actions)
        book = self.owner.grants
        return _ok(
            DecisionView(
                request=RequestView.of(book.request(rid)),
                grant=GrantView.of(book.grant(grant.grant_id), book.now()),
            )
        )

    async def deny(self, request: web.Request) -> web.Response:
        body = DenyBody.model_validate(await _json(request))
        rid = request.match_info["id"]
        self.owner.deny(rid, body.reason)
        return _ok(DecisionView(request=RequestView.of(self.owner.grants.request(rid))))

    async def list_grants(self, request: web.Request) -> web.Response:
        book = self.owner.grants
        now = book.now()
        label = self._label
        return _ok(
            GrantList(
                grants=[GrantView.of(g, now, label(g.grant.requester)) for g in book.grants()]
            )
        )

    async def revoke(self, request: web.Request) -> web.Response:
        body = RevokeBody.model_validate(await _json(request))
        gid = request.match_info["id"]
        notice = await self.owner.revoke(gid, reason=body.reason, erase=body.erase)
        book = self.owner.grants
        return _ok(
            RevokeResult(
                grant=GrantView.of(book.grant(gid), book.now()),
                notice=notice.model_dump(mode="json"),
            )
        )

    async def list_rules(self, request: web.Request) -> web.Response:
        return _ok(RuleList(rules=self.owner.rules.rules()))

    async def add_rule(self, request: web.Request) -> web.Response:
        rule = Rule.model_validate(await _json(request))
        return _ok(self.owner.rules.add(rule), status=201)

    async def remove_rule(self, request: web.Request) -> web.Response:
        return _ok(self.owner.rules.remove(request.match_info["id"]))

    async def profile(self, request: web.Request) -> web.Response:
        errors: list[CorruptRecord] = []
        prefix = _query(request, "prefix", max_len=200, empty_ok=True) or None
        fields = self.owner.vault.profile.fields(prefix, errors=errors)
        return _ok(
            ProfileView(fields=[_field(f) for f in fields], corrupt=[e.name for e in errors])
        )

    async def get_field(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        profile = self.owner.vault.profile
        profile.get(path)  # FieldNotSet (404) if it has no value
        rec = profile.record(path)
        assert rec is not None
        return _ok(_field(rec))

    async def put_field(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = PutFieldBody.model_validate(await _json(request))
        if (body.text is None) == (body.value is None):
            raise ApiError(400, "invalid_body", "give exactly one of value or text")
        value = parse_text(path, body.text) if body.text is not None else body.value
        return _ok(_field(self.owner.vault.profile.set(path, value)))

    async def delete_field(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        return _ok(_field(self.owner.vault.profile.unset(path)))

    async def audit(self, request: web.Request) -> web.Response:
        log_ = self.owner.vault.audit
        tail_text = _query(request, "tail", max_len=7)
        try:
            tail = None if tail_text is None else int(tail_text)
        except ValueError:
            raise ApiError(400, "bad_query", "tail is a positive integer") from None
        if tail is not None and not 1 <= tail <= 1_000_000:
            raise ApiError(400, "bad_query", "tail is a positive integer")
        verify = _query(request, "verify", choices=("0", "1", "true", "false"))
        report = log_.verify() if verify in ("1", "true") else None
        try:
            entries = log_.tail(tail) if tail else list(log_.entries())
        except CorruptRecord:
            if report is None:
                raise
            entries = []
        return _ok(
            AuditView(
                entries=[e.to_json() for e in entries],
                verify=None if report is None else report.to_json(),
            )
        )


def _query(
    request: web.Request,
    name: str,
    *,
    choices: tuple[str, ...] | None = None,
    max_len: int = 200,
    empty_ok: bool = False,
) -> str | None:
    """A query parameter, checked like the OpenAPI document says (bad → 400 ``bad_query``)."""
    values = request.query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "bad_query", f"give {name} once")
    value = values[0]
    if choices is not None and value not in choices:
        raise ApiError(400, "bad_query", f"{name} is one of: {', '.join(choices)}")
    if (not value and not empty_ok) or len(value) > max_len:
        raise ApiError(400, "bad_query", f"{name} must be 1 to {max_len} characters")
    return value


def _receipt(
    receipt: ConsentReceipt,
    signer: Identity | None,
    business: dict[str, Any] | None = None,
    *,
    iso: bool = False,
) -> ReceiptView:
    """One receipt; with ``signer`` also rendered (Kantara, or ISO 27560 if ``iso``) and signed."""
    return ReceiptView(
        receipt_id=receipt.receipt_id,
        kind=receipt.kind.value,
        grant_id=receipt.grant_id,
        requester=receipt.requester,
        issued_at=receipt.issued_at,
        receipt=receipt.model_dump(mode="json"),
        kantara=to_kantara(receipt, signer) if signer is not None and not iso else None,
        iso27560=to_iso27560(receipt, signer) if signer is not None and iso else None,
        business=business,
    )


def _field(rec: FieldRecord) -> FieldView:
    return FieldView(path=rec.path, value=rec.value, version=rec.version, updated_at=rec.updated_at)


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid body: " + "; ".join(parts)
