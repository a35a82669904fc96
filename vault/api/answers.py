"""How the control API answers: a model as JSON, or an error as an RFC 9457 problem.

Every 4xx/5xx answer of ``/api/v1`` is ``application/problem+json``
(RFC 9457, "Problem Details for HTTP APIs")::

    HTTP/1.1 404 Not Found
    Content-Type: application/problem+json

    {"type": "urn:kluis:problem:not_found", "title": "No such object", "status": 404,
     "detail": "no grant g-123", "code": "not_found"}

* ``code`` is the stable :class:`protocol.ErrorCode`, the member a script acts on;
* ``type`` is that code as a URI. It names the problem type and is not meant to be
  fetched (RFC 9457 allows a type URI that does not resolve); a ``urn:`` keeps it
  from pointing at a host kluis does not run;
* ``title`` is fixed per code (:data:`TITLES`); ``detail`` is this occurrence in one
  line: never a personal value, never a traceback;
* ``status`` repeats the HTTP status: :func:`status_of` is the one mapping from an
  exception to a status (``AccessDenied`` → 403, ``VaultExists`` → 409, ...).

A 500 means a bug: its detail says only "internal error", and the traceback goes
to the node's log.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from protocol import AccessDenied, ErrorCode, KluisError, RemoteProtocolError
from vault.api.media import PROBLEM_JSON
from vault.api.models import Problem

__all__ = [
    "PROBLEM_JSON",
    "TITLES",
    "BadRequest",
    "ok",
    "problem",
    "problem_of",
    "problem_type",
    "status_of",
]

_TYPE_PREFIX = "urn:kluis:problem:"


class BadRequest(RemoteProtocolError):
    """An HTTP request the control API cannot serve as sent: bad JSON, body, query or path.

    Like h11's ``RemoteProtocolError``: the other side sent something we cannot
    accept, answered with a 400 and the ``code`` given (``bad_json``,
    ``bad_query``, ``bad_path``, ``invalid_body``).
    """

    code = ErrorCode.INVALID_BODY


#: One title per code: a problem type's short summary, the same on every occurrence.
TITLES: dict[ErrorCode, str] = {
    ErrorCode.PROTOCOL: "Protocol error",
    ErrorCode.FRAME_TOO_LARGE: "Frame too large",
    ErrorCode.MALFORMED: "Malformed message",
    ErrorCode.UNKNOWN_MESSAGE: "Unknown message type",
    ErrorCode.UNEXPECTED_MESSAGE: "Not allowed in the current state",
    ErrorCode.BAD_SIGNATURE: "Bad signature",
    ErrorCode.REPLAY: "Replayed or stale",
    ErrorCode.NOT_GRANTED: "No such grant",
    ErrorCode.OUT_OF_SCOPE: "Out of scope",
    ErrorCode.REVOKED: "Grant revoked",
    ErrorCode.EXPIRED: "Expired",
    ErrorCode.WRONG_PEER: "Grant of another peer",
    ErrorCode.PURPOSE_MISMATCH: "Purpose mismatch",
    ErrorCode.DENIED: "Denied",
    ErrorCode.BLOCKED: "Blocked",
    ErrorCode.RATE_LIMITED: "Rate limited",
    ErrorCode.NOT_FOUND: "No such object",
    ErrorCode.CAP_EXCEEDED: "Contact cap exceeded",
    ErrorCode.QUIET_HOURS: "Quiet hours",
    ErrorCode.CATEGORY_REFUSED: "Contact category refused",
    ErrorCode.TRANSPORT: "Network failure",
    ErrorCode.CONNECT: "Cannot connect to the peer",
    ErrorCode.BROKEN: "Connection broken",
    ErrorCode.CLOSED: "Closed by this node",
    ErrorCode.TIMEOUT: "Timed out",
    ErrorCode.LOCAL: "Local error",
    ErrorCode.INTERNAL: "Internal error",
    ErrorCode.BAD_JSON: "The body is not valid JSON",
    ErrorCode.INVALID_BODY: "Invalid request",
    ErrorCode.BAD_QUERY: "Invalid query parameter",
    ErrorCode.BAD_PATH: "Invalid file path",
    ErrorCode.EXISTS: "Already exists",
    ErrorCode.UNAUTHORIZED: "Bearer token required",
    ErrorCode.FORBIDDEN_HOST: "Wrong Host",
    ErrorCode.CROSS_ORIGIN: "Cross-site request refused",
    ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed",
    ErrorCode.TOO_LARGE: "Body too large",
    ErrorCode.HTTP_ERROR: "HTTP error",
}

#: Codes with a status of their own; any other kluis error is a 400.
_STATUS: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.EXISTS: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN_HOST: 403,
    ErrorCode.CROSS_ORIGIN: 403,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.TOO_LARGE: 413,
}


def status_of(exc: KluisError) -> int:
    """The HTTP status for a kluis error: policy → 403, then by code, else 400 (never 5xx)."""
    if isinstance(exc, AccessDenied) and exc.code is not ErrorCode.NOT_FOUND:
        return 403
    return _STATUS.get(exc.code, 400)


def problem_type(code: ErrorCode) -> str:
    """The problem's ``type`` URI for ``code``."""
    return _TYPE_PREFIX + code.value


def problem(status: int, code: ErrorCode, detail: str) -> web.Response:
    """An ``application/problem+json`` answer."""
    body = Problem(
        type=problem_type(code), title=TITLES[code], status=status, detail=detail, code=code
    )
    return web.json_response(body.model_dump(mode="json"), status=status, content_type=PROBLEM_JSON)


def problem_of(exc: KluisError) -> web.Response:
    """The problem answer for a kluis error (its message is the detail)."""
    return problem(status_of(exc), exc.code, exc.message)


def ok(model: BaseModel, status: int = 200) -> web.Response:
    """A successful answer: the model as JSON."""
    return web.json_response(model.model_dump(mode="json"), status=status)
