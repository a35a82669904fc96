"""The dashboard in real headless Chromium: approve, read, revoke, refused.

A business node (the requester SDK) asks a running vault for access; the owner
sees the request appear without reloading, narrows and approves it in the
dashboard; the business reads; the owner revokes in the dashboard; the
business is refused. Screenshots go to ``test-artifacts/`` (gitignored);
``KLUIS_UPDATE_SCREENSHOT=1`` also refreshes ``docs/dashboard.png``, the
README's picture (a plain test run never changes a tracked file).

Skips cleanly when Chromium or Playwright is absent. Never runs ``playwright install``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol import ErrorCode, Identity
from protocol.listen import LOOPBACK
from tests.vault.access_helpers import access_request
from vault.requester import AccessDenied, Offer, Requester

from .conftest import Running
from .test_features import _message

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("KLUIS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"chromium not found at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    async with async_playwright() as pw:
        try:
            b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # a broken chromium install: skip, do not fail
            pytest.skip(f"chromium does not start: {exc}")
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def biz(tmp_path: Path) -> AsyncIterator[Requester]:
    async with Requester.ephemeral(
        tmp_path / "biz", listen=LOOPBACK, retention_interval=None
    ) as requester:
        yield requester


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_approve_read_revoke_refused(running_net: Running, biz: Requester, browser: Any):
    r = running_net
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # log in with the one-time link: lands on the requests page, nothing pending
    await page.goto(r.login_link())
    assert page.url.endswith("/requests")
    await page.get_by_text("No requests are waiting").wait_for()
    cookies = await context.cookies()
    [cookie] = [c for c in cookies if c["name"] == "kluis_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    await page.evaluate("window.__noReload = true")

    # a business asks; the request appears without a reload (SSE)
    pending = await biz.request(
        r.node.addrs[0],
        fields=["address.home.*", "contact.email"],
        purpose="DeliveryOfGoods",
        purpose_text="deliver your new bike",
        days=30,
        retention_days=0,
        offer=Offer(description="free delivery", value_cents=995),
    )
    card = page.locator(f"#req-{pending.request_id}")
    await card.wait_for(timeout=10_000)
    assert await page.evaluate("window.__noReload === true"), "the page reloaded"
    assert (await page.locator("#pending-badge").inner_text()).startswith("1")
    await card.get_by_text("deliver your new bike").wait_for()
    await shot(page, "01-request-arrives")

    # while the owner edits a form, a newer request does not wipe it: a "Show" button appears
    await card.get_by_label("Reason (optional, sent to the business)").fill("typing…")
    second = await biz.request(r.node.addrs[0], fields=["name.given"], purpose="Marketing", days=7)
    await page.get_by_text("New activity in your vault.").wait_for(timeout=10_000)
    assert await page.locator(f"#req-{second.request_id}").count() == 0
    assert await card.get_by_label("Reason (optional, sent to the business)").input_value() == (
        "typing…"
    )
    await page.get_by_role("button", name="Show").click()
    await page.locator(f"#req-{second.request_id}").wait_for()
    card = page.locator(f"#req-{pending.request_id}")

    # the owner narrows (no address) and approves, with the keyboard on the button
    await card.get_by_label("address.home.*").uncheck()
    await card.get_by_role("button", name="Approve").focus()
    await page.keyboard.press("Enter")
    await page.get_by_text("Approved:").wait_for()
    grant = await pending.decision(timeout=10)
    assert grant.fields == ("contact.email",)

    # the business reads; the grants page counts it
    assert await biz.read(grant) == {"contact.email": "alice@example.org"}
    await page.get_by_role("link", name="Grants").click()
    gcard = page.locator(f"#grant-{grant.grant_id}")
    await gcard.wait_for()
    await gcard.get_by_text("1 read").wait_for(timeout=10_000)
    await shot(page, "02-grant-active")
    if os.environ.get("KLUIS_UPDATE_SCREENSHOT"):  # refresh the README's picture on request only
        await page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)

    # the owner revokes in the dashboard; the business is refused
    await gcard.get_by_label("Reason (optional)").fill("moved house")
    await gcard.get_by_role("button", name="Revoke").click()
    await page.get_by_text("Revoked grant").wait_for()
    # the live updates that follow (notice delivered, deletion receipt) keep the message
    await page.locator("#main").get_by_text("revoked", exact=True).wait_for(timeout=10_000)
    await page.get_by_text("Revoked grant").wait_for()
    with pytest.raises(AccessDenied) as refused:
        await biz.read(grant)
    assert refused.value.code is ErrorCode.REVOKED
    await shot(page, "03-grant-revoked")

    # the audit timeline shows it all, verified; receipts download as JSON
    await page.get_by_role("link", name="Audit log").click()
    await page.get_by_role("button", name="Verify now").click()
    await page.get_by_text("Chain intact").wait_for()
    await page.get_by_text("Grant revoked").first.wait_for()
    await page.get_by_text("Data read").first.wait_for()
    await shot(page, "04-audit")
    await biz.drain()
    for _ in range(100):  # the business's deletion receipt comes back in the background
        if r.node.grants.receipts(grant.grant_id):
            break
        await asyncio.sleep(0.05)
    await page.get_by_role("link", name="Receipts").click()
    await page.get_by_text("revocation").first.wait_for()
    async with page.expect_download() as info:
        await page.get_by_role("link", name="JSON").first.click()
    download = await info.value
    assert download.suggested_filename.startswith("kluis-receipt-")
    saved = ARTIFACTS / "08-downloaded-receipt.json"
    await download.save_as(str(saved))
    assert '"consent_receipt"' in saved.read_text()

    # a phone-sized screen: no horizontal scrolling of the page itself
    phone = await browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    ppage = await phone.new_page()
    await ppage.goto(r.login_link())
    await ppage.goto(r.url + "/grants")
    width = await ppage.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"page is {width}px wide on a phone"
    await shot(ppage, "05-phone-grants")
    await phone.close()

    # a new inbox message appears without a reload too
    if getattr(r.node, "inbox", None) is not None:
        await page.goto(r.url + "/inbox")
        await page.evaluate("window.__noReload = true")
        _message(r)
        await page.locator("#msg-m1").wait_for(timeout=10_000)
        badge = page.locator('[data-badge="/inbox"]')
        await badge.wait_for()
        assert (await badge.inner_text()).startswith("1")
        assert await page.evaluate("window.__noReload === true")
        await shot(page, "07-inbox-live")
    await context.close()
    assert errors == []


async def test_login_form_and_keyboard(running: Running, browser: Any):
    r = running
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(r.url + "/grants")
    assert page.url.endswith("/login")  # not logged in: the login page
    await page.get_by_label("Token").fill("wrong")
    await page.keyboard.press("Enter")
    await page.get_by_text("not this vault's token").wait_for()
    await page.get_by_label("Token").fill(r.token)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/requests")
    # a used one-time link does not work twice
    link = r.login_link()
    other = await browser.new_context()
    p2 = await other.new_page()
    await p2.goto(link)
    assert p2.url.endswith("/requests")
    p3 = await (await browser.new_context()).new_page()
    await p3.goto(link)
    await p3.get_by_text("used already or has expired").wait_for()
    # profile: an invalid value shows an inline error, keyboard-only
    await page.goto(r.url + "/profile")
    await page.get_by_label("Field", exact=True).fill("contact.email")
    await page.get_by_label("Value (lists: separate with commas)").fill("not an e-mail")
    await page.keyboard.press("Enter")
    error = page.locator("#new-err")
    await error.wait_for()
    assert (
        await page.get_by_label("Value (lists: separate with commas)").get_attribute("aria-invalid")
        == "true"
    )
    await shot(page, "06-profile-invalid")
    await page.get_by_label("Value (lists: separate with commas)").fill("alice@new.example")
    await page.keyboard.press("Enter")
    await page.get_by_text("Saved E-mail, version 2.").wait_for()
    assert r.node.vault.profile.get("contact.email") == "alice@new.example"
    await context.close()
    await other.close()


async def test_businesses_by_name_and_petname(running_net: Running, biz: Requester, browser: Any):
    """The owner sees who asks (not a peer id), gives it a petname, and sees a change flagged."""
    r = running_net
    biz.profile.set(
        display_name="Fietsenwinkel De Spaak",
        legal_name="De Spaak Fietsen B.V.",
        contact_email="privacy@despaak.nl",
        jurisdiction="NL",
        privacy_policy_url="https://despaak.nl/privacy",
    )  # fmt: skip  (no website: nothing to verify, and no lookup leaves 127.0.0.1)
    context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(r.login_link())
    pending = await biz.request(r.node.addrs[0], fields=["contact.email"], purpose="Marketing")
    card = page.locator(f"#req-{pending.request_id}")
    await card.wait_for(timeout=10_000)
    heading = await card.locator("h2").inner_text()
    assert heading.startswith("Fietsenwinkel De Spaak unverified asks for 1 field"), heading
    assert biz.peer_id[:8] not in heading

    await card.get_by_role("link", name="Fietsenwinkel De Spaak").click()
    biz_card = page.locator(f"#biz-{biz.peer_id}")
    await biz_card.get_by_text("De Spaak Fietsen B.V.").wait_for()
    await biz_card.get_by_label("Your name for it").fill("my bike shop")
    await biz_card.get_by_role("button", name="Save").click()
    await page.get_by_text("Saved: my bike shop · Fietsenwinkel De Spaak (unverified)").wait_for()

    biz.profile.set(privacy_policy_url="https://despaak.nl/privacy-v2")
    await biz.request(r.node.addrs[0], fields=["contact.email"], purpose="CustomerCare")
    await page.goto(r.url + "/businesses")
    await biz_card.get_by_text("This business changed its profile").wait_for()
    await biz_card.get_by_role("cell", name="https://despaak.nl/privacy-v2").wait_for()
    await shot(page, "10-business-changed")
    await biz_card.get_by_role("button", name="I have seen this change").click()
    await page.get_by_text("Marked as seen: my bike shop").wait_for()
    assert await biz_card.get_by_text("This business changed its profile").count() == 0
    assert not errors, errors
    await context.close()


async def test_profile_labels_checkbox_and_phone_width(running: Running, browser: Any):
    """The profile page speaks a person's words ("City", not address.home.city), a
    true/false field is a checkbox that saves both ways, and the requests page's
    "Decided" table fits a 375 px phone without sideways scrolling."""
    r = running
    r.node.vault.profile.set("preferences.newsletter", True)
    context = await browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(r.login_link())
    await page.goto(r.url + "/profile")

    # labels from the schema's titles; the path is still there, small, for the curious
    assert await page.get_by_label("City (home)", exact=True).input_value() == "Zwolle"
    assert await page.get_by_label("E-mail", exact=True).input_value() == "alice@example.org"
    assert await page.get_by_label("Given name", exact=True).input_value() == "Alice"
    assert await page.get_by_label("address.home.city").count() == 0

    # a true/false value is a checkbox; unticking saves false, ticking saves true
    box = page.get_by_label("Newsletter (preference)", exact=True)
    assert await box.get_attribute("type") == "checkbox" and await box.is_checked()
    await box.uncheck()
    await page.get_by_role("button", name="Save Newsletter (preference)").click()
    await page.get_by_text("Saved Newsletter (preference)").wait_for()
    assert r.node.vault.profile.get("preferences.newsletter") is False
    box = page.get_by_label("Newsletter (preference)", exact=True)
    assert not await box.is_checked()
    await box.check()
    await page.get_by_role("button", name="Save Newsletter (preference)").click()
    await page.get_by_text("Saved Newsletter (preference)").wait_for()
    assert r.node.vault.profile.get("preferences.newsletter") is True
    assert await page.get_by_label("Newsletter (preference)", exact=True).is_checked()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the profile page is {width}px wide on a phone"
    await shot(page, "11-profile-phone")

    # decided requests (with long field lists) on a phone: no sideways scroll at all
    fields = ["address.home.*", "contact.email", "contact.phone", "name.given", "name.family"]
    for _ in range(3):
        req = access_request(Identity.generate(), r.node.vault.peer_id, fields)
        r.node.grants.submit(req)
        r.node.grants.deny(req.request_id, "not now")
    await page.goto(r.url + "/requests")
    table = page.locator("table.stack")
    await table.wait_for()
    heads = await page.evaluate(  # each cell names its column (the header row is hidden)
        "[...document.querySelectorAll('table.stack td')].slice(0, 5)"
        ".map(td => getComputedStyle(td, '::before').content)"
    )
    assert heads == ['"Business: "', '"Fields: "', '"Purpose: "', '"Decision: "', '"When: "']
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the requests page is {width}px wide on a phone"
    inner = await page.evaluate(
        "[...document.querySelectorAll('.scroll')].map(e => e.scrollWidth - e.clientWidth)"
    )
    assert inner and max(inner) <= 0, f"the Decided table scrolls sideways by {max(inner)}px"
    await shot(page, "12-requests-decided-phone")
    assert errors == []
    await context.close()
