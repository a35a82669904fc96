"""Wall-clock time on the network side, and how long a deal may take to close.

Intent deadlines are wall-clock milliseconds (they cross machines), unlike the
session's own monotonic clock.
"""

from __future__ import annotations

import time

__all__ = ["DEAL_TIMEOUT_S", "wall_ms"]

#: How long the agent waits for the winner's ``deal_sign``, and a business for the award.
DEAL_TIMEOUT_S = 10.0


def wall_ms() -> int:
    """Wall-clock time in integer milliseconds (intent deadlines are wall-clock)."""
    return int(time.time() * 1000)
