"""Canonical JSON: the one byte encoding that every signature covers.

Sorted keys, no insignificant whitespace, UTF-8, **no floats** (money is
integer cents, time is integer milliseconds) and integers within ±(2**53 - 1).
Two nodes that agree on a value produce the same bytes, so a signature made by
one verifies at the other.

Over the values we allow this is exactly RFC 8785, the JSON Canonicalization
Scheme (``tests/protocol/test_canonical.py`` checks it against the ``rfc8785``
package), so a peer in any language can use a JCS library. Two rules make
that true:

* **Integers** stay within what an IEEE-754 double holds exactly, the range
  JCS (and a JavaScript peer) can write as an integer. Enforced here, for every
  value encoded or decoded, not only by the message models.
* **Keys** sort by their UTF-16 code units, as JCS says. That differs from
  Python's code-point order only when a key holds a character above U+FFFF, so
  only text holding such a character (rare) takes a slower path; all other
  text is sorted by ``json``.

We use the standard library's ``json`` with strict settings rather than a
home-made serialiser; this module only forbids what JSON allows but signatures
must not depend on (floats, NaN, big integers, lone surrogates, non-string
keys, duplicate keys on decode).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._exceptions import MalformedFrame

__all__ = ["CanonicalError", "canonical_dumps", "canonical_loads"]

#: Deepest nesting accepted on decode; protects the parser from a hostile peer.
MAX_DEPTH = 32
#: Largest integer magnitude: 2**53 - 1, the largest every peer (a JavaScript one
#: too) holds exactly. Re-exported as :data:`protocol.limits.MAX_INT`.
MAX_INT = 2**53 - 1


class CanonicalError(MalformedFrame):
    """A value that has no canonical encoding, or bytes that are not canonical JSON."""


_LEAVES = (str, bool, type(None))  # int is a leaf too, once its size is checked


def _too_big() -> CanonicalError:
    # Not the number itself: it may be personal, or a peer's 4,000 digits.
    return CanonicalError("an integer is outside ±(2**53 - 1)")


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise CanonicalError("value nested too deeply")
    kind = type(value)
    # Exact-type fast paths first: isinstance against the Mapping/Sequence ABCs is
    # slow, and this runs over every value that is signed or sent.
    if kind in _LEAVES:
        return
    if kind is int:
        if -MAX_INT <= value <= MAX_INT:
            return
        raise _too_big()
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise CanonicalError("object keys must be strings")
            sub = type(item)
            if sub is int:
                if not -MAX_INT <= item <= MAX_INT:
                    raise _too_big()
            elif sub not in _LEAVES:
                _check(item, depth + 1)
        return
    if kind is list or kind is tuple:
        for item in value:
            sub = type(item)
            if sub is int:
                if not -MAX_INT <= item <= MAX_INT:
                    raise _too_big()
            elif sub not in _LEAVES:
                _check(item, depth + 1)
        return
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):  # an IntEnum, say
        if -MAX_INT <= value <= MAX_INT:
            return
        raise _too_big()
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


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")  # byte order = code-unit order


def _in_utf16_order(value: Any) -> Any:
    """``value`` with every object's keys in UTF-16 code-unit order (RFC 8785, 3.2.3)."""
    if isinstance(value, Mapping):
        return {key: _in_utf16_order(value[key]) for key in sorted(value, key=_utf16)}
    if isinstance(value, list | tuple):
        return [_in_utf16_order(item) for item in value]
    return value


def _dumps(value: Any, *, sort_keys: bool) -> str:
    return json.dumps(
        value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_dumps(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes. Raises :class:`CanonicalError`."""
    _check(value)
    text = _dumps(value, sort_keys=True)
    if not text.isascii() and max(text) > "\uffff":
        # A character above U+FFFF somewhere; if it is in a key, code-point order
        # and UTF-16 order may differ. Rare, so the re-sort is paid only here.
        text = _dumps(_in_utf16_order(value), sort_keys=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("text holds a lone surrogate; it is not Unicode") from exc


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
