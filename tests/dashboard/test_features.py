"""Inbox, erasures and agents pages (the features beside the access core)."""

from __future__ import annotations

import pytest

from protocol import Identity
from vault.services.inbox import InboxMessage

from .conftest import Running, logged_in
from .helpers import ask

pytestmark = pytest.mark.timeout(60)


def _message(r: Running, message_id: str = "m1") -> InboxMessage:
    inbox = r.node.inbox
    msg = InboxMessage(
        message_id=message_id,
        requester=r.node.peer_id,
        grant_id="g1",
        category="service",
        mailing_id=None,
        subject="Your bike is ready <b>now</b>",
        body="Pick it up any day.",
        received_at=r.node.grants.now(),
    )
    with r.node.vault.transaction():
        inbox.put(msg)
        r.node.vault.audit.append("contact.received", {"message_id": message_id})
    return msg


async def test_inbox_lists_and_marks_read(running: Running):
    _message(running)
    s, csrf = await logged_in(running)
    async with s:
        async with s.get(running.url + "/inbox") as resp:
            html = await resp.text()
        assert "Your bike is ready &lt;b&gt;now&lt;/b&gt;" in html and "Mark as read" in html
        assert 'data-badge="/inbox">1<' in html  # unread count in the navigation
        async with s.post(running.url + "/inbox/m1/read", data={"csrf": csrf}) as resp:
            html = await resp.text()
        assert "Marked the message" in html and "Mark as read" not in html
        async with s.post(running.url + "/inbox/nope/read", data={"csrf": csrf}) as resp:
            assert 'class="flash error"' in await resp.text()


async def test_erasures_and_agents_pages_render(running: Running):
    s, _ = await logged_in(running)
    async with s:
        async with s.get(running.url + "/erasures") as resp:
            assert resp.status == 200 and "No erasure requests." in await resp.text()
        async with s.get(running.url + "/agents") as resp:  # this node runs without the network
            assert resp.status == 200 and "runs without it" in await resp.text()


async def test_the_agents_page_lists_deals_with_the_network(running_net: Running):
    assert running_net.node.agents is not None
    s, _ = await logged_in(running_net)
    async with s:
        async with s.get(running_net.url + "/agents") as resp:
            html = await resp.text()
    assert resp.status == 200 and "No deals yet." in html and "runs without it" not in html


async def test_request_an_erasure_and_mute_from_the_dashboard(running: Running):
    node = running.node
    biz = Identity.generate()
    rid = await ask(node, biz, ["contact.email"])
    grant = node.approve(rid)
    s, csrf = await logged_in(running)
    async with s:
        async with s.post(
            running.url + "/erasures/request", data={"csrf": csrf, "business": "nobody"}
        ) as resp:
            assert resp.status == 400 and "Choose a business" in await resp.text()
        async with s.post(
            running.url + "/erasures/request",
            data={"csrf": csrf, "business": biz.peer_id, "reason": "goodbye"},
        ) as resp:
            html = await resp.text()
            assert "Asked" in html and "pending" in html
        assert node.grants.grant(grant.grant_id).revoked
        [record] = node.erasures.records()
        assert record.requester == biz.peer_id
        async with s.post(
            running.url + "/inbox/prefs", data={"csrf": csrf, "peer": biz.peer_id, "set": "mute"}
        ) as resp:
            assert "Muted" in await resp.text()
        assert node.contact.contacts.prefs(biz.peer_id)["muted"]


async def test_the_owner_chooses_what_a_business_is_told(running: Running):
    """The inbox's per-business toggles: reads (off by default), mutes (on by default)."""
    node = running.node
    biz = Identity.generate()
    msg = InboxMessage(
        message_id="m9", requester=biz.peer_id, grant_id="g1", category="offer",
        mailing_id="spring", subject="Sale", body="", received_at=node.grants.now(),
    )  # fmt: skip
    with node.vault.transaction():
        node.inbox.put(msg)
    s, csrf = await logged_in(running)
    async with s:
        async with s.get(running.url + "/inbox") as resp:
            html = await resp.text()
        assert "reads: not shared" in html and "mutes: told" in html
        for choice, said in (("share-reads", "Sharing reads with"),
                             ("no-share-mutes", "Not telling mutes to")):  # fmt: skip
            data = {"csrf": csrf, "peer": biz.peer_id, "set": choice}
            async with s.post(running.url + "/inbox/prefs", data=data) as resp:
                html = await resp.text()
            assert said in html
        assert "reads: shared" in html and "mutes: not told" in html
        prefs = node.contact.contacts.prefs(biz.peer_id)
        assert prefs["share_reads"] is True and prefs["share_mutes"] is False
        data = {"csrf": "forged", "peer": biz.peer_id, "set": "no-share-reads"}
        async with s.post(running.url + "/inbox/prefs", data=data) as resp:
            assert resp.status in (400, 403)
        assert node.contact.contacts.prefs(biz.peer_id)["share_reads"] is True
        data = {"csrf": csrf, "peer": biz.peer_id, "set": "mute:offer"}
        async with s.post(running.url + "/inbox/prefs", data=data) as resp:
            html = await resp.text()
        assert "Muted offer messages" in html and "Unmute offer" in html
        assert node.contact.contacts.prefs(biz.peer_id)["muted_categories"] == ["offer"]
        data = {"csrf": csrf, "peer": biz.peer_id, "set": "mute:spam"}
        async with s.post(running.url + "/inbox/prefs", data=data) as resp:
            assert "Choose mute" in await resp.text()
