"""Time: integer milliseconds since the Unix epoch, read from one clock and written one way.

Every time kluis signs, stores or compares is an ``int`` of milliseconds (JSON
has no exact floats; see :mod:`protocol.canonical`). Code that needs "now"
takes a :data:`Clock` and defaults to :func:`now_ms`, so tests inject time and
never sleep. :func:`format_ms` is the one place where such a time becomes text,
always in UTC, so that a receipt or a table reads the same on every machine;
the formats the CLI, the dashboard and the receipts need are named here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, TypeAlias

__all__ = [
    "DAY_MONTH",
    "DAY_MS",
    "ISO",
    "MINUTE",
    "MINUTE_UTC",
    "SECOND",
    "Clock",
    "format_ms",
    "now_ms",
]

#: A clock returns the current time in integer milliseconds since the epoch.
Clock: TypeAlias = Callable[[], int]
#: A day in milliseconds. Durations (grants, caps, deadlines) count 24-hour days,
#: not calendar days: no time zone or DST changes their length.
DAY_MS: Final = 86_400_000

#: ``2025-01-01 09:30``: a table cell.
MINUTE = "%Y-%m-%d %H:%M"
#: ``2025-01-01 09:30 UTC``: a time in a sentence or on a page.
MINUTE_UTC = "%Y-%m-%d %H:%M UTC"
#: ``2025-01-01 09:30:15``: audit entries and field versions, where seconds tell events apart.
SECOND = "%Y-%m-%d %H:%M:%S"
#: ``2025-01-01T09:30:15Z``: RFC 3339, for receipts and machine-readable markup.
ISO = "%Y-%m-%dT%H:%M:%SZ"
#: ``01 Jan``: a day on a chart's axis.
DAY_MONTH = "%d %b"


def now_ms() -> int:
    """The system's wall clock, in integer milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def format_ms(ms: int | None, fmt: str = MINUTE, *, missing: str = "") -> str:
    """``ms`` as UTC text in ``fmt`` (a :meth:`~datetime.datetime.strftime` format).

    Sub-second digits are dropped, never rounded up. ``None`` (no such time:
    never read, not confirmed yet) becomes ``missing``.
    """
    if ms is None:
        return missing
    return datetime.fromtimestamp(ms // 1000, UTC).strftime(fmt)
