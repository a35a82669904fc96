"""Sessions, login codes and charts, without a server."""

from __future__ import annotations

from collections import Counter

from protocol.clock import DAY_MS
from tests.conftest import ManualClock
from vault.api.dashboard.charts import Bar, expiry_chart, reads_chart
from vault.api.dashboard.security import (
    LINK_TTL_MS,
    MAX_SESSIONS,
    SESSION_TTL_MS,
    SessionStore,
    origin_ok,
)


def test_login_codes_work_once_and_expire():
    clock = ManualClock(1_000_000)
    store = SessionStore(lambda: "tok", clock=clock)
    code = store.new_link_code()
    assert store.redeem_code(code) and not store.redeem_code(code)
    late = store.new_link_code()
    clock.now += LINK_TTL_MS
    assert not store.redeem_code(late)
    assert not store.redeem_code("guess")
    assert store.token_ok("tok") and store.token_ok(" tok\n") and not store.token_ok("tok2")


def test_sessions_expire_and_are_bounded():
    clock = ManualClock(1_000_000)
    store = SessionStore(lambda: "tok", clock=clock)
    sid, session = store.create()
    assert store.get(sid) is session and store.get("other") is None and store.get(None) is None
    assert SessionStore.csrf_ok(session, session.csrf)
    assert not SessionStore.csrf_ok(session, "x") and not SessionStore.csrf_ok(session, None)
    store.end(sid)
    assert store.get(sid) is None
    sid, _ = store.create()
    clock.now += SESSION_TTL_MS
    assert store.get(sid) is None
    sids = [store.create()[0] for _ in range(MAX_SESSIONS + 5)]
    assert store.get(sids[0]) is None and store.get(sids[-1]) is not None


def test_origin_checks():
    assert origin_ok("127.0.0.1:8000", None, None, 8000)
    assert origin_ok("localhost:8000", "http://localhost:8000", "same-origin", 8000)
    assert not origin_ok("evil.example:8000", None, None, 8000)
    assert not origin_ok("127.0.0.1:8000", "http://127.0.0.1:8001", None, 8000)
    assert not origin_ok("127.0.0.1:8000", "null", None, 8000)
    assert not origin_ok("127.0.0.1:8000", None, "cross-site", 8000)


def test_charts_escape_labels_and_handle_empty_data():
    svg = reads_chart({"<b>": Counter({10: 3, 12: 1})}, 12, label={"<b>": "<b>"})
    assert "&lt;b&gt;" in svg and svg.count("<rect") >= 2
    empty = reads_chart({}, 12, label={})
    assert "0 reads" in empty
    assert "No active grants" in expiry_chart([], 0)
    chart = expiry_chart([Bar("a<script>", 5 * DAY_MS), Bar("b", 90 * DAY_MS)], 0)
    assert "a&lt;script&gt;" in chart and 'class="soon"' in chart and "d+" in chart
