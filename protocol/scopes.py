"""Field paths and scopes: *which* fields a grant covers and *what* may be done with them.

A **field path** is dotted and lower-case: ``contact.email``, ``address.home.city``.
Each segment is ``[a-z0-9_]+``; a path has at most
:data:`~protocol.limits.MAX_PATH_DEPTH` segments and
:data:`~protocol.limits.MAX_PATH_LENGTH` characters.

A **field pattern** is a path (exactly that field) or a path followed by ``.*``
(every field strictly below it: ``address.*`` covers ``address.city`` and
``address.home.city`` but not ``address`` itself). There is no bare ``*``: a
requester must name what it wants.

A **scope** is a set of field patterns plus the allowed actions (``read``,
``subscribe``, ``contact``). On the wire both lists are sorted and free of
duplicates, so that a scope has one encoding and one signature; build scopes
with :meth:`Scope.of`, which normalises.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from . import limits
from ._exceptions import ErrorCode, KluisError
from .wire import WireModel

__all__ = [
    "Action",
    "FieldPath",
    "FieldPattern",
    "Scope",
    "ScopeError",
    "is_subset",
    "is_valid_path",
    "is_valid_pattern",
    "narrow",
    "path_in_scope",
    "pattern_covers",
    "select_paths",
]

_SEG = r"[a-z0-9_]+"
_DEPTH = limits.MAX_PATH_DEPTH - 1
_PATH_RE = rf"^{_SEG}(?:\.{_SEG}){{0,{_DEPTH}}}$"
_PATTERN_RE = rf"^{_SEG}(?:\.{_SEG}){{0,{_DEPTH}}}(?:\.\*)?$"
_PATH = re.compile(_PATH_RE.removesuffix("$"))
_PATTERN = re.compile(_PATTERN_RE.removesuffix("$"))
SUBTREE = ".*"

#: A dotted field path, e.g. ``address.home.city``.
FieldPath = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.MAX_PATH_LENGTH, pattern=_PATH_RE)
]
#: A field path, or a subtree ``address.*``.
FieldPattern = Annotated[
    str,
    StringConstraints(min_length=1, max_length=limits.MAX_PATH_LENGTH + 2, pattern=_PATTERN_RE),
]


class ScopeError(KluisError):
    """A scope or grant would exceed what was asked for, or a path is not valid."""

    code = ErrorCode.OUT_OF_SCOPE


class Action(StrEnum):
    """What a grant allows on its fields."""

    READ = "read"
    SUBSCRIBE = "subscribe"
    CONTACT = "contact"


def is_valid_path(path: object) -> bool:
    """True for a well-formed field path (no wildcard)."""
    return (
        isinstance(path, str)
        and len(path) <= limits.MAX_PATH_LENGTH
        and _PATH.fullmatch(path) is not None
    )


def is_valid_pattern(pattern: object) -> bool:
    """True for a well-formed field pattern (path or ``path.*``)."""
    return (
        isinstance(pattern, str)
        and len(pattern.removesuffix(SUBTREE)) <= limits.MAX_PATH_LENGTH
        and _PATTERN.fullmatch(pattern) is not None
    )


class Scope(WireModel):
    """Field patterns plus allowed actions. Both tuples are sorted and unique."""

    fields: tuple[FieldPattern, ...] = Field(min_length=1, max_length=limits.MAX_FIELDS_PER_SCOPE)
    actions: tuple[Action, ...] = Field(min_length=1, max_length=len(Action))

    @model_validator(mode="after")
    def _canonical(self) -> Scope:
        if list(self.fields) != sorted(set(self.fields)):
            raise ValueError("scope fields must be sorted and unique (use Scope.of)")
        if list(self.actions) != sorted(set(self.actions)):
            raise ValueError("scope actions must be sorted and unique (use Scope.of)")
        return self

    @classmethod
    def of(cls, fields: Iterable[str], actions: Iterable[str | Action] = (Action.READ,)) -> Scope:
        """Build a scope from any iterable of patterns and actions, normalising order."""
        return cls(
            fields=tuple(sorted(set(fields))),
            actions=tuple(sorted({Action(a) for a in actions})),
        )


@functools.lru_cache(maxsize=16_384)
def pattern_covers(outer: str, inner: str) -> bool:
    """True if every field matched by pattern ``inner`` is matched by pattern ``outer``.

    Pure, and on the hot path of every scoped read (fields x patterns calls), so
    it is memoised; the cache is bounded because peers choose ``inner``.
    """
    if not (is_valid_pattern(outer) and is_valid_pattern(inner)):
        return False
    if not outer.endswith(SUBTREE):
        return inner == outer
    base = outer.removesuffix(SUBTREE)
    inner_base = inner.removesuffix(SUBTREE)
    return inner_base.startswith(base + ".") or (inner.endswith(SUBTREE) and inner_base == base)


def _covered(pattern: str, patterns: Iterable[str]) -> bool:
    return any(pattern_covers(outer, pattern) for outer in patterns)


def path_in_scope(path: str, scope: Scope) -> bool:
    """True if the field ``path`` (or pattern) lies inside ``scope``'s fields."""
    return _covered(path, scope.fields)


def is_subset(a: Scope, b: Scope) -> bool:
    """True if scope ``a`` allows nothing that ``b`` does not."""
    return set(a.actions) <= set(b.actions) and all(_covered(f, b.fields) for f in a.fields)


def narrow(
    scope: Scope, fields: Iterable[str], actions: Iterable[str | Action] | None = None
) -> Scope:
    """The owner's narrowing of ``scope``: only ``fields`` (and ``actions``).

    Every pattern must already be covered by ``scope``, and every action allowed
    by it; narrowing can only take away. Raises :class:`ScopeError` otherwise.
    """
    wanted = list(fields)
    if not wanted:
        raise ScopeError("a narrowed scope needs at least one field")
    for pattern in wanted:
        if not is_valid_pattern(pattern):
            raise ScopeError("not a valid field pattern")
        if not _covered(pattern, scope.fields):
            raise ScopeError(f"{pattern} is not in the requested scope")
    acts = scope.actions if actions is None else tuple(Action(a) for a in actions)
    if not acts or not set(acts) <= set(scope.actions):
        raise ScopeError("narrowing may only keep requested actions")
    return Scope.of(wanted, acts)


def select_paths(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The concrete field ``paths`` matched by any of ``patterns``, in input order."""
    pats = list(patterns)
    return [p for p in paths if is_valid_path(p) and _covered(p, pats)]
