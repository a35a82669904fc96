"""The control API over real HTTP on a running node: OpenAPI, problems, receipts, login links."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import vault.api.agent_routes
import vault.api.contact_routes
from protocol import AccessDenied, ErrorCode, Identity, KluisError, RateLimited, ReadResult
from protocol.receipts import ConsentReceipt, verify_receipt
from vault._exceptions import FieldNotSet, VaultExists
from vault.api.answers import PROBLEM_JSON, TITLES, BadRequest, status_of
from vault.api.spec import OPERATIONS, openapi_document
from vault.cli.client import ApiProblem, ControlClient

from .conftest import Running
from .helpers import ask, read_as

pytestmark = pytest.mark.timeout(60)

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


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
            want = PROBLEM_JSON if resp.status >= 400 else "application/json"
            assert resp.content_type == want, (resp.status, text[:200])
            return resp.status, json.loads(text)


@pytest.fixture
async def api(running: Running) -> Any:
    async with aiohttp.ClientSession() as s:
        yield Api(running, s)


def _routed(r: Running) -> set[tuple[str, str]]:
    control = r.node.control
    assert control is not None
    app = control._site.app
    assert isinstance(app, web.Application)
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method != "HEAD"
    }


async def test_openapi_paths_are_exactly_the_routers_routes(running: Running):
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    for name in ("ApproveBody", "GrantView", "RequestView", "Problem", "Rule", "InboxItem"):
        assert name in schemas
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == _routed(running)
    assert len(documented) == len(OPERATIONS)  # one route per operation, none twice
    ids = [op.handler for op in OPERATIONS]
    assert len(set(ids)) == len(ids)  # operationIds are unique (each names one handler)


def test_the_document_does_not_depend_on_import_order():
    # the table is one constant: (re)importing a route module adds nothing to it
    before = json.dumps(openapi_document(), sort_keys=True)
    importlib.reload(vault.api.contact_routes)
    importlib.reload(vault.api.agent_routes)
    openapi_document.cache_clear()
    assert json.dumps(openapi_document(), sort_keys=True) == before


def test_every_error_status_is_documented_as_a_problem():
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"][PROBLEM_JSON]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method)
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == PROBLEM_KEYS
    assert problem["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    enum = doc["components"]["schemas"]["ErrorCode"]["enum"]
    assert set(enum) == {c.value for c in ErrorCode}  # every stable code is listed


async def test_openapi_served_needs_the_token(api: Api):
    status, body = await api.call("GET", "/openapi.json", token=None)
    assert status == 401 and body["code"] == "unauthorized"
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
        ("POST", "/rules", b"[" * 5000 + b"]" * 5000, "bad_json", 400),
        ("POST", "/rules", b'{"a":' * 40 + b"1" + b"}" * 40, "bad_json", 400),
        ("POST", "/contacts/x/prefs", b"[" * 40 + b"]" * 40, "bad_json", 400),
        (
            "PUT",
            "/profile/name.given",
            b'{"value":' + b"[" * 60 + b"]" * 60 + b"}",
            "bad_json",
            400,
        ),
        ("POST", "/contacts/x/prefs", b"{}", "invalid_body", 400),
        ("POST", "/erasures", b"{}", "invalid_body", 400),
        ("POST", "/inbox/nope/read", b"{}", "not_found", 404),
        ("GET", "/inbox?all=2", None, "bad_query", 400),
        ("GET", "/agents/deals", None, "not_found", 404),  # no network, no agents
    ],
)
async def test_errors_are_problem_details_with_a_stable_code(
    api: Api, method: str, path: str, raw: bytes | None, code: str | None, status: int
):
    got, body = await api.call(method, path, raw=raw)
    assert got == status, body
    assert set(body) == PROBLEM_KEYS and body["status"] == status and body["detail"]
    assert body["type"] == f"urn:kluis:problem:{body['code']}"
    assert body["title"] == TITLES[ErrorCode(body["code"])]
    if code is not None:
        assert body["code"] == code


async def test_a_file_in_the_way_of_a_backup_is_409(api: Api, tmp_path: Path):
    target = tmp_path / "backup.kluis"
    target.write_bytes(b"mine")
    body = {"path": str(target), "passphrase": "not checked yet"}
    status, problem = await api.call("POST", "/backup", body)
    assert status == 409 and problem["code"] == "exists" and "use force" in problem["detail"]
    assert target.read_bytes() == b"mine"


async def test_a_policy_refusal_is_403(api: Api, monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AccessDenied("the owner's policy says no", code=ErrorCode.DENIED)

    monkeypatch.setattr(api.r.node, "approve", refuse)
    status, problem = await api.call("POST", "/requests/any/approve", {})
    assert status == 403 and problem["code"] == "denied"


def test_status_of_maps_the_tree():
    assert status_of(AccessDenied("x", code=ErrorCode.REVOKED)) == 403
    assert status_of(AccessDenied("x", code=ErrorCode.NOT_FOUND)) == 404
    assert status_of(VaultExists("/x")) == 409
    assert status_of(FieldNotSet("a.b")) == 404
    assert status_of(RateLimited("x")) == 429
    assert status_of(BadRequest("x", code=ErrorCode.BAD_QUERY)) == 400
    assert status_of(KluisError("a kluis error is never a 500")) == 400
    assert set(TITLES) == set(ErrorCode)  # every code has its fixed title


async def test_token_host_and_origin_are_enforced(api: Api):
    for method, path in [("GET", "/status"), ("GET", "/grants"), ("POST", "/dashboard/login-link")]:
        assert (await api.call(method, path, token=None))[0] == 401
        assert (await api.call(method, path, token="0" * 64))[0] == 401
    status, body = await api.call("GET", "/status", headers={"Origin": "http://evil.example"})
    assert status == 403 and body["code"] == "cross_origin"
    status, body = await api.call("GET", "/status", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and body["code"] == "cross_origin"
    status, body = await api.call("GET", "/status", headers={"Host": "evil.example"})
    assert status == 403 and body["code"] == "forbidden_host"


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


async def test_the_cli_client_reads_problems(running: Running):
    client = ControlClient(running.url, running.token)
    with pytest.raises(ApiProblem) as info:
        await asyncio.to_thread(client.get, "profile/not.a.field")
    problem = info.value
    assert (problem.code, problem.status) == (ErrorCode.NOT_FOUND, 404)
    assert problem.type == "urn:kluis:problem:not_found" and "not.a.field" in problem.message
    with pytest.raises(ApiProblem) as info:
        await asyncio.to_thread(ControlClient(running.url, "0" * 64).get, "status")
    assert info.value.code is ErrorCode.UNAUTHORIZED and info.value.status == 401
    # an answer that is not a problem (a proxy's HTML page, say) still gives one line
    odd = ApiProblem.from_response(502, "text/html", b"<h1>Bad gateway</h1>")
    assert (odd.code, odd.status, odd.message) == (ErrorCode.HTTP_ERROR, 502, "HTTP 502")
    newer = ApiProblem.from_response(
        400, PROBLEM_JSON, b'{"code": "from_a_newer_node", "detail": "new", "status": 400}'
    )
    assert newer.code is ErrorCode.LOCAL and newer.message == "new"
