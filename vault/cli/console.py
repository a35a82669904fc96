"""How the CLI prints: one console each for stdout and stderr, JSON, times and peer ids.

Peer-supplied text is printed with ``markup=False`` (or escaped) wherever it appears."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

__all__ = ["business_text", "emit_json", "short_peer", "stderr", "stdout", "when"]


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def when(ms: int | None, *, seconds: bool = False) -> str:
    """A millisecond timestamp as UTC text for a table ("" for none)."""
    if ms is None:
        return ""
    import datetime as dt

    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime(fmt)


def short_peer(peer: str) -> str:
    return peer if len(peer) <= 16 else f"{peer[:8]}…{peer[-6:]}"


def business_text(view: dict[str, Any] | None, peer: str) -> Any:
    """Who a business is, for a table cell: its label (``Name (verified: domain)``) as
    plain :class:`rich.text.Text`, so markup in a name a peer chose is shown, not run."""
    from rich.text import Text

    return Text(view["text"] if view else short_peer(peer))
