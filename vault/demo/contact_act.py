"""``kluis demo``: contact on the customer's terms, and erasure with proof.

:func:`run_contact_erasure_story` runs against a running vault node and a
connected business (both real libp2p nodes on loopback; the caller owns them):

1. the business asks to contact the customer for surveys, and the owner grants
   Schwab's rule: at most one survey a year (``survey`` cap 1 per 365 days);
2. the first survey lands in the inbox; the second is refused, ``cap_exceeded``
   (typed error, audited); an offer is refused, ``category_refused``;
3. the owner reads the survey (engaged: the mailing's yield is 100 %);
4. the owner asks the business to erase everything: it deletes the data,
   destroys its per-grant keys and answers with a signed erasure receipt,
   which the vault verifies; the audit log holds the fact, not the values.

Returns True if every step behaved as stated.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console

from protocol import AccessDenied, ContactPolicy, ErrorCode, verify_erasure_receipt
from vault.demo.steps import Steps

__all__ = ["SCHWAB_RULE", "run_contact_erasure_story"]

#: "Ask my opinion at most once a year" (plus service messages, 4 a month).
SCHWAB_RULE = ContactPolicy.of([("survey", 1, 365), ("service", 4, 30)])


async def run_contact_erasure_story(
    console: Console, vault_node: Any, business: Any, steps: Steps | None = None
) -> bool:
    """The contact and erasure act; True if every step passed.

    ``steps`` is the demo's tally (each check counts once in its total); alone,
    the act keeps its own.
    """
    steps = steps or Steps(console)
    failed_before = len(steps.failed)
    steps.act("Act 3: contact on the customer's terms, and erasure with proof")
    addr = vault_node.addrs[0]
    pending = await business.request(
        addr,
        fields=["contact.email"],
        purpose="CustomerCare",
        purpose_text="ask your opinion about our service",
        actions=["contact"],
        days=365,
        contact=SCHWAB_RULE,
    )
    grant = vault_node.approve(pending.request_id)
    handle = await pending.decision(timeout=15)
    steps.check(
        "the owner grants contact: surveys at most once a year",
        grant.contact is not None and grant.contact.cap_for("survey") is not None,
        "survey cap 1 per 365 days, inbox only",
    )
    mid = await business.contact(
        handle, "survey", "How did we do?", "One question, one click.", mailing_id="survey-y1"
    )
    steps.check(
        "the yearly survey lands in the inbox",
        [m.message_id for m in vault_node.inbox.messages()] == [mid],
    )
    err = await steps.expect_error_async(
        "a second survey the same year is refused",
        AccessDenied,
        lambda: business.contact(handle, "survey", "Just one more question?"),
    )
    steps.check(
        "…with the typed code cap_exceeded", err is not None and err.code is ErrorCode.CAP_EXCEEDED
    )
    err = await steps.expect_error_async(
        "an offer is refused: the owner allowed no offers",
        AccessDenied,
        lambda: business.contact(handle, "offer", "20% off this week"),
    )
    steps.check(
        "…with the typed code category_refused",
        err is not None and err.code is ErrorCode.CATEGORY_REFUSED,
    )
    refused = [e for e in vault_node.vault.audit.entries() if e.kind == "contact.refused"]
    steps.check("both refusals are in the audit log", len(refused) >= 2)
    vault_node.inbox.mark_read(mid)
    report = {r["requester"]: r for r in vault_node.inbox.report()}.get(business.peer_id, {})
    mailing = (report.get("mailings") or [{}])[0]
    steps.check(
        "the owner read the survey: the mailing's yield is 100 %",
        mailing.get("yield_pct") == 100,
        f"sent {report.get('sent')}, refused {report.get('refused')}",
    )

    steps.act("Erasure with proof")
    rec = vault_node.delivery.erase(business.peer_id, reason="please forget me")
    steps.check(
        "the owner asks the business to erase everything",
        rec.status(vault_node.grants.now()) == "pending",
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while vault_node.erasures.get(rec.erasure_id).receipt is None and loop.time() < deadline:
        await asyncio.sleep(0.05)
    done = vault_node.erasures.get(rec.erasure_id)
    ok = done.receipt is not None
    if ok:
        try:
            verify_erasure_receipt(done.receipt, done.request)
        except Exception:
            ok = False
    steps.check(
        "the business answers with a signed erasure receipt, which verifies",
        ok,
        f"{len(done.receipt.deleted_fields)} field pattern(s), keys destroyed"
        if done.receipt is not None
        else "no receipt",
    )
    steps.check("the erasure is confirmed", done.status(vault_node.grants.now()) == "confirmed")
    steps.check(
        "the business holds no copy and no key any more",
        business.local_copy(handle) == {} and not business.copies.has_key(handle.grant_id),
    )
    facts = [e for e in vault_node.vault.audit.entries() if e.kind.startswith("erasure.")]
    steps.check(
        "the audit log keeps the fact of the erasure, never the values",
        len(facts) >= 2 and all("@" not in str(e.details) for e in facts),
    )
    return len(steps.failed) == failed_before
