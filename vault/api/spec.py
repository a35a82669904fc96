"""The control API's operations, and its OpenAPI 3.1 document generated from them.

One table, :data:`OPERATIONS`, says for every route: method, path, the handler
(a method name on :class:`~vault.api.control.ControlServer`), the pydantic model of
the body and of the answer, the query parameters, and the error statuses. The
server registers its routes from this table and :func:`openapi_document`
builds ``/api/v1/openapi.json`` from it, with every schema produced by
pydantic (``models_json_schema``), never written by hand. OpenAPI 3.1 uses
JSON Schema 2020-12, which is what pydantic emits, so schemas go in unchanged.

A test (``tests/dashboard/test_openapi.py``) checks that the router and the
table agree, route for route, so the document cannot drift from the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from vault.api import models as m
from vault.services.rules import Rule

__all__ = ["OPERATIONS", "Operation", "Query", "openapi_document"]

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
    handler: str  # the ControlServer method that serves it
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

#: Every route of ``/api/v1``. Add a route here and on the server, nowhere else.
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
                {"type": "string", "enum": ["0", "1", "true", "false"]},
                "1: walk and verify the whole chain",
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
)

#: Extra operations registered by features that land later (see :func:`register`).
_EXTRA: list[Operation] = []


def register(*ops: Operation) -> None:
    """Add operations of a feature module (inbox, erasures, agents...) to the document."""
    _EXTRA.extend(ops)
    openapi_document.cache_clear()


def operations() -> tuple[Operation, ...]:
    return OPERATIONS + tuple(_EXTRA)


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(_ID)}


_REASONS = {
    400: "Bad request (invalid JSON, body, query or value)",
    401: "Missing or wrong bearer token",
    403: "Cross-site request or wrong Host",
    404: "No such object",
    413: "Body too large",
}


@lru_cache(maxsize=1)
def openapi_document(prefix: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the control API (JSON-ready, cached)."""
    ops = operations()
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m.ErrorBody, "serialization")]
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
        "content": {"application/json": {"schema": ref(m.ErrorBody, "serialization")}},
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
        "info": {
            "title": "kluis owner control API",
            "version": "1.0.0",
            "description": (
                "The vault owner's local API. It listens on 127.0.0.1 only and every "
                "request needs `Authorization: Bearer <token>` (the token is in "
                "KLUIS_HOME/control.token, mode 0600). Errors are "
                '`{"error": {"code", "message"}}`.'
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
