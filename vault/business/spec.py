"""The business control API's operations: one table, like the owner's (:mod:`vault.api.spec`).

The router (:class:`vault.business.api.BusinessControl`) and the OpenAPI document
(``GET /api/v1/openapi.json``) are both built from :data:`BUSINESS_OPERATIONS`;
handlers are methods of :class:`~vault.business.api.BusinessControl` named like
the operation's ``handler``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from vault.api.models import LoginLink
from vault.api.spec import Operation, Query, document_of
from vault.business import models as b

__all__ = ["BUSINESS_OPERATIONS", "business_document"]

_SEQ = {"type": "string", "pattern": "^[0-9]{1,12}$"}

BUSINESS_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/openapi.json", "openapi", "This document", "meta", None, errors=()),
    Operation("GET", "/status", "status", "Node status: peer id, addresses, subscriptions held",
              "meta", b.BizStatusView, errors=()),
    Operation("GET", "/requests", "list_requests", "Access requests sent", "requests",
              b.BizRequestList, errors=()),
    Operation("POST", "/requests", "send_request", "Ask a vault for access", "requests",
              b.BizRequestView, body=b.SendRequestBody, status=201, errors=(400, 403)),
    Operation("POST", "/requests/{id}/wait", "wait_decision", "Wait for the owner's decision",
              "requests", b.BizGrantView, body=b.WaitBody, errors=(400, 403, 404)),
    Operation("GET", "/grants", "list_grants", "Grants held or held before", "grants",
              b.BizGrantList, errors=()),
    Operation("POST", "/grants/{id}/read", "read_grant", "Read granted fields from the vault",
              "grants", b.ReadResult, body=b.ReadBody, errors=(400, 403, 404)),
    Operation("GET", "/grants/{id}/copy", "get_copy", "The sealed local copy of a live grant",
              "grants", b.CopyView, errors=(403, 404)),
    Operation("POST", "/grants/{id}/contact", "send_contact",
              "Message the customer within their contact terms", "contact", b.ContactResult,
              body=b.ContactBody, errors=(400, 403, 404)),
    Operation("GET", "/mailings", "list_mailings", "Contact yield per mailing", "contact",
              b.MailingList, errors=()),
    Operation("GET", "/deals", "list_deals", "Deals: the intents answered, the agreements signed",
              "deals", b.DealList, errors=()),
    Operation("GET", "/activity", "list_activity", "What the held subscriptions saw", "grants",
              b.ActivityList, query=(Query("after", dict(_SEQ), "only entries after this seq"),
                                     Query("grant", {"type": "string", "maxLength": 128},
                                           "only this grant")), errors=(400,)),
    Operation("GET", "/receipts", "list_receipts", "Signed deletion receipts sent", "receipts",
              b.DeletionReceiptList, errors=()),
    Operation("GET", "/erasures", "list_erasures", "Signed erasure receipts given", "receipts",
              b.ErasureReceiptList, errors=()),
    Operation("POST", "/login-link", "login_link", "A one-time link into the dashboard", "meta",
              LoginLink, errors=(400,)),
    Operation("POST", "/relationships/{id}/petname", "set_petname",
              'Give a vault this business relates to a petname ("" removes it)', "relationships",
              b.PetnameView,
              body=b.PetnameBody, errors=(400, 403)),
    Operation("GET", "/profile", "get_profile", "The signed business profile", "profile",
              b.ProfileOut, errors=()),
    Operation("PUT", "/profile", "set_profile", "Set (or change) the signed profile", "profile",
              b.ProfileOut, body=b.ProfileBody, errors=(400,)),
)  # fmt: skip

_INFO = {
    "title": "kluis business control API",
    "version": "1.0.0",
    "description": (
        "The business node's local API (`kluis business start`). It listens on 127.0.0.1 "
        "only and every request needs `Authorization: Bearer <token>` (the token is in "
        "KLUIS_BUSINESS_HOME/control.token, mode 0600). Errors are RFC 9457 problem details "
        "with a stable `code`."
    ),
}


@lru_cache(maxsize=1)
def business_document(prefix: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the business control API."""
    return document_of(BUSINESS_OPERATIONS, prefix, _INFO)
