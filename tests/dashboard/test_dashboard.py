"""The dashboard over HTTP: login, session cookie, CSRF and origin checks, pages, live events."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from protocol import DecisionStatus, Identity, ReadResult, sign
from protocol.receipts import ConsentReceipt, verify_receipt

from ..vault.access_helpers import access_request
from .conftest import Running, csrf_of, logged_in
from .helpers import ask, frame, read_as

pytestmark = pytest.mark.timeout(60)

PAGES = ["/requests", "/grants", "/profile", "/audit", "/receipts"]


async def test_pages_need_a_session(running: Running):
    async with aiohttp.ClientSession() as s:
        for path in [*PAGES, "/"]:
            async with s.get(running.url + path, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/login", path
        for path in ["/events", "/receipts/abc.json"]:
            async with s.get(running.url + path) as resp:
                assert resp.status == 401, path
        async with s.post(
            running.url + "/grants/x/revoke", data={"csrf": "x"}, allow_redirects=False
        ) as resp:
            assert resp.status == 401
        # a bearer token does not open the dashboard, and a cookie does not open the API
        async with s.get(
            running.url + "/grants",
            headers={"Authorization": f"Bearer {running.token}"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303


async def test_token_login_logout_and_cookie_flags(running: Running):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.post(running.url + "/login", data={"token": "nope"}) as resp:
            assert resp.status == 400 and "not this vault" in await resp.text()
        async with s.post(
            running.url + "/login", data={"token": running.token}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            morsel = resp.cookies["kluis_session"]
            assert morsel["httponly"] is True and morsel["samesite"] == "Strict"
            assert morsel["path"] == "/"
        async with s.get(running.url + "/grants") as resp:
            assert resp.status == 200
            html = await resp.text()
            headers = resp.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        # the API still wants the token, even with a session cookie
        async with s.get(running.url + "/api/v1/status") as resp:
            assert resp.status == 401
        async with s.post(
            running.url + "/logout", data={"csrf": csrf_of(html)}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        async with s.get(running.url + "/grants", allow_redirects=False) as resp:
            assert resp.status == 303  # the session is gone


async def test_state_changes_need_csrf_and_same_origin(running: Running):
    node = running.node
    rid = await ask(node, Identity.generate())
    s, csrf = await logged_in(running)
    url = f"{running.url}/requests/{rid}/deny"
    async with s:
        for data, headers in [
            ({}, {}),  # no token
            ({"csrf": "forged"}, {}),  # wrong token
            ({"csrf": csrf}, {"Origin": "http://evil.example"}),
            ({"csrf": csrf}, {"Origin": "null"}),
            ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
            ({"csrf": csrf}, {"Sec-Fetch-Site": "same-site"}),
            ({"csrf": csrf}, {"Host": "evil.example"}),
        ]:
            async with s.post(url, data=data, headers=headers, allow_redirects=False) as resp:
                assert resp.status == 403, (data, headers, resp.status)
        assert node.grants.request(rid).status is DecisionStatus.PENDING  # nothing happened
        async with s.post(
            url,
            data={"csrf": csrf, "reason": "no thanks"},
            headers={"Origin": running.url, "Sec-Fetch-Site": "same-origin"},
        ) as resp:
            assert resp.status == 200 and "Denied the request" in await resp.text()
        assert node.grants.request(rid).status is DecisionStatus.DENIED
        # a login link cannot be made from a cross-site page either
        async with s.post(
            running.url + "/login",
            data={"token": running.token},
            headers={"Origin": "http://evil.example"},
        ) as resp:
            assert resp.status == 403


async def test_approve_narrowed_with_always_allow_then_revoke(running: Running):
    node = running.node
    biz = Identity.generate()
    rid = await ask(node, biz, ["contact.email", "name.given"])
    s, csrf = await logged_in(running)
    async with s:
        # invalid: no fields, and too many days -> 400 with inline errors, nothing decided
        async with s.post(
            f"{running.url}/requests/{rid}/approve",
            data={"csrf": csrf, "action": "read", "days": "999"},
        ) as resp:
            html = await resp.text()
            assert resp.status == 400
            assert "Choose at least one field" in html and "from 1 to 30" in html
            assert 'aria-invalid="true"' in html
        assert node.grants.request(rid).status is DecisionStatus.PENDING
        async with s.post(
            f"{running.url}/requests/{rid}/approve",
            data={
                "csrf": csrf,
                "field": "contact.email",
                "action": "read",
                "days": "7",
                "always": "1",
            },
        ) as resp:
            assert resp.status == 200
            assert "Approved" in await resp.text()
        state = node.grants.request(rid)
        grant = node.grants.grant(state.grant_id or "").grant
        assert grant.scope.fields == ("contact.email",)
        assert [a.value for a in grant.scope.actions] == ["read"]
        [rule] = node.rules.rules()
        assert rule.peers == (biz.peer_id,) and rule.fields == ("contact.email",)
        async with s.get(running.url + "/rules") as resp:
            assert f"rule-{rule.rule_id}" in await resp.text()
        # the rule decides the next identical request by itself
        again = access_request(biz, node.peer_id, ["contact.email"], actions=["read"])
        decision = await frame(node, biz, again)
        assert decision.status is DecisionStatus.APPROVED  # type: ignore[attr-defined]

        assert isinstance(await read_as(node, biz, grant.grant_id, ["contact.email"]), ReadResult)
        async with s.get(running.url + "/grants") as resp:
            html = await resp.text()
            assert "1 read" in html and "<svg" in html
        async with s.post(
            f"{running.url}/grants/{grant.grant_id}/revoke",
            data={"csrf": csrf, "reason": "moved", "erase": "1"},
        ) as resp:
            assert "Revoked grant" in await resp.text()
        assert node.grants.grant(grant.grant_id).revoked
        assert not isinstance(
            await read_as(node, biz, grant.grant_id, ["contact.email"]), ReadResult
        )
        # receipts: the grant and the erasure, downloadable and verifiable
        async with s.get(running.url + "/receipts") as resp:
            html = await resp.text()
        assert "erasure" in html
        ids = [part.split(".json")[0] for part in html.split('href="/receipts/')[1:]]
        for rid_ in set(ids):
            async with s.get(f"{running.url}/receipts/{rid_}.json") as resp:
                assert resp.status == 200
                assert "attachment" in resp.headers["Content-Disposition"]
                receipt = ConsentReceipt.model_validate(json.loads(await resp.text()))
                verify_receipt(receipt, node.peer_id)
            async with s.get(f"{running.url}/receipts/{rid_}.json?format=kantara") as resp:
                assert json.loads(await resp.text())["version"] == "KI-CR-v1.1.0"
        async with s.get(f"{running.url}/receipts/nope.json") as resp:
            assert resp.status == 404
        async with s.post(f"{running.url}/rules/{rule.rule_id}/remove", data={"csrf": csrf}) as r:
            assert "Removed the rule" in await r.text()
        assert node.rules.rules() == []


async def test_profile_edit_with_inline_errors(running: Running):
    s, csrf = await logged_in(running)
    async with s:
        async with s.post(
            running.url + "/profile/set",
            data={"csrf": csrf, "path": "contact.email", "value": "nope"},
        ) as resp:
            html = await resp.text()
            assert resp.status == 400 and 'aria-invalid="true"' in html
            assert 'value="nope"' in html  # what was typed is kept
        async with s.post(
            running.url + "/profile/set",
            data={"csrf": csrf, "path": "no.such.field", "value": "x", "form": "_new"},
        ) as resp:
            assert resp.status == 400 and "unknown field" in await resp.text()
        async with s.post(
            running.url + "/profile/set",
            data={"csrf": csrf, "path": "contact.phone", "value": "+31 20 123 4567"},
        ) as resp:
            assert resp.status == 200 and "Saved Phone, version 1." in await resp.text()
        async with s.post(
            running.url + "/profile/unset", data={"csrf": csrf, "path": "name.given"}
        ) as resp:
            assert "Removed Given name." in await resp.text()
        async with s.post(
            running.url + "/profile/unset", data={"csrf": csrf, "path": "name.given"}
        ) as resp:
            assert resp.status == 200 and 'class="flash error"' in await resp.text()
    profile = running.node.vault.profile
    assert profile.get("contact.phone") == "+31 20 123 4567"
    assert profile.get("contact.email") == "alice@example.org"


async def test_values_from_businesses_are_escaped(running: Running):
    node = running.node
    biz = Identity.generate()
    msg = access_request(biz, node.peer_id, ["contact.email"])
    evil = msg.model_copy(
        update={"purpose": msg.purpose.model_copy(update={"text": "<script>alert(1)</script>"})}
    )
    await frame(node, biz, sign(evil.model_copy(update={"sig": ""}), biz))
    s, _ = await logged_in(running)
    async with s:
        async with s.get(running.url + "/requests") as resp:
            html = await resp.text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_live_events_announce_a_new_request(running: Running):
    s, _ = await logged_in(running)
    async with s:
        async with s.get(running.url + "/events") as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")

            async def next_event() -> tuple[str, dict[str, object]]:
                name, data = "", ""
                while True:
                    line = (await resp.content.readline()).decode().rstrip("\n")
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and name:
                        return name, json.loads(data)

            name, hello = await asyncio.wait_for(next_event(), 5)
            assert name == "hello" and hello["pending"] == 0
            await ask(running.node, Identity.generate())
            name, event = await asyncio.wait_for(next_event(), 5)
            assert name == "change" and event["pending"] == 1
            assert event["badges"]["/requests"] == 1  # type: ignore[index]
            assert "access.request" in event["kinds"]  # type: ignore[operator]
        async with s.get(running.url + "/requests?partial=1") as resp:
            html = await resp.text()
            assert "<html" not in html and "asks for 2 fields" in html


async def test_a_cancelled_event_stream_stays_cancelled(running: Running):
    """Cancelling the SSE handler (a shutdown) propagates; it is not swallowed as a disconnect."""
    dash = running.dashboard
    sid, _ = dash.sessions.create()
    request = make_mocked_request(
        "GET",
        "/events",
        headers={"Host": running.url.removeprefix("http://"), "Cookie": f"kluis_session={sid}"},
    )
    task = asyncio.create_task(dash._events(request))
    for _ in range(500):  # until the stream listens (bounded)
        if dash.live.listeners:
            break
        await asyncio.sleep(0.01)
    assert dash.live.listeners and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() and not dash.live.listeners


async def test_open_event_streams_are_bounded(running: Running):
    """A tab beyond MAX_STREAMS gets a 503, not a stream; the bound holds for both dashboards."""
    from vault.api.dashboard.live import MAX_STREAMS

    dash = running.dashboard
    sid, _ = dash.sessions.create()
    request = make_mocked_request(
        "GET",
        "/events",
        headers={"Host": running.url.removeprefix("http://"), "Cookie": f"kluis_session={sid}"},
    )
    held: list[asyncio.Queue[dict[str, object]]] = [asyncio.Queue() for _ in range(MAX_STREAMS)]
    dash.live.listeners.update(held)
    try:
        resp = await dash._events(request)
        assert resp.status == 503 and len(dash.live.listeners) == MAX_STREAMS
    finally:
        dash.live.listeners.difference_update(held)


async def test_audit_page_shows_verification_and_a_broken_chain(running: Running):
    s, csrf = await logged_in(running)
    same = {"Origin": running.url, "Sec-Fetch-Site": "same-origin"}
    async with s:
        async with s.get(running.url + "/audit") as resp:
            html = await resp.text()
        # a render never walks the chain (issue 13 §1): it shows the checkpoint, if any
        assert "Not verified yet" in html and "Vault unlocked" in html
        async with s.post(running.url + "/audit/verify", data={"csrf": csrf}, headers=same) as resp:
            html = await resp.text()
        assert "Chain intact" in html and "Verified up to entry" in html
        async with s.get(running.url + "/audit?before=abc") as resp:
            assert resp.status == 200
        async with s.get(running.url + "/audit?kind=grant") as resp:
            assert "Vault unlocked" not in await resp.text()
        async with s.get(running.url + "/audit?kind=vault") as resp:
            assert "Vault unlocked" in await resp.text()
        # swap two sealed rows behind the vault's back: a full walk says where it breaks
        conn = sqlite3.connect(running.node.home / "vault.db", isolation_level=None)
        try:
            rows = dict(conn.execute("SELECT seq, sealed FROM audit WHERE seq IN (2, 3)"))
            conn.execute("UPDATE audit SET sealed = ? WHERE seq = 2", (rows[3],))
        finally:
            conn.close()
        async with s.post(
            running.url + "/audit/verify", data={"csrf": csrf, "full": "1"}, headers=same
        ) as resp:
            html = await resp.text()
        assert resp.status == 200 and "Chain broken at entry 2" in html
