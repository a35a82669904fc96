"""The control API over real HTTP on a running node: OpenAPI, errors, receipts, login links."""

from __future__ import annotations

import json
import warnings
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from protocol import Identity, ReadResult
from protocol.receipts import ConsentReceipt, verify_receipt
from vault.api.control import ControlServer
from vault.api.spec import OPERATIONS, openapi_document, operations

from .conftest import Running
from .helpers import ask, read_as

pytestmark = pytest.mark.timeout(60)

IN_FLIGHT = ("/api/v1/agents/", "/api/v1/inbox", "/api/v1/erasures", "/api/v1/contact")


class Api:
    def __init__(self, r: Running, session: aiohttp.ClientSession) -> None:
        self.r, self.s = r, session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        hdrs = dict(headers or {})
        tok = self.r.token if token == "" else token
        if tok is not None:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        async with self.s.request(
            method, self.r.url + "/api/v1" + path, data=data, headers=hdrs
        ) as resp:
            text = await resp.text()
            assert resp.content_type == "application/json", (resp.status, text[:200])
            return resp.status, json.loads(text)


@pytest.fixture
async def api(running: Running) -> Any:
    async with aiohttp.ClientSession() as s:
        yield Api(running, s)


async def test_openapi_is_generated_from_the_models_and_matches_the_router(running: Running):
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    for name in ("ApproveBody", "GrantView", "RequestView", "ErrorBody", "Rule", "ReceiptView"):
        assert name in schemas
    # the table and the live router of a running node agree, route for route
    control = running.node.control
    assert control is not None and control._runner is not None
    app = control._runner.app
    assert isinstance(app, web.Application)
    routed = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1")
        and r.method != "HEAD"
    }
    documented = {(op.method, "/api/v1" + op.path) for op in operations()}
    assert documented <= routed, documented - routed
    missing = routed - documented
    # features still landing (agents, inbox, erasures) document their routes with
    # api_spec.register() once their response models exist; until then: a warning
    core = {m for m in missing if not m[1].startswith(IN_FLIGHT)}
    assert not core, f"routes missing from vault/api/spec.py: {core}"
    if missing:
        warnings.warn(f"undocumented feature routes: {sorted(missing)}", stacklevel=1)
    for op in OPERATIONS:
        assert hasattr(ControlServer, op.handler), op.handler


async def test_openapi_served_needs_the_token(api: Api):
    status, body = await api.call("GET", "/openapi.json", token=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await api.call("GET", "/openapi.json")
    assert status == 200 and body == json.loads(json.dumps(openapi_document()))


@pytest.mark.parametrize(
    ("method", "path", "raw", "code", "status"),
    [
        ("POST", "/requests/x/approve", b"{not json", "bad_json", 400),
        ("POST", "/requests/x/approve", b'{"fields": []}', "invalid_body", 400),
        ("POST", "/requests/x/approve", b'{"nope": 1}', "invalid_body", 400),
        ("POST", "/requests/nope/approve", b"{}", "not_found", 404),
        ("POST", "/grants/nope/revoke", b"{}", "not_found", 404),
        ("GET", "/audit?tail=abc", None, "bad_query", 400),
        ("GET", "/requests?status=maybe", None, "bad_query", 400),
        ("GET", "/profile/not.a.field", None, "not_found", 404),
        ("PUT", "/profile/contact.email", b'{"text": "not an email"}', None, 400),
        ("PUT", "/profile/contact.email", b'{"value": {"a": [1]}}', None, 400),
        ("GET", "/nowhere", None, "not_found", 404),
        ("PATCH", "/grants", None, "method_not_allowed", 405),
        ("GET", "/receipts/nope", None, "not_found", 404),
    ],
)
async def test_errors_are_json_with_a_stable_code(
    api: Api, method: str, path: str, raw: bytes | None, code: str | None, status: int
):
    got, body = await api.call(method, path, raw=raw)
    assert got == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


async def test_token_host_and_origin_are_enforced(api: Api):
    for method, path in [("GET", "/status"), ("GET", "/grants"), ("POST", "/dashboard/login-link")]:
        assert (await api.call(method, path, token=None))[0] == 401
        assert (await api.call(method, path, token="0" * 64))[0] == 401
    status, body = await api.call("GET", "/status", headers={"Origin": "http://evil.example"})
    assert status == 403 and body["error"]["code"] == "cross_origin"
    status, body = await api.call("GET", "/status", headers={"Host": "evil.example"})
    assert status == 403 and body["error"]["code"] == "forbidden_host"


async def test_approve_read_revoke_and_receipts_over_http(api: Api):
    node = api.r.node
    biz = Identity.generate()
    rid = await ask(node, biz)
    status, body = await api.call("GET", "/requests?status=pending")
    assert status == 200 and [r["request_id"] for r in body["requests"]] == [rid]
    status, body = await api.call("POST", f"/requests/{rid}/approve", {"fields": ["contact.email"]})
    assert status == 200, body
    gid = body["grant"]["grant_id"]
    reply = await read_as(node, biz, gid, ["contact.email"])
    assert isinstance(reply, ReadResult)
    status, body = await api.call("POST", f"/grants/{gid}/revoke", {"reason": "bye"})
    assert status == 200 and body["grant"]["status"] == "revoked"
    status, body = await api.call("GET", f"/receipts?grant={gid}")
    assert status == 200
    kinds = [r["kind"] for r in body["receipts"]]
    assert kinds == ["grant", "revocation"]
    for item in body["receipts"]:
        receipt = ConsentReceipt.model_validate(item["receipt"])
        verify_receipt(receipt, node.peer_id)
    # receipts are derived deterministically: the same bytes every time
    rid0 = body["receipts"][1]["receipt_id"]
    status, one = await api.call("GET", f"/receipts/{rid0}?format=kantara")
    assert status == 200 and one["receipt"] == body["receipts"][1]["receipt"]
    assert one["kantara"]["version"] == "KI-CR-v1.1.0"
    assert one["kantara"]["kluis"]["kind"] == "revocation"
    status, audit = await api.call("GET", "/audit?verify=1&tail=5")
    assert status == 200 and audit["verify"]["ok"] and len(audit["entries"]) == 5


async def test_login_link_from_the_api_works_once(api: Api):
    status, body = await api.call("POST", "/dashboard/login-link")
    assert status == 200 and body["url"].startswith(api.r.url + "/login?once=")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.get(body["url"], allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/requests"
            cookie = resp.cookies["kluis_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with s.get(body["url"], allow_redirects=False) as resp:
            assert resp.status == 400  # used already
