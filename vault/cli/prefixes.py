"""Unique id prefixes, as git takes them: ``kluis approve 3f9a`` for ``3f9a0c…``.

Tables show each id cut to the shortest length (at least :data:`MIN_SHOWN`)
that keeps every id in the table unique, so they stay readable at 80 columns;
``--json`` always has the full ids. A command given an id looks it up among
the ids of its kind: an exact id or a unique prefix (at least
:data:`MIN_PREFIX` characters) is taken; an ambiguous prefix is a one-line
error listing the candidates; an unknown one goes to the node as given, which
says it does not know it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from vault._exceptions import VaultError

__all__ = ["MIN_PREFIX", "MIN_SHOWN", "AmbiguousId", "resolve", "shortener"]

MIN_PREFIX = 4
MIN_SHOWN = 8
_LISTED = 5  # candidates named in the error


class AmbiguousId(VaultError):
    """An id prefix matches more than one id."""


def resolve(kind: str, given: str, known: Iterable[str]) -> str:
    """The one id in ``known`` that is ``given`` or starts with it; ``given`` if none does."""
    ids = list(dict.fromkeys(known))
    if given in ids or len(given) < MIN_PREFIX:
        return given
    matches = [i for i in ids if i.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:_LISTED]) + (", …" if len(matches) > _LISTED else "")
        raise AmbiguousId(f"{kind} id {given!r} is ambiguous: {len(matches)} match ({shown})")
    return given


def shortener(ids: Sequence[str]) -> Callable[[str], str]:
    """Cut ids to the shortest length (at least :data:`MIN_SHOWN`) that keeps ``ids`` unique."""
    unique = set(ids)
    longest = max((len(i) for i in unique), default=MIN_SHOWN)
    width = MIN_SHOWN
    while width < longest and len({i[:width] for i in unique}) < len(unique):
        width += 1
    return lambda full: full[:width]
