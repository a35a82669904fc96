"""The contact rules, the contact endpoint (every refusal path), the inbox and its report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import (
    CONTACT_GRAMMAR,
    AccessDenied,
    ContactMessage,
    ContactPolicy,
    Error,
    ErrorCode,
    Identity,
    QuietHours,
    dump_message,
    new_id,
    new_nonce,
    sign,
)
from protocol.clock import DAY_MS
from tests.conftest import PASSPHRASE, START_MS, ManualClock
from vault.services.contact import DEFAULT_POLICY, check_contact
from vault.services.contact_service import ContactService
from vault.services.grantbook import GrantBook
from vault.store.vault import Vault

from .access_helpers import access_request
from .serving import answer

SCHWAB = ContactPolicy.of([("survey", 1, 365), ("service", 3, 30)])


def test_check_contact_order_and_schwab_rule():
    check_contact(SCHWAB, "survey", [], START_MS)
    with pytest.raises(AccessDenied) as exc:
        check_contact(SCHWAB, "survey", [START_MS], START_MS + 364 * DAY_MS)
    assert exc.value.code is ErrorCode.CAP_EXCEEDED
    check_contact(SCHWAB, "survey", [START_MS], START_MS + 366 * DAY_MS)
    with pytest.raises(AccessDenied) as exc:
        check_contact(SCHWAB, "offer", [], START_MS)
    assert exc.value.code is ErrorCode.CATEGORY_REFUSED
    with pytest.raises(AccessDenied) as exc:
        check_contact(SCHWAB, "offer", [], START_MS, blocked=True)
    assert exc.value.code is ErrorCode.BLOCKED  # blocked comes first
    quiet = ContactPolicy.of([("service", 1, 1)], quiet_hours=QuietHours.parse("00:00-23:59"))
    with pytest.raises(AccessDenied) as exc:
        check_contact(quiet, "service", [START_MS], START_MS)
    assert exc.value.code is ErrorCode.QUIET_HOURS  # quiet hours before the cap
    assert DEFAULT_POLICY.cap_for("service") is not None


class World:
    def __init__(self, home: Path) -> None:
        self.clock = ManualClock(START_MS + 12 * 3_600_000)  # noon UTC
        self.vault = Vault.create(home, PASSPHRASE, clock=self.clock)
        self.grants = GrantBook(self.vault, clock=self.clock)
        self.svc = ContactService(self.vault, self.grants)
        self.biz = Identity.generate()

    def grant(
        self,
        policy: ContactPolicy | None = SCHWAB,
        biz: Identity | None = None,
        actions=("contact", "read"),
        days: int = 30,
    ) -> str:
        req = access_request(
            biz or self.biz,
            self.vault.peer_id,
            ["contact.email"],
            actions=actions,
            ts=self.clock(),
            contact=policy,
            days=days,
        )
        self.grants.submit(req)
        return self.grants.approve(req.request_id).grant_id

    def message(
        self, grant_id: str, category: str = "survey", biz: Identity | None = None, **over
    ) -> ContactMessage:
        who = biz or self.biz
        fields = dict(
            message_id=new_id(),
            grant_id=grant_id,
            requester=who.peer_id,
            vault=self.vault.peer_id,
            category=category,
            subject="How did we do?",
            body="Tell us in one click.",
            nonce=new_nonce(),
            ts=self.clock(),
        )
        fields.update(over)
        return sign(ContactMessage(**fields), who)

    def send(self, msg: ContactMessage, peer: str | None = None):
        return answer(self.svc, peer or msg.requester, dump_message(msg), CONTACT_GRAMMAR)

    def code(self, msg: ContactMessage, peer: str | None = None) -> str:
        reply = self.send(msg, peer)
        assert isinstance(reply, Error), reply
        return reply.code.value

    def refusals(self) -> list[str]:
        return [
            e.details["code"] for e in self.vault.audit.entries() if e.kind == "contact.refused"
        ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "vault")
    yield w
    w.vault.close()


def test_accepted_message_lands_in_inbox_and_is_audited(world: World):
    gid = world.grant()
    msg = world.message(gid, mailing_id="yearly-survey")
    reply = world.send(msg)
    assert reply.type == "ack" and reply.ref == msg.message_id
    [item] = world.svc.inbox.messages()
    assert (item.subject, item.category, item.read_at) == ("How did we do?", "survey", None)
    received = [e for e in world.vault.audit.entries() if e.kind == "contact.received"]
    assert received and "How did we do?" not in str(received[0].details)
    # a retry with the same message id is acknowledged, not stored or counted twice
    again = world.message(gid, message_id=msg.message_id)
    assert world.send(again).type == "ack"
    assert len(world.svc.inbox.messages()) == 1
    assert world.svc.contacts.history(world.biz.peer_id).accepted["survey"] == [world.clock()]


def test_schwab_survey_once_a_year(world: World):
    gid = world.grant(days=800)
    assert world.send(world.message(gid)).type == "ack"
    world.clock.advance(200 * DAY_MS)
    assert world.code(world.message(gid)) == "cap_exceeded"


def test_schwab_next_year_allowed(world: World):
    gid = world.grant(days=800)
    assert world.send(world.message(gid)).type == "ack"
    world.clock.advance(365 * DAY_MS + 1)
    assert world.send(world.message(gid)).type == "ack"


def test_every_refusal_path_is_typed_and_audited(world: World):
    gid = world.grant()
    other = Identity.generate()
    other_gid = world.grant(biz=other)
    assert world.code(world.message("nope")) == "not_granted"
    assert world.code(world.message(other_gid)) == "wrong_peer"
    assert world.code(world.message(gid, category="offer")) == "category_refused"
    no_contact = world.grant(policy=None, actions=("read",))
    assert world.code(world.message(no_contact)) == "out_of_scope"
    # bad signature: signed by someone else than the stream's peer
    assert world.code(world.message(gid), peer=other.peer_id) == "bad_signature"
    # replay: the same nonce twice
    msg = world.message(gid, category="service")
    assert world.send(msg).type == "ack"
    replay = world.message(gid, category="service", nonce=msg.nonce)
    assert world.code(replay) == "replay"
    # stale timestamp
    assert world.code(world.message(gid, ts=world.clock() - 10 * 60_000)) == "replay"
    # cap
    assert world.send(world.message(gid)).type == "ack"
    assert world.code(world.message(gid)) == "cap_exceeded"
    # block
    world.svc.contacts.set_pref(world.biz.peer_id, blocked=True)
    assert world.code(world.message(gid, category="service")) == "blocked"
    world.svc.contacts.set_pref(world.biz.peer_id, blocked=False)
    # revoked
    world.grants.revoke(gid)
    assert world.code(world.message(gid, category="service")) == "revoked"
    # malformed and unexpected frames
    assert answer(world.svc, world.biz.peer_id, b"{", CONTACT_GRAMMAR).type == "error"  # type: ignore[union-attr]
    assert world.refusals() == [
        "not_granted", "wrong_peer", "category_refused", "out_of_scope", "bad_signature",
        "replay", "replay", "cap_exceeded", "blocked", "revoked", "malformed_frame",
    ]  # fmt: skip
    report = {r["requester"]: r for r in world.svc.inbox.report()}
    mine = report[world.biz.peer_id]
    assert mine["refused"]["cap_exceeded"] == 1 and mine["refused"]["blocked"] == 1
    assert mine["sent"] == {"service": 1, "survey": 1}


def test_expired_grant(world: World):
    gid = world.grant(days=1)
    world.clock.advance(2 * DAY_MS)
    assert world.code(world.message(gid, category="service")) == "expired"


def test_quiet_hours(world: World):
    quiet = ContactPolicy.of([("service", 5, 1)], quiet_hours=QuietHours.parse("11:00-13:00"))
    gid = world.grant(policy=quiet)
    assert world.code(world.message(gid, category="service")) == "quiet_hours"
    world.clock.advance(2 * 3_600_000)
    assert world.send(world.message(gid, category="service")).type == "ack"


def test_default_terms_when_grant_states_none(world: World):
    gid = world.grant(policy=None)
    assert world.send(world.message(gid, category="service")).type == "ack"
    assert world.code(world.message(gid, category="survey")) == "category_refused"


def test_mute_hides_but_accepts_and_read_marks_engagement(world: World):
    gid = world.grant(policy=ContactPolicy.of([("offer", 10, 30)]))
    m1 = world.message(gid, category="offer", mailing_id="spring")
    m2 = world.message(gid, category="offer", mailing_id="spring")
    assert world.send(m1).type == "ack" and world.send(m2).type == "ack"
    world.svc.inbox.mark_read(m1.message_id)
    world.svc.contacts.set_pref(world.biz.peer_id, muted=True)
    m3 = world.message(gid, category="offer", mailing_id="summer")
    assert world.send(m3).type == "ack"  # muted: accepted quietly
    assert world.svc.inbox.messages() == []
    assert len(world.svc.inbox.messages(include_muted=True)) == 3
    [row] = world.svc.inbox.report()
    assert row["muted"] is True and row["read"] == 1
    mailings = {m["mailing_id"]: m for m in row["mailings"]}
    assert mailings["spring"]["delivered"] == 2 and mailings["spring"]["yield_pct"] == 50
    assert mailings["summer"]["yield_pct"] == 0


def test_email_channel_forwards_with_address_from_profile(world: World):
    sent: list[tuple[str, str, str]] = []
    world.svc.forward = lambda ch, addr, m: sent.append((ch, addr, m.subject))
    world.vault.profile.set("contact.email", "alice@example.org")
    gid = world.grant(policy=ContactPolicy.of([("service", 5, 30)], ["email", "inbox"]))
    assert world.send(world.message(gid, category="service")).type == "ack"
    assert sent == [("email", "alice@example.org", "How did we do?")]


def test_rate_limited_per_peer(world: World):
    from vault.services.ratelimit import RateLimiter

    world.svc.limiter = RateLimiter(rate=0.001, burst=2, clock=lambda: 0.0)
    gid = world.grant(policy=ContactPolicy.of([("service", 100, 1)]))
    assert world.send(world.message(gid, category="service")).type == "ack"
    assert world.send(world.message(gid, category="service")).type == "ack"
    assert world.code(world.message(gid, category="service")) == "rate_limited"
    other = Identity.generate()
    other_gid = world.grant(biz=other, policy=ContactPolicy.of([("service", 100, 1)]))
    reply = world.send(world.message(other_gid, category="service", biz=other))
    assert reply.type == "ack"  # one abusive peer does not starve the others
    assert world.refusals()[-1] == "rate_limited"
