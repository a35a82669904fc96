"""Refusals of strangers, counted instead of written one by one (issue 13 §1, decision D32).

A *stranger* is a peer that holds no grant and has no pending request: nothing
it sends can be served, and each refusal would otherwise be one audit entry
(about 1 KB, sealed, signed). Four such peers sending junk produced 371
entries a second. So a stranger's refusals are tallied per **window**
(:data:`WINDOW_MS`): the window's one ``access.refused`` entry carries the
first refusal's code, reason and message type, the ``count`` of refusals in
the window and a ``codes`` histogram. It is written when the window has ended
(noticed at the next frame the vault handles, from any peer) or when the
service stops.

The set of strangers tracked is bounded (:data:`MAX_TRACKED`). A stranger that
arrives while the table is full is counted in one shared *overflow* tally
(``peer = "*"``, with the number of distinct peers seen, capped), so the bound
on what a flood can add to the log does not depend on how many peer ids the
attacker makes:

    at most ``MAX_TRACKED + 1`` entries per ``WINDOW_MS``

i.e. 257 entries per 5 minutes, 74,016 a day, about 70 MB a day at 1 KB each,
against 30 GB a day before (docs/threat-model.md). A crash loses the counts of
the windows still open; nothing a stranger did is ever served, so that is a
lost count, never a lost access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["MAX_TRACKED", "WINDOW_MS", "RefusalTally"]

#: Length of one aggregation window, in ms.
WINDOW_MS: Final = 5 * 60 * 1000
#: Strangers tracked at once; more share the overflow tally.
MAX_TRACKED: Final = 256
#: Distinct peers the overflow tally remembers (to report how many there were).
MAX_OVERFLOW_PEERS: Final = 4096
OVERFLOW_PEER: Final = "*"


@dataclass(slots=True)
class _Tally:
    started: int
    code: str
    reason: str
    message_type: str | None
    ref: str | None
    count: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    peers: set[str] = field(default_factory=set)  # the overflow tally only

    def add(self, code: str) -> None:
        self.count += 1
        self.codes[code] = self.codes.get(code, 0) + 1


class RefusalTally:
    """Per-stranger refusal counts per window, written as one audit entry each.

    ``write`` receives the details of one ``access.refused`` entry; the caller
    appends it (and swallows storage errors: a count must never break serving).
    """

    def __init__(
        self,
        write: Callable[[dict[str, Any]], None],
        *,
        window_ms: int = WINDOW_MS,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self._write = write
        self.window_ms = window_ms
        self.max_tracked = max_tracked
        self._tallies: dict[str, _Tally] = {}  # insertion order == window start order
        self._overflow: _Tally | None = None

    def __len__(self) -> int:
        return len(self._tallies)

    def note(
        self,
        peer: str,
        code: str,
        reason: str,
        message_type: str | None,
        ref: str | None,
        now: int,
    ) -> None:
        """Count one refusal of ``peer`` (a stranger) at ``now`` (ms)."""
        self.flush_due(now)
        tally = self._tallies.get(peer)
        if tally is None:
            if len(self._tallies) < self.max_tracked:
                tally = self._tallies[peer] = _Tally(now, code, reason, message_type, ref)
            else:
                if self._overflow is None:
                    self._overflow = _Tally(now, code, reason, message_type, ref)
                tally = self._overflow
                if len(tally.peers) < MAX_OVERFLOW_PEERS:
                    tally.peers.add(peer)
        tally.add(code)

    def flush_due(self, now: int) -> None:
        """Write every tally whose window has ended. O(1) when none has."""
        while self._tallies:
            peer, tally = next(iter(self._tallies.items()))
            if now - tally.started < self.window_ms:
                break
            del self._tallies[peer]
            self._emit(peer, tally, now)
        if self._overflow is not None and now - self._overflow.started >= self.window_ms:
            overflow, self._overflow = self._overflow, None
            self._emit(OVERFLOW_PEER, overflow, now)

    def flush_all(self, now: int) -> None:
        """Write every open tally (the service is stopping)."""
        tallies, self._tallies = self._tallies, {}
        for peer, tally in tallies.items():
            self._emit(peer, tally, now)
        if self._overflow is not None:
            overflow, self._overflow = self._overflow, None
            self._emit(OVERFLOW_PEER, overflow, now)

    def _emit(self, peer: str, tally: _Tally, now: int) -> None:
        details: dict[str, Any] = {
            "peer": peer,
            "code": tally.code,
            "reason": tally.reason,
            "message_type": tally.message_type,
            "ref": tally.ref,
            "count": tally.count,
            "codes": dict(sorted(tally.codes.items())),
            "first_at": tally.started,
            "window_ms": self.window_ms,
        }
        if peer == OVERFLOW_PEER:
            details["peers"] = len(tally.peers)
        self._write(details)
