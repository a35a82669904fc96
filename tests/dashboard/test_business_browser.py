"""The business dashboard in real headless Chromium, over real libp2p nodes on 127.0.0.1.

A business node asks a vault; its dashboard shows the request awaiting a
decision, then the relationship, the received data of the live grant (with
expiry and retention), a petname given in a form; the owner revokes and the
dashboard shows the data gone and the deletion receipt sent. Login is a
one-time link; the cookie is HttpOnly and SameSite=Strict; a POST without the
CSRF token is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, PASSPHRASE, eventually
from vault.business import BusinessNode
from vault.cli.client import ControlClient
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.vault import Vault

from .test_browser import browser, shot

__all__ = ["browser"]  # the fixture, shared with the owner's browser test

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[VaultNode, BusinessNode]]:
    home = tmp_path / "vault"
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("contact.email", "alice@example.org")
    biz_home = tmp_path / "biz"
    async with Requester.create(biz_home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    async with (
        await VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=None) as vn,
        await BusinessNode.start(
            biz_home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
        ) as bn,
    ):
        yield vn, bn


async def test_business_dashboard_follows_a_grant_to_its_receipt(
    nodes: tuple[VaultNode, BusinessNode], browser: Any
):
    vn, bn = nodes
    client = ControlClient.from_home(bn.home)

    def api(method: str, path: str, body: object = None) -> Any:
        return asyncio.to_thread(client.call, method, path, body)

    sent = await api("POST", "requests", {
        "vault": vn.addrs[0], "fields": ["contact.email"], "purpose": "ServiceProvision",
        "purpose_text": "send your invoice", "days": 30, "retention_days": 7,
    })  # fmt: skip
    link = (await api("POST", "login-link"))["url"]
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(link)
    assert page.url.endswith("/relationships")
    [cookie] = [c for c in await context.cookies() if c["name"] == "kluis_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    again = await page.request.get(link, max_redirects=0)
    assert again.status == 400  # the link works once

    await page.goto(bn.control_url + "/requests")
    await page.get_by_text(sent["request_id"]).wait_for()
    await shot(page, "business-01-awaiting")

    vn.approve(sent["request_id"])
    grant = await api("POST", f"requests/{sent['request_id']}/wait", {"timeout": 10})
    grant_id = grant["grant_id"]
    await api("POST", f"grants/{grant_id}/read", {})
    await eventually(lambda: bn.holder.held() == [grant_id])

    await page.goto(bn.control_url + "/data")
    card = page.locator(f"[data-grant='{grant_id}']")
    await card.get_by_text("alice@example.org").wait_for()
    assert "retention 7 days" in await card.inner_text()

    await page.goto(bn.control_url + "/relationships")
    section = page.locator(f"[data-vault='{vn.peer_id}']")
    assert "active" in await section.locator(".state").inner_text()
    assert "held" in await section.inner_text()
    await section.get_by_label("Petname").fill("Alice \u202eevil")
    await section.get_by_role("button", name="Save").click()
    await page.get_by_role("alert").get_by_text("bidi").wait_for()
    section = page.locator(f"[data-vault='{vn.peer_id}']")
    await section.get_by_label("Petname").fill("Alice <b>V</b>")
    await section.get_by_role("button", name="Save").click()
    await page.locator("h2", has_text="Alice <b>V</b>").wait_for()  # escaped, shown as text
    await shot(page, "business-02-relationship")

    await vn.revoke(grant_id)
    await eventually(lambda: len(vn.grants.receipts(grant_id)) == 1)
    await page.goto(bn.control_url + "/data")
    await page.get_by_text("No live grants.").wait_for()
    assert await page.get_by_text("alice@example.org").count() == 0
    await page.goto(bn.control_url + "/receipts")
    row = page.locator(f"tr[data-grant='{grant_id}']")
    assert "revoked" in await row.inner_text()
    await page.goto(bn.control_url + "/obligations")
    await page.get_by_text("Nothing owed").wait_for()
    for path in ("/mailings", "/deals"):
        await page.goto(bn.control_url + path)
        assert (await page.locator("h1").inner_text()) in ("Contact yield", "Deals")
    await shot(page, "business-03-receipts")

    forged = await page.request.post(bn.control_url + "/logout", form={"csrf": "nope"},
                                     max_redirects=0)  # fmt: skip
    assert forged.status == 403
    await page.get_by_role("button", name="Log out").click()
    assert page.url.endswith("/login") or "login" in await page.content()
    assert errors == []
    await context.close()


async def test_business_dashboard_updates_live(nodes: tuple[VaultNode, BusinessNode], browser: Any):
    """A new request, a decision, a yield count and a receipt appear without a reload."""
    from vault.api.contact_routes import set_prefs
    from vault.api.models import PrefsBody

    vn, bn = nodes
    client = ControlClient.from_home(bn.home)

    def api(method: str, path: str, body: object = None) -> Any:
        return asyncio.to_thread(client.call, method, path, body)

    link = (await api("POST", "login-link"))["url"]
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(link)

    async def open_page(path: str) -> None:
        await page.goto(bn.control_url + path)
        await page.evaluate("window.__notReloaded = true")

    async def not_reloaded() -> None:
        assert await page.evaluate("window.__notReloaded === true")

    await open_page("/requests")
    sent = await api("POST", "requests", {
        "vault": vn.addrs[0], "fields": ["contact.email"], "purpose": "Marketing",
        "actions": ["contact"], "contact": [["offer", 5, 30]],
    })  # fmt: skip
    await page.get_by_text(sent["request_id"]).wait_for()  # a new request, live
    vn.approve(sent["request_id"])
    grant = await api("POST", f"requests/{sent['request_id']}/wait", {"timeout": 10})
    await page.get_by_text(sent["request_id"]).wait_for(state="detached")  # decided, live
    await not_reloaded()

    await open_page("/mailings")
    await page.get_by_text("No contact messages sent yet.").wait_for()
    body = {"category": "offer", "subject": "Spring sale", "mailing_id": "spring"}
    mid = (await api("POST", f"grants/{grant['grant_id']}/contact", body))["message_id"]
    row = page.locator("tr[data-mailing='spring']")
    await row.locator(".sent", has_text="1").wait_for()  # a new yield count, live
    assert await row.locator(".read").inner_text() == "not shared"
    set_prefs(vn.contact.contacts, bn.peer_id, PrefsBody(share_reads=True))
    vn.inbox.mark_read(mid)
    await row.locator(".read", has_text="1 of 1 shared").wait_for()  # the owner's read, live
    set_prefs(vn.contact.contacts, bn.peer_id, PrefsBody(muted=True))
    await row.locator(".mutes", has_text="1").wait_for()
    await not_reloaded()
    await shot(page, "business-04-yield")

    await open_page("/receipts")
    await vn.revoke(grant["grant_id"])
    await page.locator(f"tr[data-grant='{grant['grant_id']}']").wait_for()  # a receipt, live
    await not_reloaded()
    assert errors == []
    await context.close()
