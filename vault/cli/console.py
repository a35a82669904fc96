"""How the CLI prints: one console each for stdout and stderr, JSON and peer ids.

Every string that came from a peer (offers, purposes, reasons, inbox subjects and
bodies, business names) is hostile. It reaches rich only as :func:`inert` text:
a :class:`rich.text.Text` (never parsed as markup, so ``[/bold]`` cannot crash a
table and ``[link=...]`` cannot make a hyperlink) with control and format
characters shown as ``\\x1b``/``\\u202e`` escapes (so ESC cannot drive the
terminal and U+202E cannot reorder the line). The consoles also default to
``markup=False``, so a plain ``str`` that slips through is printed as it is."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from protocol.confusables import visible

if TYPE_CHECKING:  # rich is imported where used: `kluis get` prints plain text
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "business_text",
    "emit_json",
    "inert",
    "note",
    "short_peer",
    "stderr",
    "stdout",
]


def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@contextlib.contextmanager
def note(message: str) -> Iterator[None]:
    """``message`` on stderr while a short wait runs (an unlock), erased afterwards.

    Only on a terminal, like rich's spinner, but without importing rich: the
    unlock is a tenth of a second or so, and ``kluis get`` should not spend a
    quarter of that loading a spinner (issue 14 §2)."""
    err = sys.stderr
    shown = err.isatty()
    if shown:
        err.write(message)
        err.flush()
    try:
        yield
    finally:
        if shown:
            err.write("\r\x1b[K")  # back to the line's start, and clear it
            err.flush()


def inert(value: object) -> Text:
    """``value`` as plain rich text for a table cell or a line: no markup is parsed,
    and control and format characters are shown escaped instead of acting.

    The protocol refuses such characters at the boundary already
    (:func:`protocol.confusables.check_text`); this is the second wall, for text
    stored before that check or arriving through a path that skips it."""
    from rich.text import Text

    if isinstance(value, Text):
        value = value.plain
    return Text(visible(str(value)))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def short_peer(peer: str) -> str:
    return peer if len(peer) <= 16 else f"{peer[:8]}…{peer[-6:]}"


def business_text(view: dict[str, Any] | None, peer: str) -> Any:
    """Who a business is, for a table cell: its label (``Name (verified: domain)``) as
    plain :class:`rich.text.Text`, so markup in a name a peer chose is shown, not run."""
    return inert(view["text"] if view else short_peer(peer))
