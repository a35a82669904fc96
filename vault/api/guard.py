"""The two middlewares every local control API runs: who may call, and how errors answer.

The owner's :class:`~vault.api.control.ControlServer` and the business node's
API (``vault/business/api.py``) both bind 127.0.0.1, take a bearer token, refuse
cross-site requests and unknown query parameters, and answer every error as an
RFC 9457 problem. One copy of that policy, so the two cannot drift apart.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from protocol import ErrorCode, KluisError
from vault._exceptions import describe_invalid
from vault.api.answers import problem, problem_of
from vault.api.dashboard.security import origin_ok, own_hosts

__all__ = ["Handler", "errors_middleware", "guard_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: HTTP errors aiohttp raises itself (no route, wrong method, body too large).
_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
}


def guard_middleware(
    token: Callable[[], str],
    port: Callable[[], int],
    known_query: Mapping[tuple[str, str], set[str]],
) -> Middleware:
    """Host check for everything; for ``/api/`` also same-origin, the token and known queries.

    Paths outside ``/api/`` are the dashboard's, which has its own guard (session
    cookie and CSRF). ``known_query`` maps ``(method, route)`` to the query
    parameters the OpenAPI document lists; any other parameter is a 400.
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in own_hosts(port()):
            return problem(403, ErrorCode.FORBIDDEN_HOST, "requests must address 127.0.0.1")
        if not request.path.startswith("/api/"):
            return await handler(request)
        origin, site = request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site")
        if not origin_ok(request.host, origin, site, port()):
            return problem(403, ErrorCode.CROSS_ORIGIN, "cross-site requests are refused")
        auth = request.headers.get("Authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(given.encode("utf-8", "replace"), token().encode("ascii")):
            return problem(401, ErrorCode.UNAUTHORIZED, "a valid bearer token is required")
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource is not None else ""
        known = known_query.get((request.method, route))
        if known is not None and (extra := set(request.query) - known):
            unknown = ", ".join(sorted(extra))[:100]
            return problem(400, ErrorCode.BAD_QUERY, f"unknown query parameter: {unknown}")
        return await handler(request)

    return guard


def errors_middleware(log: logging.Logger, what: str) -> Middleware:
    """Every error as a problem: aiohttp's own, a refused body, a kluis error, a bug (500)."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, ErrorCode.HTTP_ERROR)
            return problem(exc.status, code, exc.reason)
        except ValidationError as exc:  # a body its model refuses (described without the input)
            return problem(400, ErrorCode.INVALID_BODY, "invalid body: " + describe_invalid(exc))
        except KluisError as exc:
            return problem_of(exc)
        except Exception:
            log.exception("%s failed on %s %s", what, request.method, request.path)
            return problem(500, ErrorCode.INTERNAL, "internal error")

    return errors
