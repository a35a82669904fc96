"""Wall-clock time on the network side, and how long a deal may take to close.

Intent deadlines are wall-clock milliseconds (they cross machines), unlike the
session's own monotonic clock. The wall clock is the one of :mod:`protocol.clock`.
"""

from __future__ import annotations

from protocol.clock import now_ms as wall_ms

__all__ = ["DEAL_TIMEOUT_S", "wall_ms"]

#: How long the agent waits for the winner's ``deal_sign``, and a business for the award.
DEAL_TIMEOUT_S = 10.0
