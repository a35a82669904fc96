"""The opponent model the pool's modelling agents share: HardHeaded's frequency model.

After van Krimpen, Looije & Hajizadeh, "HardHeaded" (ANAC 2011 winner; in
*Complex Automated Negotiations*, Springer 2013): a value the opponent proposes
often is one it likes; an issue whose value it keeps unchanged between
consecutive bids is one it cares about (its weight gains ``learning_rate``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..domain import Bid, IssueValue

__all__ = ["OpponentFrequencies"]


class OpponentFrequencies:
    """Estimated opponent utility in ``[0, 1]``, updated one bid at a time."""

    def __init__(self, issues: Sequence[str], learning_rate: float = 0.2) -> None:
        self.issues = tuple(issues)
        self.learning_rate = learning_rate
        self.counts: dict[str, Counter[IssueValue]] = {i: Counter() for i in self.issues}
        self.top: dict[str, int] = dict.fromkeys(self.issues, 1)
        self.raw: dict[str, float] = dict.fromkeys(self.issues, 1.0)
        self.total = float(len(self.issues))
        self.seen = 0
        self._last: Bid | None = None

    def update(self, bid: Bid) -> None:
        for issue in self.issues:
            c = self.counts[issue]
            c[bid[issue]] += 1
            if c[bid[issue]] > self.top[issue]:
                self.top[issue] = c[bid[issue]]
            if self._last is not None and bid[issue] == self._last[issue]:
                self.raw[issue] += self.learning_rate
                self.total += self.learning_rate
        self._last = bid
        self.seen += 1

    def estimate(self, bid: Bid) -> float:
        if self.seen == 0:
            return 0.0
        return (
            sum(self.raw[i] * self.counts[i].get(bid[i], 0) / self.top[i] for i in self.issues)
            / self.total
        )
