"""kluis's opponent model: frequency analysis, updated one bid at a time.

As in ANAC 2011's HardHeaded and its heirs (van Krimpen et al., 2013):

* **Value preference** — a value the opponent proposes often is one it likes;
  an issue's score for value ``v`` is ``count(v) / max count``.
* **Issue weight** — an issue whose value the opponent does *not* change
  between consecutive bids is one it cares about; each time it stays put its
  weight gains ``learning_rate``.

Everything is incremental: :meth:`FrequencyModel.update` costs one step per
issue, and :meth:`FrequencyModel.estimate` one per issue, with no pass over the
history or the counts (the maxima and the weight total are kept up to date).
The estimate is crude, but it only has to rank bids that are all equally good
for us; that is where it pays off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .domain import Bid, IssueValue

__all__ = ["FrequencyModel"]


class FrequencyModel:
    """Estimated opponent utility in ``[0, 1]``. See the module docstring."""

    def __init__(self, issues: Sequence[str], learning_rate: float = 0.2) -> None:
        self.issues = tuple(issues)
        self.learning_rate = learning_rate
        self.counts: dict[str, Counter[IssueValue]] = {i: Counter() for i in self.issues}
        self._top: dict[str, int] = dict.fromkeys(self.issues, 1)
        self._raw: dict[str, float] = dict.fromkeys(self.issues, 1.0)
        self._total = float(len(self.issues))
        self.seen = 0
        self._last: Bid | None = None

    @property
    def weights(self) -> dict[str, float]:
        """The estimated issue weights, summing to 1."""
        return {i: w / self._total for i, w in self._raw.items()}

    def update(self, bid: Bid) -> None:
        last = self._last
        for issue in self.issues:
            value = bid[issue]
            counts = self.counts[issue]
            n = counts[value] + 1
            counts[value] = n
            if n > self._top[issue]:
                self._top[issue] = n
            if last is not None and value == last[issue]:
                self._raw[issue] += self.learning_rate
                self._total += self.learning_rate
        self._last = bid
        self.seen += 1

    def estimate(self, bid: Bid) -> float:
        """Estimated opponent utility of ``bid`` in ``[0, 1]`` (0 before any bid)."""
        if self.seen == 0:
            return 0.0
        total = 0.0
        for issue in self.issues:
            total += self._raw[issue] * self.counts[issue].get(bid[issue], 0) / self._top[issue]
        return total / self._total
