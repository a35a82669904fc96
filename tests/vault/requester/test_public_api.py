"""``vault.requester.__all__`` is the business SDK's public API: changing it is a decision.

The SDK's private modules may move (they did: ``_requester.py`` became one
module per idea); what businesses import may not.
"""

from __future__ import annotations

import inspect

import vault.requester

EXPECTED = {
    # the requester and what it hands back
    "Requester", "PendingRequest", "GrantHandle", "GrantInfo", "GrantRef", "GrantStatus",
    "RequestRecord", "OfferAgent", "DEFAULT_LISTEN",
    # arguments
    "Offer", "parse_purpose", "vault_peer_of",
    # errors
    "AccessDenied", "DecisionPending", "InvalidGrant", "MutedByCustomer", "RateLimited",
    "RemoteError",
    "RequesterError", "TransportError", "UnknownGrant", "UnknownRequest", "error_to_exception",
    # what a subscription yields
    "Update",
}  # fmt: skip


def test_all_is_exactly_the_expected_set() -> None:
    assert len(vault.requester.__all__) == len(set(vault.requester.__all__))
    assert set(vault.requester.__all__) == EXPECTED


def test_every_name_resolves() -> None:
    for name in vault.requester.__all__:
        assert getattr(vault.requester, name) is not None, name


def test_the_requester_keeps_its_methods() -> None:
    """The front door still answers every call businesses and the CLI make."""
    methods = {
        name for name, _ in inspect.getmembers(vault.requester.Requester) if not name[0] == "_"
    }
    assert {
        "open", "create", "ephemeral", "close", "request", "pending", "requests", "verify_grant",
        "handle", "grants", "grant_info", "local_records", "local_copy", "receipts", "read",
        "read_records", "subscribe", "contact", "flush_contacts", "erasure_receipts",
        "enforce_retention", "send_receipts", "drain", "identity", "peer_id", "addrs", "node",
        "now", "closed",
    } <= methods  # fmt: skip


def test_openers_are_awaitable_context_managers() -> None:
    opening = vault.requester.Requester.open("/nonexistent/never/opened", "x", network=False)
    try:
        assert inspect.isawaitable(opening)
        assert hasattr(opening, "__aenter__") and hasattr(opening, "__aexit__")
    finally:
        opening.close()  # never started: nothing to undo
