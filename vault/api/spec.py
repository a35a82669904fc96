"""The control API's operations, and its OpenAPI 3.1 document generated from them.

One table, :data:`OPERATIONS`, says for every route: method, path, the handler
(its name, which is also the OpenAPI ``operationId``: a method of
:class:`~vault.api.control.ControlServer`,
:class:`~vault.api.contact_routes.ContactRoutes` or
:class:`~vault.api.agent_routes.AgentRoutes`), the pydantic model of the body and
of the answer, the query parameters, and the error statuses. The table is one
constant, written out here: nothing is added to it at import time, so the
document does not depend on what was imported first.

The server registers every route from this table
(:meth:`~vault.api.control.ControlServer.start`) and :func:`openapi_document`
builds ``/api/v1/openapi.json`` from it, with every schema produced by pydantic
(``models_json_schema``), never written by hand. OpenAPI 3.1 uses JSON Schema
2020-12, which is what pydantic emits, so schemas go in unchanged. Errors are
RFC 9457 problems (``application/problem+json``, :mod:`vault.api.answers`).

``tests/dashboard/test_api.py`` checks that the paths of the document and the
routes of a running node's router are the same set, so neither can drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from vault.api import models as m
from vault.api.media import PROBLEM_JSON
from vault.services.rules import Rule

__all__ = ["OPERATIONS", "Operation", "Query", "document_of", "openapi_document"]

Method = Literal["GET", "POST", "PUT", "DELETE"]


@dataclass(frozen=True, slots=True)
class Query:
    """One query parameter (its JSON schema is small, so it is given inline)."""

    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Operation:
    method: Method
    path: str  # under API_PREFIX, OpenAPI style: /grants/{id}/revoke
    handler: str  # the route method that serves it; also the operationId
    summary: str
    tag: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    status: int = 200
    errors: tuple[int, ...] = field(default=(400,))
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler


_ID = {"type": "string", "minLength": 1, "maxLength": 128}

_BOOL = {"type": "string", "enum": ["0", "1"]}

#: Every route of ``/api/v1``. A new route is a line here plus its handler method;
#: the server's router and the OpenAPI document are both built from this table.
OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/openapi.json", "openapi", "This document", "meta", None, errors=()),
    Operation(
        "GET",
        "/status",
        "status",
        "Node status: peer id, addresses",
        "meta",
        m.StatusView,
        errors=(),
    ),
    Operation(
        "GET",
        "/requests",
        "list_requests",
        "Access requests",
        "requests",
        m.RequestList,
        query=(
            Query(
                "status",
                {"type": "string", "enum": ["pending", "approved", "denied"]},
                "only requests with this status",
            ),
        ),
    ),
    Operation(
        "POST",
        "/requests/{id}/approve",
        "approve",
        "Approve a pending request, optionally narrowed",
        "requests",
        m.DecisionView,
        body=m.ApproveBody,
        errors=(400, 404),
    ),
    Operation(
        "POST",
        "/requests/{id}/deny",
        "deny",
        "Deny a pending request",
        "requests",
        m.DecisionView,
        body=m.DenyBody,
        errors=(400, 404),
    ),
    Operation(
        "POST",
        "/requests/deny-unknown",
        "deny_unknown",
        "Deny every pending request from a business that never held a grant",
        "requests",
        m.RequestList,
        body=m.DenyBody,
    ),
    Operation(
        "GET", "/grants", "list_grants", "Grants, with status", "grants", m.GrantList, errors=()
    ),
    Operation(
        "POST",
        "/grants/{id}/revoke",
        "revoke",
        "Revoke a grant (in force when this returns)",
        "grants",
        m.RevokeResult,
        body=m.RevokeBody,
        errors=(400, 404),
    ),
    Operation(
        "GET",
        "/rules",
        "list_rules",
        "Standing rules, in evaluation order",
        "rules",
        m.RuleList,
        errors=(),
    ),
    Operation("POST", "/rules", "add_rule", "Add a rule", "rules", Rule, body=Rule, status=201),
    Operation(
        "DELETE", "/rules/{id}", "remove_rule", "Remove a rule", "rules", Rule, errors=(400, 404)
    ),
    Operation(
        "GET",
        "/profile",
        "profile",
        "Every set profile field",
        "profile",
        m.ProfileView,
        query=(
            Query(
                "prefix", {"type": "string", "maxLength": 200}, "only this subtree, e.g. address"
            ),
        ),
    ),
    Operation(
        "GET",
        "/profile/{path}",
        "get_field",
        "One profile field",
        "profile",
        m.FieldView,
        errors=(400, 404),
    ),
    Operation(
        "PUT",
        "/profile/{path}",
        "put_field",
        "Set one profile field",
        "profile",
        m.FieldView,
        body=m.PutFieldBody,
        errors=(400, 404),
    ),
    Operation(
        "DELETE",
        "/profile/{path}",
        "delete_field",
        "Unset one profile field",
        "profile",
        m.FieldView,
        errors=(400, 404),
    ),
    Operation(
        "GET",
        "/audit",
        "audit",
        "The audit log, optionally verified",
        "audit",
        m.AuditView,
        query=(
            Query(
                "verify",
                {"type": "string", "enum": ["0", "1", "true", "false", "full"]},
                "1: verify what came after the last verification's checkpoint; "
                "full: walk the whole chain",
            ),
            Query(
                "tail",
                {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                "only the newest N entries",
            ),
        ),
    ),
    Operation(
        "GET",
        "/receipts",
        "list_receipts",
        "Consent receipts",
        "receipts",
        m.ReceiptList,
        query=(Query("grant", dict(_ID), "only this grant's receipts"),),
        errors=(400, 404),
    ),
    Operation(
        "GET",
        "/receipts/{id}",
        "get_receipt",
        "One consent receipt",
        "receipts",
        m.ReceiptView,
        query=(
            Query(
                "format",
                {"type": "string", "enum": ["json", "kantara", "iso27560"]},
                "also rendered and signed: kantara (Consent Receipt v1.1) or iso27560 "
                "(ISO/IEC TS 27560 record, DPV JSON-LD)",
            ),
        ),
        errors=(400, 404),
    ),
    Operation(
        "POST",
        "/backup",
        "backup",
        "Write an encrypted backup, sealed under the passphrase (kluis export)",
        "vault",
        m.BackupResult,
        body=m.BackupBody,
        status=201,
        errors=(400, 409),
    ),
    Operation(
        "POST",
        "/passphrase/check",
        "check_passphrase",
        "Check a passphrase: the right one in microseconds, a wrong one after a KDF run",
        "vault",
        m.StatusView,
        body=m.PassphraseCheckBody,
    ),
    Operation(
        "POST",
        "/passphrase",
        "change_passphrase",
        "Change the passphrase (kluis passphrase)",
        "vault",
        m.StatusView,
        body=m.PassphraseBody,
    ),
    Operation(
        "POST",
        "/dashboard/login-link",
        "login_link",
        "A one-time dashboard login link",
        "dashboard",
        m.LoginLink,
        errors=(400,),
    ),
    # -- contact and erasure (vault/api/contact_routes.py) --------------------------------------
    Operation(
        "GET", "/inbox", "list_inbox", "Messages from businesses", "contact", m.InboxList,
        query=(
            Query("all", dict(_BOOL), "include muted businesses"),
            Query("unread", dict(_BOOL), "only unread messages"),
        ),
    ),
    Operation(
        "POST", "/inbox/{id}/read", "read_message", "Mark a message read", "contact",
        m.InboxItem, errors=(400, 404),
    ),
    Operation(
        "GET", "/contacts", "contact_report", "Per business: sent, refused, yield", "contact",
        m.ContactReport, errors=(),
    ),
    Operation(
        "POST", "/contacts/{id}/prefs", "set_prefs", "Mute or block a business", "contact",
        m.PrefsView, body=m.PrefsBody,
    ),
    Operation(
        "GET", "/erasures", "list_erasures", "Erasure requests and receipts", "erasure",
        m.ErasureList, errors=(),
    ),
    Operation(
        "POST", "/erasures", "request_erasure", "Ask a business (or all) to erase everything",
        "erasure", m.ErasureList, body=m.EraseBody, errors=(400, 404),
    ),
    # -- the customer's agents (vault/api/agent_routes.py) --------------------------------------
    Operation(
        "POST", "/agents/intents", "send_intent", "Cast an intent; the agent negotiates it",
        "agents", m.IntentRef, body=m.IntentBody, status=202, errors=(400, 404),
    ),
    Operation(
        "GET", "/agents/intents", "list_intents", "Intents sent, with their outcome", "agents",
        m.IntentList, errors=(404,),
    ),
    Operation(
        "GET", "/agents/deals", "list_deals", "Deals awaiting the owner's confirmation",
        "agents", m.DealList, query=(Query("all", dict(_BOOL), "also decided deals"),),
        errors=(400, 404),
    ),
    Operation(
        "POST", "/agents/deals/{id}/confirm", "confirm_deal", "Confirm a deal", "agents",
        m.DealView, errors=(400, 404),
    ),
    Operation(
        "POST", "/agents/deals/{id}/reject", "reject_deal", "Reject a deal", "agents",
        m.DealView, errors=(400, 404),
    ),
    Operation(
        "GET", "/agents/agreements", "list_agreements", "Agreements (signed by both sides)",
        "agents", m.AgreementList, errors=(404,),
    ),
    Operation(
        "GET", "/businesses", "list_businesses", "Businesses that asked: who they are",
        "businesses", m.BusinessList, errors=(),
    ),
    Operation(
        "GET", "/businesses/{id}", "get_business", "One business (and what changed)",
        "businesses", m.BusinessView, errors=(400, 404),
    ),
    Operation(
        "POST", "/businesses/{id}/petname", "set_petname", "Give a business your own name",
        "businesses", m.BusinessView, body=m.PetnameBody, errors=(400, 404),
    ),
    Operation(
        "POST", "/businesses/{id}/seen", "mark_seen", "Mark a changed profile as seen",
        "businesses", m.BusinessView, body=m.EmptyBody, errors=(400, 404),
    ),
    Operation(
        "POST", "/businesses/{id}/verify", "verify_domain", "Check the business's domain now",
        "businesses", m.BusinessView, body=m.EmptyBody, errors=(400, 404),
    ),
)  # fmt: skip


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(_ID)}


_REASONS = {
    400: "Bad request (invalid JSON, body, query or value)",
    401: "Missing or wrong bearer token",
    403: "Refused: cross-site request, wrong Host, or policy (AccessDenied)",
    404: "No such object",
    409: "Already exists (give force to overwrite)",
    413: "Body too large",
}


#: The owner's API, as the document's ``info`` says it.
_OWNER_INFO = {
    "title": "kluis owner control API",
    "version": "1.0.0",
    "description": (
        "The vault owner's local API. It listens on 127.0.0.1 only and every "
        "request needs `Authorization: Bearer <token>` (the token is in "
        "KLUIS_HOME/control.token, mode 0600). Errors are RFC 9457 problem "
        "details (`application/problem+json`: type, title, status, detail) with "
        "a stable `code` to act on."
    ),
}


@lru_cache(maxsize=1)
def openapi_document(prefix: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the control API (JSON-ready, cached)."""
    return document_of(OPERATIONS, prefix, _OWNER_INFO)


def document_of(ops: tuple[Operation, ...], prefix: str, info: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an operation table (the business node has one too)."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m.Problem, "serialization")]
    for op in ops:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    schemas = dict(top.get("$defs", {}))

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    error = {
        "description": "",
        "content": {PROBLEM_JSON: {"schema": ref(m.Problem, "serialization")}},
    }
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        item: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
        }
        if op.description:
            item["description"] = op.description
        params = [_param(seg[1:-1]) for seg in op.path.split("/") if seg.startswith("{")]
        params += [
            {
                "name": q.name,
                "in": "query",
                "required": False,
                "schema": q.schema,
                "description": q.description,
            }
            for q in op.query
        ]
        if params:
            item["parameters"] = params
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.body, "validation")}},
            }
        ok_schema: dict[str, Any] = (
            ref(op.response, "serialization") if op.response is not None else {"type": "object"}
        )
        responses: dict[str, Any] = {
            str(op.status): {
                "description": "OK" if op.status == 200 else "Created",
                "content": {"application/json": {"schema": ok_schema}},
            }
        }
        codes = set(op.errors) | {401, 403}
        if op.body is not None:
            codes |= {400, 413}
        for code in sorted(codes):
            responses[str(code)] = {**error, "description": _REASONS[code]}
        item["responses"] = responses
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": dict(info),
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
