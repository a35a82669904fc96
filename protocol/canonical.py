"""Canonical JSON: the one byte encoding that every signature covers.

Sorted keys, no insignificant whitespace, UTF-8, and **no floats** (money is
integer cents, time is integer milliseconds). Two nodes that agree on a value
produce the same bytes, so a signature made by one verifies at the other.

We use the standard library's ``json`` with strict settings rather than a
home-made serialiser; this module only forbids what JSON allows but signatures
must not depend on (floats, NaN, non-string keys, duplicate keys on decode).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._exceptions import MalformedFrame

__all__ = ["CanonicalError", "canonical_dumps", "canonical_loads"]

#: Deepest nesting accepted on decode; protects the parser from a hostile peer.
MAX_DEPTH = 32


class CanonicalError(MalformedFrame):
    """A value that has no canonical encoding, or bytes that are not canonical JSON."""


_SCALARS = (str, int, bool, type(None))


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise CanonicalError("value nested too deeply")
    kind = type(value)
    # Exact-type fast paths first: isinstance against the Mapping/Sequence ABCs is
    # slow, and this runs over every value that is signed or sent.
    if kind in _SCALARS:
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise CanonicalError("object keys must be strings")
            if type(item) not in _SCALARS:
                _check(item, depth + 1)
        return
    if kind is list or kind is tuple:
        for item in value:
            if type(item) not in _SCALARS:
                _check(item, depth + 1)
        return
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise CanonicalError("floats have no canonical encoding; use integers")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings")
            _check(item, depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for item in value:
            _check(item, depth + 1)
        return
    raise CanonicalError(f"type {type(value).__name__} has no canonical encoding")


def canonical_dumps(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes. Raises :class:`CanonicalError`."""
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in pairs:
        if key in out:
            raise CanonicalError("duplicate object key")
        out[key] = item
    return out


def _no_float(text: str) -> Any:
    raise CanonicalError("floats are not allowed")


def _no_constant(text: str) -> Any:
    raise CanonicalError("NaN and Infinity are not allowed")


def canonical_loads(data: bytes) -> Any:
    """Decode JSON bytes strictly: UTF-8, no floats, no duplicate keys, bounded depth.

    It accepts any whitespace layout (peers need not send canonical bytes);
    signatures are always checked over :func:`canonical_dumps` of the result.
    """
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except CanonicalError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CanonicalError("not valid JSON") from exc
    _check(value)
    return value
