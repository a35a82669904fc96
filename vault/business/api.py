"""The business node's control API: the owner's API machinery, a table of its own.

Same security as the vault's (:mod:`vault.api.control`, whose reasoning holds
here unchanged): 127.0.0.1 only; a 32-byte bearer token in
``KLUIS_BUSINESS_HOME/control.token`` (0600) beside ``control.url``, compared in
constant time; a foreign ``Host`` or a cross-site ``Origin``/``Sec-Fetch-Site``
refused with 403 before the token is looked at (the dashboard's own
:func:`~vault.api.dashboard.security.origin_ok`); errors are RFC 9457 problems
(:mod:`vault.api.answers`), bodies are read by :mod:`vault.api.inputs`. The
routes and the OpenAPI document come from
:data:`vault.business.spec.BUSINESS_OPERATIONS`.

Because the files have the owner's names, the CLI's
:class:`~vault.cli.client.ControlClient` talks to this node unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from protocol import AccessDenied, ContactPolicy, ErrorCode, Offer
from vault.api.answers import BadRequest, ok
from vault.api.dashboard.security import LINK_TTL_MS
from vault.api.guard import errors_middleware, guard_middleware
from vault.api.inputs import query, read_json, read_model
from vault.api.local_site import LocalSite
from vault.api.models import API_PREFIX, LoginLink
from vault.business import models as b
from vault.business import views
from vault.business.dashboard import BusinessDashboard
from vault.business.spec import BUSINESS_OPERATIONS, business_document
from vault.home.paths import TOKEN_FILE, URL_FILE
from vault.requester import GrantStatus, UnknownGrant, parse_purpose
from vault.requester._yield import view as yield_view

if TYPE_CHECKING:
    from vault.business.node import BusinessNode

__all__ = ["TOKEN_FILE", "URL_FILE", "BusinessControl"]

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024

_KNOWN_QUERY: dict[tuple[str, str], set[str]] = {
    (op.method, API_PREFIX + op.path): {q.name for q in op.query} for op in BUSINESS_OPERATIONS
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BusinessControl:
    """The aiohttp app on 127.0.0.1 serving :data:`BUSINESS_OPERATIONS`, and its files."""

    def __init__(self, node: BusinessNode, home: Path, *, port: int = 0) -> None:
        self.node = node
        self.home = Path(home)
        self.port = port
        self.token = secrets.token_hex(32)
        self.url = ""
        self._site = LocalSite(self.home / TOKEN_FILE, self.home / URL_FILE)
        self.dashboard = BusinessDashboard(node, lambda: self.token, lambda: self.port)

    async def start(self) -> str:
        app = web.Application(
            client_max_size=MAX_BODY,
            middlewares=[
                guard_middleware(lambda: self.token, lambda: self.port, _KNOWN_QUERY),
                errors_middleware(log, "business API"),
            ],
        )
        for op in BUSINESS_OPERATIONS:
            app.router.add_route(op.method, API_PREFIX + op.path, getattr(self, op.handler))
        self.dashboard.attach(app)
        self.port, self.url = await self._site.start(app, self.port, self.token)
        return self.url

    async def stop(self) -> None:
        await self._site.stop()

    # -- handlers ----------------------------------------------------------------------------

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(business_document(API_PREFIX))

    async def status(self, request: web.Request) -> web.Response:
        node = self.node
        profile = node.biz.profile.get()
        return ok(
            b.BizStatusView(
                peer_id=node.biz.peer_id,
                addrs=node.biz.addrs,
                control_url=self.url,
                pid=os.getpid(),
                display_name=None if profile is None else profile.display_name,
                held_subscriptions=node.holder.held(),
                offers=node.offer_categories,
                store=node.store_label,
                worker=node.worker,
                shards=None if node.biz.share is None else len(node.biz.share.leases.owned),
            )
        )

    async def list_requests(self, request: web.Request) -> web.Response:
        return ok(b.BizRequestList(requests=[_request(r) for r in self.node.biz.requests()]))

    async def send_request(self, request: web.Request) -> web.Response:
        body = await read_model(request, b.SendRequestBody)
        parse_purpose(body.purpose)
        try:
            terms = None if body.contact is None else ContactPolicy.of(body.contact)
        except ValueError as exc:  # an unknown category (pydantic's errors are ValueErrors too)
            raise BadRequest("contact: unknown category or bad numbers") from exc
        pending = await self.node.biz.request(
            body.vault,
            body.fields,
            body.purpose,
            body.purpose_text,
            days=body.days,
            retention_days=body.retention_days,
            offer=Offer(description=body.offer, value_cents=body.offer_cents),
            actions=body.actions,
            contact=terms,
        )
        return ok(_request(self.node.biz.book.request(pending.request_id)), status=201)

    async def wait_decision(self, request: web.Request) -> web.Response:
        body = await read_model(request, b.WaitBody)
        pending = self.node.biz.pending(request.match_info["id"])
        grant = await pending.decision(timeout=body.timeout)
        self.node.holder.refresh()
        return ok(self._grant(grant.grant_id))

    async def list_grants(self, request: web.Request) -> web.Response:
        self.node.holder.refresh()
        infos = self.node.biz.grants()
        return ok(b.BizGrantList(grants=[self._grant(g.grant_id) for g in infos]))

    async def read_grant(self, request: web.Request) -> web.Response:
        body = await read_model(request, b.ReadBody)
        grant_id = request.match_info["id"]
        records = await self.node.biz.read_records(grant_id, body.fields)
        return ok(
            b.ReadResult(
                grant_id=grant_id,
                values={p: r.value for p, r in records.items()},
                versions={p: r.version for p, r in records.items()},
            )
        )

    async def get_copy(self, request: web.Request) -> web.Response:
        grant_id = request.match_info["id"]
        info = self.node.biz.grant_info(grant_id)
        if info.status != GrantStatus.ACTIVE:
            raise AccessDenied(
                f"grant {grant_id} is {info.status}",
                code=ErrorCode.REVOKED if info.status == GrantStatus.REVOKED else ErrorCode.EXPIRED,
            )
        return ok(
            b.CopyView(
                grant_id=grant_id,
                values=dict(self.node.biz.local_copy(grant_id)),
                expires_at=info.expires_at,
                retention_days=info.retention_days,
            )
        )

    async def send_contact(self, request: web.Request) -> web.Response:
        body = await read_model(request, b.ContactBody)
        grant_id = request.match_info["id"]
        mid = await self.node.contact(
            grant_id,
            body.category,
            body.subject,
            body.body,
            mailing_id=body.mailing_id,
            queue=body.queue,
        )
        return ok(b.ContactResult(message_id=mid, grant_id=grant_id, mailing_id=body.mailing_id))

    async def list_mailings(self, request: web.Request) -> web.Response:
        rows = [b.MailingView(**yield_view(y)) for y in self.node.biz.yields.mailings()]
        return ok(b.MailingList(mailings=rows))

    async def list_deals(self, request: web.Request) -> web.Response:
        rows = [b.DealView(**views.deal_view(a)) for a in views.deals(self.node)]
        return ok(b.DealList(answering=list(self.node.offer_categories), deals=rows))

    async def list_activity(self, request: web.Request) -> web.Response:
        given = query(request, "after", max_len=12)
        if given is not None and not (given.isascii() and given.isdigit()):
            raise BadRequest("after is a sequence number", code=ErrorCode.BAD_QUERY)
        after = int(given) if given is not None else -1
        grant = query(request, "grant", max_len=128)
        rows = [
            b.ActivityView(
                seq=seq, at=a.at, kind=a.kind, grant_id=a.grant_id, path=a.path, version=a.version
            )
            for seq, a in self.node.holder.numbered()
            if seq > after and (grant is None or a.grant_id == grant)
        ]
        return ok(b.ActivityList(activity=rows))

    async def list_receipts(self, request: web.Request) -> web.Response:
        rows = [r.model_dump(mode="json") for r in self.node.biz.receipts()]
        return ok(b.DeletionReceiptList(receipts=rows))

    async def list_erasures(self, request: web.Request) -> web.Response:
        rows = [r.model_dump(mode="json") for r in self.node.biz.erasure_receipts()]
        return ok(b.ErasureReceiptList(receipts=rows))

    async def login_link(self, request: web.Request) -> web.Response:
        await read_json(request)  # no fields; a malformed body is still a 400
        return ok(
            LoginLink(
                url=self.dashboard.login_url(self.url),
                dashboard_url=self.url + "/",
                expires_in_s=LINK_TTL_MS // 1000,
            )
        )

    async def set_petname(self, request: web.Request) -> web.Response:
        from vault.business.views import name_vault

        body = await read_model(request, b.PetnameBody)
        vault = request.match_info["id"]
        named = name_vault(self.node.biz, vault, body.petname)
        return ok(b.PetnameView(vault=vault, petname=named))

    async def get_profile(self, request: web.Request) -> web.Response:
        return ok(self._profile())

    async def set_profile(self, request: web.Request) -> web.Response:
        body = await read_model(request, b.ProfileBody)
        self.node.biz.profile.set(**body.model_dump(exclude_none=True))
        return ok(self._profile())

    def _profile(self) -> b.ProfileOut:
        own = self.node.biz.profile
        profile = own.get()
        if profile is None:
            return b.ProfileOut(profile=None, well_known=None)
        shown = {
            k: v for k, v in profile.model_dump(mode="json").items() if k not in ("type", "sig")
        }
        return b.ProfileOut(profile=shown, well_known=json.loads(own.well_known()))

    def _grant(self, grant_id: str) -> b.BizGrantView:
        info = self.node.biz.grant_info(grant_id)
        return b.BizGrantView(
            grant_id=info.grant_id,
            vault=info.vault_peer,
            fields=list(info.fields),
            purpose=info.purpose,
            status=info.status,
            expires_at=info.expires_at,
            retention_days=info.retention_days,
            data_deleted=info.data_deleted,
            deleted_at=info.deleted_at,
            deletion_reason=info.deletion_reason,
            receipt_id=info.receipt_id,
            receipt_acked=info.receipt_acked,
            subscribed=grant_id in self.node.holder.held(),
        )


def _request(rec: Any) -> b.BizRequestView:
    req = rec.request
    return b.BizRequestView(
        request_id=rec.request_id,
        vault=rec.vault_addr,
        fields=list(req.scope.fields),
        purpose=req.purpose.code.value,
        created_at=rec.created_at,
        status=rec.status,
        grant_id=rec.grant_id,
        reason=rec.reason,
    )


__all__ += ["BadRequest", "UnknownGrant"]  # re-exported for the CLI's error mapping
