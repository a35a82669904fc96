"""AccessService without sockets: real identities, real signed messages, every refusal typed.

Frames reach the service through the access grammar's server Connection, as on
a real node (``tests/vault/serving.py``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    Ack,
    Decision,
    DecisionStatus,
    Error,
    ErrorCode,
    Grant,
    Identity,
    Message,
    ReadResult,
    RevokeNotice,
    Update,
    dump_message,
    verify,
)
from protocol.clock import DAY_MS, now_ms
from protocol.messages import AwaitDecision
from tests.conftest import PASSPHRASE, ManualClock
from vault.services.access import MAX_SUBSCRIPTIONS_PER_PEER, ROUTES, AccessService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RequesterCondition, Rule, RuleAction, RuleBook
from vault.store.vault import Vault

from .access_helpers import access_request, deletion_receipt, read, subscribe
from .serving import ServerStream, answer

ALICE = Identity.generate()
MALLORY = Identity.generate()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(now_ms())


@pytest.fixture
def cvault(home: Path, clock: ManualClock) -> Iterator[Vault]:
    with Vault.create(home, PASSPHRASE, clock=clock) as v:
        v.profile.set("contact.email", "alice@example.org")
        v.profile.set("name.given", "Alice")
        v.profile.set("address.home.city", "Utrecht")
        yield v


@pytest.fixture
async def service(cvault: Vault) -> AsyncIterator[AccessService]:
    grants = GrantBook(cvault)
    svc = AccessService(cvault, grants, RuleBook(cvault), limiter=RateLimiter(rate=50, burst=100))
    await svc.start()
    yield svc
    await svc.aclose()


def call(svc: AccessService, who: Identity | str, msg: Any) -> Any:
    """One frame on a fresh stream; the (synchronous) reply."""
    peer = who if isinstance(who, str) else who.peer_id
    payload = msg if isinstance(msg, bytes) else dump_message(msg)
    reply = answer(svc, peer, payload)
    assert isinstance(reply, Message), reply
    return reply


def granted(
    svc: AccessService, fields: tuple[str, ...] = ("contact.email", "name.given"), **kw: Any
) -> Grant:
    req = access_request(ALICE, svc.vault.peer_id, fields, **kw)
    decision = call(svc, ALICE, req)
    assert isinstance(decision, Decision) and decision.status is DecisionStatus.PENDING
    return svc.grants.approve(req.request_id)


def snapshot(svc: AccessService) -> list[Any]:
    return [g.to_json() for g in svc.grants.grants()]


def refused(svc: AccessService, who: Identity | str, msg: Any, code: ErrorCode) -> Error:
    before = snapshot(svc)
    seq = len(svc.vault.audit)
    reply = call(svc, who, msg)
    assert isinstance(reply, Error), reply
    assert reply.code is code, reply
    svc.strangers.flush_all(svc.grants.now())  # a stranger's refusals are counted per window
    entries = list(svc.vault.audit.entries(seq + 1))
    assert [e.kind for e in entries] == ["access.refused"]
    assert entries[0].details["code"] == code.value
    assert "alice@example.org" not in json.dumps(entries[0].details)
    assert snapshot(svc) == before
    return reply


async def test_request_approve_read(service: AccessService) -> None:
    grant = granted(service)
    result = call(service, ALICE, read(ALICE, grant.grant_id, ["contact.email"]))
    assert isinstance(result, ReadResult)
    assert result.values["contact.email"].value == "alice@example.org"
    last = service.vault.audit.tail(1)[0]
    assert last.kind == "access.read" and last.details["fields"] == ["contact.email"]
    assert "alice@example.org" not in json.dumps(last.details)


async def test_subtree_read_and_absent_fields(service: AccessService) -> None:
    grant = granted(service, ("address.*", "contact.phone"))
    result = call(service, ALICE, read(ALICE, grant.grant_id, ["address.*", "contact.phone"]))
    assert isinstance(result, ReadResult)
    assert set(result.values) == {"address.home.city"}


async def test_await_decision_long_poll(service: AccessService) -> None:
    req = access_request(ALICE, service.vault.peer_id)
    call(service, ALICE, req)
    pending = answer(
        service, ALICE.peer_id, dump_message(AwaitDecision(request_id=req.request_id, wait_ms=5000))
    )
    assert not isinstance(pending, Message | None)
    task = asyncio.ensure_future(pending)
    await asyncio.sleep(0.01)
    assert not task.done()
    service.grants.approve(req.request_id, fields=["contact.email"])
    decision = await asyncio.wait_for(task, 1)
    assert isinstance(decision, Decision) and decision.status is DecisionStatus.APPROVED
    assert decision.grant is not None and decision.grant.scope.fields == ("contact.email",)
    # timeout answers pending
    req2 = access_request(ALICE, service.vault.peer_id)
    call(service, ALICE, req2)
    reply = answer(
        service, ALICE.peer_id, dump_message(AwaitDecision(request_id=req2.request_id, wait_ms=20))
    )
    assert not isinstance(reply, Message | None)
    decision = await reply
    assert isinstance(decision, Decision) and decision.status is DecisionStatus.PENDING


async def test_await_decision_by_another_peer_refused(service: AccessService) -> None:
    req = access_request(ALICE, service.vault.peer_id)
    call(service, ALICE, req)
    refused(service, MALLORY, AwaitDecision(request_id=req.request_id), ErrorCode.WRONG_PEER)
    refused(service, ALICE, AwaitDecision(request_id="unknown"), ErrorCode.NOT_FOUND)


async def test_rules_decide(service: AccessService) -> None:
    assert service.rules is not None
    service.rules.add(Rule(action=RuleAction.DENY, purposes=("dpv:Marketing",)))
    service.rules.add(
        Rule(
            action=RuleAction.APPROVE,
            fields=("contact.email",),
            requester=RequesterCondition.KNOWN,
            max_days=3,
        )
    )
    from protocol import PurposeCode

    mkt = access_request(ALICE, service.vault.peer_id, purpose=PurposeCode.MARKETING)
    decision = call(service, ALICE, mkt)
    assert decision.status is DecisionStatus.DENIED
    email = access_request(ALICE, service.vault.peer_id, ["contact.email"])
    assert call(service, ALICE, email).status is DecisionStatus.PENDING  # not known yet
    service.grants.approve(email.request_id)
    again = access_request(ALICE, service.vault.peer_id, ["contact.email"], days=30)
    decision = call(service, ALICE, again)
    assert decision.status is DecisionStatus.APPROVED
    assert decision.grant.expires_at - decision.grant.issued_at == 3 * DAY_MS
    entry = [e for e in service.vault.audit.entries() if e.kind == "access.approve"][-1]
    assert entry.details["decided_by"].startswith("rule:")


async def test_subscribe_updates_and_revoke_notice(service: AccessService) -> None:
    grant = granted(service)
    link = ServerStream(ALICE.peer_id)
    reply = link.feed(service, dump_message(subscribe(ALICE, grant.grant_id, ["contact.email"])))
    assert not isinstance(reply, Message | None)
    assert await reply is None  # the service sent the ack itself, before any update
    ack = link.sent.pop(0)
    assert isinstance(ack, Ack) and ack.ref == grant.grant_id
    service.vault.profile.set("contact.email", "new@example.org")
    service.vault.profile.set("name.given", "Alicia")  # not subscribed
    service.vault.profile.unset("contact.email")
    await asyncio.sleep(0.01)
    updates = list(link.sent)
    assert [(u.path, u.value, u.deleted) for u in updates] == [  # type: ignore[attr-defined]
        ("contact.email", "new@example.org", False),
        ("contact.email", None, True),
    ]
    assert all(isinstance(u, Update) for u in updates)
    service.grants.revoke(grant.grant_id)
    task = service.delivery(grant.grant_id)
    assert task is not None and await task is True
    notice = link.sent[-1]
    assert isinstance(notice, RevokeNotice)
    verify(notice, service.vault.peer_id)
    assert link.closed and service.subscriptions() == 0
    assert service.grants.grant(grant.grant_id).notice_delivered is True


async def _subscribed(svc: AccessService, grant_id: str) -> ServerStream:
    link = ServerStream(ALICE.peer_id)
    reply = link.feed(svc, dump_message(subscribe(ALICE, grant_id, ["contact.email"])))
    assert not isinstance(reply, Message | None)
    assert await reply is None
    assert isinstance(link.sent[0], Ack), link.sent
    return link


async def test_a_subscription_whose_stream_ended_is_forgotten_at_once(
    service: AccessService,
) -> None:
    """D50: the runtime tells the service when a stream's frame loop ends (the peer
    closed it, its connection broke); nothing waits for the next push to find out."""
    grant = granted(service)
    link = await _subscribed(service, grant.grant_id)
    assert service.subscriptions(grant.grant_id) == 1
    link.end()  # the subscriber's process was killed: its connection is gone
    assert service.subscriptions(grant.grant_id) == 0
    for _ in range(MAX_SUBSCRIPTIONS_PER_PEER + 1):  # so the peer may come back, often
        (await _subscribed(service, grant.grant_id)).end()
    assert service.subscriptions() == 0


async def test_at_the_cap_a_subscription_replaces_the_oldest_on_its_grant(
    service: AccessService,
) -> None:
    """D50: streams whose connection died silently (no FIN: the vault cannot tell) stay
    counted; at MAX_SUBSCRIPTIONS_PER_PEER a new one on the same grant replaces the
    oldest, one on another grant is refused. The peer never holds more than the cap."""
    first, second = granted(service), granted(service, ("name.given",))
    links = [await _subscribed(service, first.grant_id) for _ in range(MAX_SUBSCRIPTIONS_PER_PEER)]
    refused(
        service, ALICE, subscribe(ALICE, second.grant_id, ["name.given"]), ErrorCode.RATE_LIMITED
    )
    newest = await _subscribed(service, first.grant_id)
    await asyncio.sleep(0.01)  # the replaced one's pump closes its stream
    assert links[0].closed and not any(link.closed for link in links[1:])
    assert not newest.closed
    assert service.subscriptions() == MAX_SUBSCRIPTIONS_PER_PEER
    service.vault.profile.set("contact.email", "new@example.org")
    await asyncio.sleep(0.01)
    assert isinstance(newest.sent[-1], Update) and newest.sent[-1].value == "new@example.org"
    assert len(links[0].sent) == 1  # the ack only


async def test_revoke_unreachable_is_recorded(service: AccessService) -> None:
    class Down:
        async def request(self, *a: Any, **k: Any) -> Message:
            raise ConnectionError("unreachable")

    service.outbound = Down()
    grant = granted(service)
    service.grants.revoke(grant.grant_id)
    task = service.delivery(grant.grant_id)
    assert task is not None and await task is False
    assert service.grants.grant(grant.grant_id).notice_delivered is False
    refused(service, ALICE, read(ALICE, grant.grant_id, ["contact.email"]), ErrorCode.REVOKED)


async def test_revoke_delivered_by_request_then_receipt(service: AccessService) -> None:
    sent: list[Message] = []

    class Up:
        async def request(self, peer: str, proto: Any, notice: Any, timeout: float) -> Message:
            sent.append(notice)
            return Ack(ref=notice.grant_id)

    service.outbound = Up()
    grant = granted(service)
    service.grants.revoke(grant.grant_id)
    await service.drain()
    assert service.grants.grant(grant.grant_id).notice_delivered is True
    receipt = deletion_receipt(ALICE, service.vault.peer_id, grant.grant_id, ["contact.email"])
    ack = call(service, ALICE, receipt)
    assert isinstance(ack, Ack) and ack.ref == receipt.receipt_id
    assert service.grants.receipts(grant.grant_id) == [receipt]


# -- every refusal: typed error, audited, grants unchanged -------------------------------


async def test_refusals(service: AccessService, clock: ManualClock) -> None:
    grant = granted(service)
    vid = service.vault.peer_id
    refused(service, ALICE, b"{not json", ErrorCode.MALFORMED)
    refused(service, ALICE, b'{"type": "read"}', ErrorCode.MALFORMED)
    refused(service, ALICE, b'{"type": "teleport"}', ErrorCode.UNKNOWN_MESSAGE)
    refused(service, ALICE, b"[" * 70000, ErrorCode.FRAME_TOO_LARGE)
    refused(service, ALICE, Ack(ref="x"), ErrorCode.UNEXPECTED_MESSAGE)
    # out of scope, also when mixed with in-scope fields
    refused(
        service, ALICE, read(ALICE, grant.grant_id, ["address.home.city"]), ErrorCode.OUT_OF_SCOPE
    )
    err = refused(
        service,
        ALICE,
        read(ALICE, grant.grant_id, ["contact.email", "address.*"]),
        ErrorCode.OUT_OF_SCOPE,
    )
    assert "alice@example.org" not in err.message
    # a grant id presented by another peer (properly signed by that peer)
    refused(
        service, MALLORY, read(MALLORY, grant.grant_id, ["contact.email"]), ErrorCode.WRONG_PEER
    )
    # a message signed by Alice sent on Mallory's stream
    refused(service, MALLORY, read(ALICE, grant.grant_id, ["contact.email"]), ErrorCode.WRONG_PEER)
    # forged / altered signature
    msg = read(ALICE, grant.grant_id, ["contact.email"])
    altered = msg.model_copy(update={"fields": ("name.given",)})
    refused(service, ALICE, altered, ErrorCode.BAD_SIGNATURE)
    forged = msg.model_copy(update={"sig": "ab" * 64})
    refused(service, ALICE, forged, ErrorCode.BAD_SIGNATURE)
    # replay: same message twice; stale timestamp
    ok = read(ALICE, grant.grant_id, ["contact.email"])
    assert isinstance(call(service, ALICE, ok), ReadResult)
    refused(service, ALICE, ok, ErrorCode.REPLAY)
    refused(
        service,
        ALICE,
        read(ALICE, grant.grant_id, ["contact.email"], ts=now_ms() - 10 * 60_000),
        ErrorCode.REPLAY,
    )
    # unknown grant, request to another vault
    refused(service, ALICE, read(ALICE, "f" * 32, ["contact.email"]), ErrorCode.NOT_GRANTED)
    refused(service, ALICE, access_request(ALICE, MALLORY.peer_id), ErrorCode.WRONG_PEER)
    # expired (fake vault clock), then revoked
    clock.advance(31 * DAY_MS)
    refused(service, ALICE, read(ALICE, grant.grant_id, ["contact.email"]), ErrorCode.EXPIRED)
    clock.advance(-31 * DAY_MS)
    service.grants.revoke(grant.grant_id)
    await service.drain()
    refused(service, ALICE, read(ALICE, grant.grant_id, ["contact.email"]), ErrorCode.REVOKED)
    refused(service, ALICE, subscribe(ALICE, grant.grant_id, ["contact.email"]), ErrorCode.REVOKED)
    # deletion receipt from another peer for Alice's grant
    refused(
        service, MALLORY, deletion_receipt(MALLORY, vid, grant.grant_id, []), ErrorCode.WRONG_PEER
    )


async def test_flood_is_rate_limited_others_served(service: AccessService) -> None:
    """A peer holding a grant: its rate-limit refusals are audited once per burst, then counted."""
    grant = granted(service)
    bob = Identity.generate()
    codes = []
    for _ in range(200):
        reply = answer(service, ALICE.peer_id, b"{}")  # each on its own stream: poisoned
        assert isinstance(reply, Error)
        codes.append(reply.code)
    assert ErrorCode.RATE_LIMITED in codes
    limited = [e for e in service.vault.audit.entries() if e.details.get("code") == "rate_limited"]
    # audited once per burst, not once per frame
    assert 1 <= len(limited) < codes.count(ErrorCode.RATE_LIMITED) / 4
    assert bob.peer_id not in service.limiter._buckets  # untouched
    service.flush_throttled()
    counted = [e for e in service.vault.audit.entries() if e.kind == "access.rate_limited"]
    assert sum(e.details["refused"] for e in counted) + len(limited) == codes.count(
        ErrorCode.RATE_LIMITED
    )
    service.limiter._buckets.clear()  # a fresh budget for the honest read
    assert isinstance(
        call(service, ALICE, read(ALICE, grant.grant_id, ["contact.email"])), ReadResult
    )


async def test_a_strangers_flood_is_one_counted_entry_per_window(
    service: AccessService, clock: ManualClock
) -> None:
    """Issue 13 §1: junk from a peer with no grant and no request is tallied, not logged."""
    from vault.services.refusals import WINDOW_MS

    grant = granted(service)
    before = len(service.vault.audit)
    codes = [answer(service, MALLORY.peer_id, b"{}").code for _ in range(200)]  # type: ignore[union-attr]
    assert ErrorCode.RATE_LIMITED in codes
    assert len(service.vault.audit) == before  # nothing written during the window
    assert isinstance(
        call(service, ALICE, read(ALICE, grant.grant_id, ["contact.email"])), ReadResult
    )
    read_seq = len(service.vault.audit)
    assert read_seq == before + 1  # the honest read's own entry, and nothing else
    clock.advance(WINDOW_MS)
    answer(service, MALLORY.peer_id, b"{}")  # the window is over: its count is written
    counts = [e for e in service.vault.audit.entries(before + 1) if e.kind == "access.refused"]
    assert len(counts) == 1
    entry = counts[0].details
    assert entry["peer"] == MALLORY.peer_id and entry["count"] == 200
    assert sum(entry["codes"].values()) == 200
    assert entry["codes"]["rate_limited"] == codes.count(ErrorCode.RATE_LIMITED)
    assert MALLORY.peer_id not in service._throttled  # no per-stranger state outside the tally
    service.strangers.flush_all(service.grants.now())
    last = service.vault.audit.tail(1)[0]
    assert last.details["peer"] == MALLORY.peer_id and last.details["count"] == 1


async def test_the_strangers_tracked_are_bounded(service: AccessService) -> None:
    """More strangers than the table holds share one overflow entry: the log's bound holds."""
    service.strangers.max_tracked = 4
    before = len(service.vault.audit)
    for _ in range(10):
        answer(service, Identity.generate().peer_id, b"{}")
    assert len(service.strangers) == 4
    service.strangers.flush_all(service.grants.now())
    counts = [e.details for e in service.vault.audit.entries(before + 1)]
    assert len(counts) == 5
    overflow = counts[-1]
    assert overflow["peer"] == "*" and overflow["count"] == 6 and overflow["peers"] == 6


async def test_protocol_error_hook(service: AccessService) -> None:
    from protocol import FrameTooLarge

    reply = service.on_protocol_error(ServerStream(ALICE.peer_id), FrameTooLarge("too big"))
    assert isinstance(reply, Error) and reply.code is ErrorCode.FRAME_TOO_LARGE
    service.strangers.flush_all(service.grants.now())
    assert service.vault.audit.tail(1)[0].kind == "access.refused"


def test_routes_are_requests_of_the_grammar() -> None:
    """The vault dispatches by message type, and only types the state machine lets in."""
    from protocol import ACCESS_GRAMMAR

    assert set(ROUTES) == set(ACCESS_GRAMMAR.requests) - {"revoke_notice"}


async def test_a_protocol_error_poisons_only_its_stream(service: AccessService) -> None:
    grant = granted(service)
    bad = ServerStream(ALICE.peer_id)
    reply = bad.feed(service, b'{"type": "ack", "ref": "x"}')  # a reply sent as a request
    assert isinstance(reply, Error) and reply.code is ErrorCode.UNEXPECTED_MESSAGE
    assert bad.closed and bad.conn.state.value == "ERROR"
    # the same peer, on another stream, is served as before
    good = ServerStream(ALICE.peer_id)
    result = good.feed(service, dump_message(read(ALICE, grant.grant_id, ["contact.email"])))
    assert isinstance(result, ReadResult)
    again = good.feed(service, dump_message(read(ALICE, grant.grant_id, ["contact.email"])))
    assert isinstance(again, ReadResult)  # a request/reply stream carries many requests


async def test_a_refusal_answers_and_keeps_the_stream(service: AccessService) -> None:
    grant = granted(service)
    stream = ServerStream(ALICE.peer_id)
    out = stream.feed(service, dump_message(read(ALICE, grant.grant_id, ["address.home.city"])))
    assert isinstance(out, Error) and out.code is ErrorCode.OUT_OF_SCOPE
    assert out.ref == grant.grant_id  # correlated with the request, as the grammar checks
    ok = stream.feed(service, dump_message(read(ALICE, grant.grant_id, ["contact.email"])))
    assert isinstance(ok, ReadResult)
