"""Contact yield per mailing, as the business can see it.

A business knows what it sent and what each vault refused (``blocked``,
``cap_exceeded``, ``quiet_hours``, ``category_refused``: the vault's own codes).
Whether a customer *read* or *muted* a message is known only to the customer's
vault; the counts shown here are the ones a business can measure itself
(decision D30 in docs/architecture.md). The counts live in memory while the
node runs: they are figures for the dashboard, not records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vault.requester import Requester

__all__ = ["MAX_MAILINGS", "MailingBook", "MailingYield"]

#: Mailings counted at most (the oldest is dropped first).
MAX_MAILINGS = 500
NO_MAILING = "(no mailing)"


@dataclass
class MailingYield:
    mailing_id: str
    sent: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    first_at: int = 0
    last_at: int = 0


class MailingBook:
    def __init__(self, biz: Requester) -> None:
        self.biz = biz
        self._mailings: dict[str, MailingYield] = {}

    def _row(self, mailing_id: str | None) -> MailingYield:
        key = mailing_id or NO_MAILING
        row = self._mailings.get(key)
        if row is None:
            if len(self._mailings) >= MAX_MAILINGS:
                del self._mailings[next(iter(self._mailings))]
            row = self._mailings[key] = MailingYield(key, first_at=self.biz.now())
        row.last_at = self.biz.now()
        return row

    def sent(self, mailing_id: str | None, message_id: str, grant_id: str) -> None:
        self._row(mailing_id).sent += 1

    def refused(self, mailing_id: str | None, code: str) -> None:
        self._row(mailing_id).refused[code] += 1

    def yields(self) -> list[MailingYield]:
        return list(self._mailings.values())
