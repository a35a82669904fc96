"""Peer-supplied text stays inert: refused at the wire, escaped in every CLI table and page.

Issue 13 §5. Two walls. The wire refuses control, format and bidi characters in
every free-text field a peer sends (``protocol.confusables.check_text``). What a
peer may send (rich markup, ``[link=...]``, HTML) is shown as text: the CLI
prints it through ``vault.cli.console.inert`` and the dashboard autoescapes it.
Text that skipped the first wall (stored before it existed) is planted straight
into the sealed inbox, and must come out spelled as escapes on both screens.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from protocol import (
    CONTACT_GRAMMAR,
    ContactMessage,
    ContactPolicy,
    Error,
    Identity,
    Offer,
    Purpose,
    PurposeCode,
    dump_message,
    new_id,
    new_nonce,
    now_ms,
    sign,
)
from protocol.wire import (
    BodyText,
    ErrorText,
    OfferText,
    PurposeText,
    ReasonText,
    ShortText,
    ValueText,
)
from vault.api.dashboard.app import PAGES
from vault.cli.console import inert
from vault.cli.main import app
from vault.services.inbox import InboxMessage

from ..protocol.business_helpers import profile
from ..vault.access_helpers import access_request
from ..vault.serving import answer
from .conftest import Running, logged_in
from .helpers import frame

pytestmark = pytest.mark.timeout(120)

#: Printable, so the wire accepts it; must be shown literally everywhere.
MARKUP = "[/bold] click me [link=https://evil.example]here[/link] <script>alert(1)</script>"
#: Refused by the wire: bidi override, ANSI colour, an OSC-8 hyperlink, zero-width space.
CONTROLS = (
    "\u202e",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\x1b[31m",
    "\x1b]8;;https://evil.example\x1b\\",
    "\x07",
    "\u2028",
)
PLANTED = "gift \u202egnp.exe \x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\ \x1b[31mred"

PEER_TEXTS = (PurposeText, OfferText, ReasonText, ErrorText, ShortText, BodyText)


@pytest.mark.parametrize("kind", PEER_TEXTS, ids=lambda t: str(t))
@pytest.mark.parametrize("bad", CONTROLS, ids=repr)
def test_the_wire_refuses_control_format_and_bidi_characters(kind: Any, bad: str) -> None:
    adapter = TypeAdapter(kind)
    with pytest.raises(ValidationError) as exc:
        adapter.validate_python(f"see {bad} here")
    assert bad not in str(exc.value)  # the refused text does not travel in the error
    assert adapter.validate_python(MARKUP) == MARKUP  # markup is text: escaped on display
    assert adapter.validate_python("two\nlines\tand a tab") == "two\nlines\tand a tab"


def test_profile_values_keep_joiners_but_not_bidi_controls() -> None:
    adapter = TypeAdapter(ValueText)
    assert adapter.validate_python("Mehr\u200cnaz") == "Mehr\u200cnaz"  # Persian ZWNJ
    for bad in ("\u202e", "\u2067", "\x1b[31m", "\u2029"):
        with pytest.raises(ValidationError):
            adapter.validate_python(f"x{bad}y")


def test_inert_spells_out_what_acts() -> None:
    shown = inert(PLANTED).plain
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "\\u202e" in shown and "\\x1b]8" in shown
    assert inert(MARKUP).plain == MARKUP  # never parsed as markup


def _hostile_request(who: Identity, vault_peer: str, **extra: Any) -> Any:
    msg = access_request(who, vault_peer, ("contact.email",), actions=("read", "contact"), **extra)
    return sign(
        msg.model_copy(
            update={
                "purpose": Purpose(code=PurposeCode.SERVICE_PROVISION, text=MARKUP),
                "offer": Offer(description=MARKUP, value_cents=1),
                "signature": "",
            }
        ),
        who,
    )


def _raw_with(payload: bytes, field: str, text: str) -> bytes:
    doc = json.loads(payload)
    doc[field]["text" if field == "purpose" else "description"] = text
    return json.dumps(doc).encode()


async def test_a_frame_with_a_bidi_override_is_refused_and_stores_nothing(running: Running):
    node, biz = running.node, Identity.generate()
    good = dump_message(_hostile_request(biz, node.peer_id))
    for field in ("purpose", "offer"):
        reply = answer(node.access, biz.peer_id, _raw_with(good, field, "pay \u202emoc.live"))
        if asyncio.iscoroutine(reply):
            reply = await reply
        assert isinstance(reply, Error), reply
    assert node.grants.requests() == []


async def test_hostile_text_is_inert_in_every_cli_table_and_dashboard_page(running: Running):
    node = running.node
    biz = Identity.generate()
    card = profile(
        biz,
        display_name="[/bold] <b>Evil</b> [link=https://evil.example]Co[/link]",
        legal_name="Evil <i>B.V.</i>",
    )
    terms = ContactPolicy.of([("service", 5, 30)])
    req = _hostile_request(biz, node.peer_id, business=card, contact=terms)
    await frame(node, biz, req)
    grant = node.grants.approve(req.request_id)
    message = sign(
        ContactMessage(
            message_id=new_id(),
            grant_id=grant.grant_id,
            requester=biz.peer_id,
            vault=node.peer_id,
            category="service",
            subject=MARKUP[:200],
            body=MARKUP,
            nonce=new_nonce(),
            ts=now_ms(),
        ),
        biz,
    )
    reply = answer(node.contact, biz.peer_id, dump_message(message), CONTACT_GRAMMAR)
    if asyncio.iscoroutine(reply):
        reply = await reply
    assert not isinstance(reply, Error), reply
    planted_id = new_id()
    node.inbox.put(  # stored before the wire refused such text
        InboxMessage(
            message_id=planted_id,
            requester=biz.peer_id,
            grant_id=grant.grant_id,
            category="service",
            mailing_id=None,
            subject=PLANTED,
            body=PLANTED,
            received_at=now_ms(),
        )
    )
    home = Path(node.home)

    def cli(*args: str) -> str:
        # FORCE_COLOR: rich writes escapes as to a terminal, so markup that ran would show
        out = CliRunner().invoke(
            app, list(args), env={"KLUIS_HOME": str(home), "COLUMNS": "2000", "FORCE_COLOR": "1"}
        )
        assert out.exit_code == 0, (args, out.output, out.exception)
        return out.stdout

    commands = [
        ("requests", "--all"),
        ("grants",),
        ("receipts",),
        ("inbox", "--all"),
        ("inbox", "read", message.message_id),
        ("inbox", "read", planted_id),
        ("contacts",),
        ("audit",),
        ("businesses",),
        ("businesses", "show", biz.peer_id),
    ]
    seen = ""
    for args in commands:
        printed = await asyncio.to_thread(cli, *args)
        assert "\x1b]8;" not in printed, args  # no OSC-8 hyperlink
        for ch in ("\u202e", "\u2066", "\x07"):
            assert ch not in printed, args
        seen += printed
    assert "[link=https://evil.example]" in seen  # shown literally, not run
    assert "[/bold] click me" in seen
    assert "\\u202egnp.exe" in seen and "\\x1b[31mred" in seen  # the planted text, spelled out

    base = running.url.rstrip("/")
    session, _ = await logged_in(running)
    try:
        pages = ""
        for path in sorted(PAGES):
            async with session.get(base + path) as resp:
                assert resp.status == 200, path
                html = await resp.text()
            assert "<script>alert(1)</script>" not in html, path
            assert "<b>Evil</b>" not in html and "<i>B.V.</i>" not in html, path
            assert "\u202e" not in html and "\x1b" not in html, path
            pages += html
    finally:
        await session.close()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages
    assert "&lt;b&gt;Evil&lt;/b&gt;" in pages
    assert "\\u202egnp.exe" in pages
