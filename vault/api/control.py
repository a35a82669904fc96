"""The owner's control API: local HTTP + JSON, for the CLI, scripts and the dashboard's origin.

Security, and why:

* **Loopback only.** The server binds ``127.0.0.1``; the port is chosen by the
  OS when ``port=0``.
* **A bearer token** of 32 random bytes (hex) is written to
  ``KLUIS_HOME/control.token`` with mode 0600, beside ``control.url``; only the
  owner's account can read it. Every request must carry
  ``Authorization: Bearer <token>``, compared in constant time
  (:func:`hmac.compare_digest`). Missing or wrong → 401.
* **Cross-site protection.** A ``Host`` other than
  ``127.0.0.1:<port>``/``localhost:<port>`` is refused (DNS rebinding), and so
  is a request whose ``Origin`` is not the API's own origin, or whose
  ``Sec-Fetch-Site`` says ``cross-site``: 403 before the token is even looked
  at. The check is the dashboard's own
  (:func:`vault.api.dashboard.security.origin_ok`), so the two doors cannot
  disagree.
* **Errors are RFC 9457 problems** (``application/problem+json`` with a stable
  ``code``; :mod:`vault.api.answers`): bad JSON or JSON nested too deeply →
  400 ``bad_json``, a body that does not validate → 400 ``invalid_body``,
  unknown ids → 404, a policy refusal (``AccessDenied``) → 403, "exists; give
  force" → 409, other kluis errors → 400 with their code. A 500 means a bug,
  and says only "internal error".

Every route (method, path, handler, models) comes from the one table
:data:`vault.api.spec.OPERATIONS`, from which the OpenAPI document
(``GET /api/v1/openapi.json``) is generated as well. The handlers are methods of
:class:`ControlServer` (status, requests, grants, rules, profile, audit,
receipts, backup, passphrase, login links),
:class:`~vault.api.contact_routes.ContactRoutes` (inbox, contacts, erasures),
:class:`~vault.api.agent_routes.AgentRoutes` (intents, deals, agreements) and
:class:`~vault.api.business_routes.BusinessRoutes` (who asks: profiles, petnames).

The dashboard (:mod:`vault.api.dashboard`) is served on the same origin, outside
``/api/``: its pages use a session cookie and CSRF tokens instead of the bearer
token; the Host check applies to it as well.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from protocol import ErrorCode, Identity
from protocol.consent_export import to_iso27560, to_kantara
from protocol.receipts import ConsentReceipt
from vault._exceptions import CorruptRecord, VaultExists, describe_invalid
from vault.api.agent_routes import AgentRoutes
from vault.api.answers import BadRequest, ok
from vault.api.business_routes import BusinessRoutes
from vault.api.contact_routes import ContactRoutes
from vault.api.dashboard import Dashboard
from vault.api.dashboard.security import LINK_TTL_MS
from vault.api.guard import errors_middleware, guard_middleware
from vault.api.inputs import query, read_json, read_model
from vault.api.local_site import LocalSite
from vault.api.models import (
    API_PREFIX,
    ApproveBody,
    AuditView,
    BackupBody,
    BackupResult,
    DecisionView,
    DenyBody,
    FieldView,
    GrantList,
    GrantView,
    LoginLink,
    PassphraseBody,
    PassphraseCheckBody,
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
from vault.api.spec import OPERATIONS, openapi_document
from vault.home.paths import TOKEN_FILE, URL_FILE
from vault.services.consent import receipt_for, receipts
from vault.services.owner import Owner
from vault.services.reads import AccessTally
from vault.services.rules import Rule
from vault.store.backup import write_backup
from vault.store.profile import ProfileField
from vault.store.schema import parse_text
from vault.store.vault import Vault

__all__ = ["TOKEN_FILE", "URL_FILE", "ControlServer", "Owner"]

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024

#: (method, route) -> the query parameters the OpenAPI document lists; others are a 400.
_KNOWN_QUERY: dict[tuple[str, str], set[str]] = {
    (op.method, API_PREFIX + op.path): {q.name for q in op.query} for op in OPERATIONS
}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlServer:
    """The aiohttp app on 127.0.0.1 and its token/URL files."""

    def __init__(self, owner: Owner, home: Path, *, port: int = 0) -> None:
        self.owner = owner
        self.home = Path(home)
        self.port = port
        self.token = secrets.token_hex(32)
        self.url = ""
        self._site = LocalSite(self.home / TOKEN_FILE, self.home / URL_FILE)
        self.dashboard = Dashboard(owner, lambda: self.token, port=lambda: self.port)
        self._access = AccessTally(owner.vault.audit)
        self._guesses = asyncio.Lock()  # passphrase checks, one at a time

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
            client_max_size=MAX_BODY,
            middlewares=[
                guard_middleware(lambda: self.token, lambda: self.port, _KNOWN_QUERY),
                errors_middleware(log, "control API"),
            ],
        )
        self._routes(app)
        self.dashboard.attach(app)
        self.port, self.url = await self._site.start(app, self.port, self.token)
        return self.url

    async def stop(self) -> None:
        """Stop serving and remove the token and URL files (only if they are still ours)."""
        await self._site.stop()

    # -- routes --------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        """Every route of :data:`~vault.api.spec.OPERATIONS`, each bound to its one handler."""
        groups = (
            self,
            ContactRoutes(self.owner),
            AgentRoutes(self.owner),
            BusinessRoutes(self.owner),
        )
        for op in OPERATIONS:
            found = [getattr(g, op.handler) for g in groups if hasattr(g, op.handler)]
            if len(found) != 1:
                raise RuntimeError(f"{op.handler}: {len(found)} handlers (want exactly one)")
            app.router.add_route(op.method, API_PREFIX + op.path, found[0])

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document(API_PREFIX))

    async def list_receipts(self, request: web.Request) -> web.Response:
        grant_id = query(request, "grant", max_len=128)
        refs = receipts(self.owner.grants, self.owner.vault.identity, grant_id)
        label = self._label
        return ok(
            ReceiptList(
                receipts=[_receipt(r.receipt, None, label(r.receipt.requester)) for r in refs]
            )
        )

    async def get_receipt(self, request: web.Request) -> web.Response:
        identity = self.owner.vault.identity
        ref = receipt_for(self.owner.grants, identity, request.match_info["id"])
        fmt = query(request, "format", choices=("json", "kantara", "iso27560"))
        signer = identity if fmt in ("kantara", "iso27560") else None
        label = self._label(ref.receipt.requester)
        return ok(_receipt(ref.receipt, signer, label, iso=fmt == "iso27560"))

    async def _check_passphrase(self, passphrase: str) -> None:
        vault = self.owner.vault
        await asyncio.to_thread(Vault.unlock_keyring, vault.paths, passphrase)  # WrongPassphrase

    async def backup(self, request: web.Request) -> web.Response:
        """``kluis export`` through the node (D2): the node is the one writer of the audit log."""
        body = await read_model(request, BackupBody)
        target = Path(body.path)
        if not target.is_absolute():
            raise BadRequest("give an absolute path", code=ErrorCode.BAD_PATH)
        if not target.parent.is_dir():
            raise BadRequest("the backup's folder does not exist", code=ErrorCode.BAD_PATH)
        if target.exists() and not body.force:
            raise VaultExists(target, "a file exists at", hint="use force to overwrite it")
        await self._check_passphrase(body.passphrase)
        vault = self.owner.vault
        vault.audit.append("backup.export")
        snap = vault.snapshot()
        await asyncio.to_thread(  # an OSError arrives mapped, as BackupError (400)
            write_backup, target, snap, body.passphrase, created_at=vault.clock()
        )
        result = BackupResult(
            path=str(target), records=len(snap.records), audit_entries=len(snap.audit)
        )
        return ok(result, status=201)

    async def check_passphrase(self, request: web.Request) -> web.Response:
        """The passphrase a command was given, checked without a KDF when right (D39).

        A wrong one (by the in-memory HMAC) is confirmed by the KDF: a guess costs
        here what it costs against the keyfile, and guesses are checked one at a
        time, so the cheap path does not make guessing cheaper. The KDF also
        settles the one case the HMAC cannot (the same phrase, differently typed)."""
        body = await read_model(request, PassphraseCheckBody)
        async with self._guesses:
            if not self.owner.vault.is_passphrase(body.passphrase):
                await self._check_passphrase(body.passphrase)  # WrongPassphrase → 400
        return await self.status(request)

    async def change_passphrase(self, request: web.Request) -> web.Response:
        """``kluis passphrase`` through the node: rewrap the data key, audited."""
        body = await read_model(request, PassphraseBody)
        await self._check_passphrase(body.current)
        self.owner.vault.change_passphrase(body.new)  # WeakPassphrase → 400
        return await self.status(request)

    async def login_link(self, request: web.Request) -> web.Response:
        await read_json(request)  # no body fields; a malformed body is still a 400
        return ok(
            LoginLink(
                url=self.dashboard.login_url(self.url),
                dashboard_url=self.url + "/",
                expires_in_s=LINK_TTL_MS // 1000,
            )
        )

    async def status(self, request: web.Request) -> web.Response:
        return ok(
            StatusView(
                peer_id=self.owner.peer_id,
                addrs=list(self.owner.addrs),
                control_url=self.url,
                pid=os.getpid(),
            )
        )

    async def list_requests(self, request: web.Request) -> web.Response:
        status = query(request, "status", choices=("pending", "approved", "denied"))
        self.owner.grants.expire_pending()  # the owner never sees an expired request as waiting
        states = self.owner.grants.requests(status)
        label = self._label
        return ok(
            RequestList(requests=[RequestView.of(s, label(s.request.requester)) for s in states])
        )

    def _label(self, peer: str) -> dict[str, Any]:
        """The business's label (name, domain check, flags) for a view."""
        return self.owner.businesses.label(peer).to_json()

    async def approve(self, request: web.Request) -> web.Response:
        body = await read_model(request, ApproveBody)
        rid = request.match_info["id"]
        grant = self.owner.approve(rid, body.fields, body.days, actions=body.actions)
        book = self.owner.grants
        return ok(
            DecisionView(
                request=RequestView.of(book.request(rid)),
                grant=GrantView.of(book.grant(grant.grant_id), book.now()),
            )
        )

    async def deny(self, request: web.Request) -> web.Response:
        body = await read_model(request, DenyBody)
        rid = request.match_info["id"]
        self.owner.deny(rid, body.reason)
        return ok(DecisionView(request=RequestView.of(self.owner.grants.request(rid))))

    async def deny_unknown(self, request: web.Request) -> web.Response:
        body = await read_model(request, DenyBody)
        denied = self.owner.grants.deny_unknown(body.reason)
        return ok(RequestList(requests=[RequestView.of(s) for s in denied]))

    async def list_grants(self, request: web.Request) -> web.Response:
        book = self.owner.grants
        now = book.now()
        label, tally = self._label, self._access
        tally.refresh()
        return ok(
            GrantList(
                grants=[
                    GrantView.of(g, now, label(g.grant.requester), tally.of(g.grant_id))
                    for g in book.grants()
                ]
            )
        )

    async def revoke(self, request: web.Request) -> web.Response:
        body = await read_model(request, RevokeBody)
        gid = request.match_info["id"]
        notice = await self.owner.revoke(gid, reason=body.reason, erase=body.erase)
        book = self.owner.grants
        return ok(
            RevokeResult(
                grant=GrantView.of(book.grant(gid), book.now()),
                notice=notice.model_dump(mode="json"),
            )
        )

    async def list_rules(self, request: web.Request) -> web.Response:
        return ok(RuleList(rules=self.owner.rules.rules()))

    async def add_rule(self, request: web.Request) -> web.Response:
        rule = await read_model(request, Rule)
        return ok(self.owner.rules.add(rule), status=201)

    async def remove_rule(self, request: web.Request) -> web.Response:
        return ok(self.owner.rules.remove(request.match_info["id"]))

    async def profile(self, request: web.Request) -> web.Response:
        errors: list[CorruptRecord] = []
        prefix = query(request, "prefix", max_len=200, empty_ok=True) or None
        fields = self.owner.vault.profile.fields(prefix, errors=errors)
        return ok(ProfileView(fields=[_field(f) for f in fields], corrupt=[e.name for e in errors]))

    async def get_field(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        profile = self.owner.vault.profile
        profile.get(path)  # FieldNotSet (404) if it has no value
        rec = profile.record(path)
        assert rec is not None
        return ok(_field(rec))

    async def put_field(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await read_model(request, PutFieldBody)
        if (body.text is None) == (body.value is None):
            raise BadRequest("give exactly one of value or text", code=ErrorCode.INVALID_BODY)
        value = parse_text(path, body.text) if body.text is not None else body.value
        return ok(_field(self.owner.vault.profile.set(path, value)))

    async def delete_field(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        return ok(_field(self.owner.vault.profile.unset(path)))

    async def audit(self, request: web.Request) -> web.Response:
        log_ = self.owner.vault.audit
        tail_text = query(request, "tail", max_len=7)
        bad_tail = BadRequest("tail is a positive integer", code=ErrorCode.BAD_QUERY)
        try:
            tail = None if tail_text is None else int(tail_text)
        except ValueError as exc:
            raise bad_tail from exc
        if tail is not None and not 1 <= tail <= 1_000_000:
            raise bad_tail
        verify = query(request, "verify", choices=("0", "1", "true", "false", "full"))
        report = None
        if verify in ("1", "true", "full"):  # in a worker thread: reads go on meanwhile
            report = await log_.verify_off_loop(full=verify == "full")
        try:
            entries = log_.tail(tail) if tail else list(log_.entries())
        except CorruptRecord:
            if report is None:
                raise
            entries = []
        return ok(
            AuditView(
                entries=[e.to_json() for e in entries],
                verify=None if report is None else report.to_json(),
            )
        )


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


def _field(rec: ProfileField) -> FieldView:
    return FieldView(path=rec.path, value=rec.value, version=rec.version, updated_at=rec.updated_at)


def _describe(exc: ValidationError) -> str:
    return "invalid body: " + describe_invalid(exc)
