"""What a control-API route reads from a request: its JSON body and query parameters, checked.

Anything that does not pass is a :class:`~vault.api.answers.BadRequest` (a 400
problem), never a 500: invalid JSON or JSON nested deeper than
:data:`protocol.limits.MAX_JSON_DEPTH` is ``bad_json``, a body its model refuses
is ``invalid_body`` (pydantic's ``ValidationError``, which the error middleware
describes without echoing the input), a query parameter outside what the
OpenAPI document says is ``bad_query``. The body's size is bounded before any of
this by the app's ``client_max_size`` (413).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from protocol import ErrorCode
from protocol.limits import MAX_JSON_DEPTH
from vault.api.answers import BadRequest

__all__ = ["flag", "query", "read_json", "read_model"]

M = TypeVar("M", bound=BaseModel)


def _too_deep(value: Any, limit: int) -> bool:
    """Is ``value`` nested deeper than ``limit``? (iterative: no recursion on hostile input)"""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def read_json(request: web.Request) -> Any:
    """The body as JSON (an empty body is ``{}``)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    deep = f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(raw)
    except RecursionError as exc:  # deeper than the parser's own stack allows
        raise BadRequest(deep, code=ErrorCode.BAD_JSON) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body is not valid JSON", code=ErrorCode.BAD_JSON) from exc
    if _too_deep(data, MAX_JSON_DEPTH):
        raise BadRequest(deep, code=ErrorCode.BAD_JSON)
    return data


async def read_model(request: web.Request, model: type[M]) -> M:
    """The body, validated by ``model`` (``ValidationError`` → 400 ``invalid_body``)."""
    return model.model_validate(await read_json(request))


def query(
    request: web.Request,
    name: str,
    *,
    choices: tuple[str, ...] | None = None,
    max_len: int = 200,
    empty_ok: bool = False,
) -> str | None:
    """A query parameter given at most once, checked like the OpenAPI document says."""
    values = request.query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"give {name} once", code=ErrorCode.BAD_QUERY)
    value = values[0]
    if choices is not None and value not in choices:
        raise BadRequest(f"{name} is one of: {', '.join(choices)}", code=ErrorCode.BAD_QUERY)
    if (not value and not empty_ok) or len(value) > max_len:
        raise BadRequest(f"{name} must be 1 to {max_len} characters", code=ErrorCode.BAD_QUERY)
    return value


def flag(request: web.Request, name: str) -> bool:
    """A ``0``/``1`` query flag (absent is false)."""
    return query(request, name, choices=("0", "1")) == "1"
