"""How the CLI prints: one console each for stdout and stderr, JSON and peer ids.

Peer-supplied text is printed with ``markup=False`` (or escaped) wherever it appears."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

__all__ = ["business_text", "emit_json", "short_peer", "stderr", "stdout"]


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def short_peer(peer: str) -> str:
    return peer if len(peer) <= 16 else f"{peer[:8]}…{peer[-6:]}"


def business_text(view: dict[str, Any] | None, peer: str) -> Any:
    """Who a business is, for a table cell: its label (``Name (verified: domain)``) as
    plain :class:`rich.text.Text`, so markup in a name a peer chose is shown, not run."""
    from rich.text import Text

    return Text(view["text"] if view else short_peer(peer))
