"""The contact rules: may this business send this message now?

:func:`check_contact` is the pure decision (injectable time, no I/O). Checks
run in a fixed order, and the first failure is the answer:

1. ``blocked`` — the owner blocked this business;
2. ``category_refused`` — the grant's terms have no cap for the category
   (a category without a cap is not allowed);
3. ``quiet_hours`` — now falls in the terms' quiet hours;
4. ``cap_exceeded`` — the category's cap is used up in its sliding window
   (``max_messages`` accepted in the last ``period_days``).

*Muting* is not a refusal: a muted business's messages are accepted, kept,
counted against its caps, and hidden from the inbox until the owner unmutes
it. The owner mutes a whole business or single categories
(``muted_categories``). Whether the business *learns* of a mute, or of a read,
is the owner's choice per business (decision D43): ``share_mutes`` (on by
default: a business told of a mute stops sending) and ``share_reads`` (off by
default: a read receipt is a leak unless chosen). The signals themselves are
queued by :mod:`vault.services.contact_yield`, through :attr:`ContactBook.signals`.

:class:`ContactBook` keeps, sealed in the store, the owner's mute/block
choices and each business's contact history (accepted timestamps per
category, refusals per code) that the caps and the per-business report use.
A grant with the ``contact`` action but no terms gets :data:`DEFAULT_POLICY`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol import (
    AccessDenied,
    ContactCategory,
    ContactPolicy,
    ErrorCode,
    canonical_dumps,
    canonical_loads,
)
from protocol.clock import DAY_MS
from vault.store.jsonform import JsonRecord
from vault.store.vault import Vault

__all__ = [
    "DEFAULT_POLICY",
    "ContactBook",
    "ContactHistory",
    "check_contact",
]

#: Terms for a contact grant that states none: inbox only, service messages, 4 per 30 days.
DEFAULT_POLICY = ContactPolicy.of([("service", 4, 30)])
PREF_KIND = "contact.pref"
HISTORY_KIND = "contact.hist"
#: Refusals remembered per business (for the owner's report).
MAX_REFUSALS_KEPT = 200

log = logging.getLogger(__name__)

#: The owner's choices for a business nobody set anything for (D43).
DEFAULT_PREFS: dict[str, Any] = {
    "muted": False,
    "blocked": False,
    "muted_categories": [],
    "share_reads": False,
    "share_mutes": True,
}


def _prefs_of(data: dict[str, Any]) -> dict[str, Any]:
    cats = data.get("muted_categories", [])
    known = {c.value for c in ContactCategory}
    return {
        "muted": bool(data.get("muted", False)),
        "blocked": bool(data.get("blocked", False)),
        "muted_categories": sorted({str(c) for c in cats if c in known}),
        "share_reads": bool(data.get("share_reads", False)),
        "share_mutes": bool(data.get("share_mutes", True)),
    }


def check_contact(
    policy: ContactPolicy,
    category: ContactCategory | str,
    accepted_at: Iterable[int],
    now_ms: int,
    *,
    blocked: bool = False,
) -> None:
    """Raise :class:`~protocol.AccessDenied` (with the rule's code) if the message is refused.

    ``accepted_at`` holds the times of this business's accepted messages in ``category``.
    """
    if blocked:
        raise AccessDenied("the owner blocked this business", code=ErrorCode.BLOCKED)
    cap = policy.cap_for(category)
    if cap is None:
        raise AccessDenied(
            f"the owner does not accept {ContactCategory(category).value} messages",
            code=ErrorCode.CATEGORY_REFUSED,
        )
    if policy.quiet_hours is not None and policy.quiet_hours.contains(now_ms):
        raise AccessDenied("quiet hours: try again later", code=ErrorCode.QUIET_HOURS)
    since = now_ms - cap.period_days * DAY_MS
    used = sum(1 for ts in accepted_at if since < ts <= now_ms)
    if used >= cap.max_messages:
        raise AccessDenied(
            f"cap used up: {cap.max_messages} {cap.category.value} per {cap.period_days} days",
            code=ErrorCode.CAP_EXCEEDED,
        )


@dataclass
class ContactHistory(JsonRecord):
    """One business's contact history, as kept (sealed) by the vault."""

    accepted: dict[str, list[int]] = field(default_factory=dict)  # category -> times
    refused: dict[str, int] = field(default_factory=dict)  # code -> count
    recent_refusals: list[dict[str, Any]] = field(default_factory=list)


class ContactBook:
    """Mute/block choices and contact histories, per business (sealed records)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        #: Told ``(peer, before, after)`` when the owner's choices change (D43 signals).
        self.signals: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None

    # -- the owner's choices ----------------------------------------------------------------

    def prefs(self, peer: str) -> dict[str, Any]:
        """``muted``, ``blocked``, ``muted_categories``, ``share_reads``, ``share_mutes``."""
        raw = self.vault.store.get(PREF_KIND, peer)
        return _prefs_of(canonical_loads(raw) if raw is not None else {})

    def is_muted(self, peer: str, category: str) -> bool:
        """The owner muted the business, or this category of it."""
        prefs = self.prefs(peer)
        return bool(prefs["muted"]) or category in prefs["muted_categories"]

    def set_pref(
        self,
        peer: str,
        *,
        muted: bool | None = None,
        blocked: bool | None = None,
        muted_categories: Iterable[str] | None = None,
        share_reads: bool | None = None,
        share_mutes: bool | None = None,
    ) -> dict[str, Any]:
        """Mute/unmute, block/unblock a business, choose what it is told (audited)."""
        before = self.prefs(peer)
        cur = dict(before)
        given = {
            "muted": muted,
            "blocked": blocked,
            "share_reads": share_reads,
            "share_mutes": share_mutes,
        }
        cur.update({k: v for k, v in given.items() if v is not None})
        if muted_categories is not None:
            cur["muted_categories"] = sorted({ContactCategory(c).value for c in muted_categories})
        with self.vault.transaction():
            self.vault.store.put(PREF_KIND, peer, canonical_dumps(cur))
            self.vault.audit.append("contact.prefs", {"requester": peer, **cur})
        if self.signals is not None and cur != before:
            try:
                self.signals(peer, before, cur)
            except Exception:  # the owner's choice stands even if the signal cannot be queued
                log.exception("could not queue the contact signal for %s", peer)
        return cur

    def all_prefs(self) -> dict[str, dict[str, Any]]:
        return {
            name: _prefs_of(canonical_loads(raw)) for name, raw in self.vault.store.items(PREF_KIND)
        }

    # -- history ----------------------------------------------------------------------------

    def history(self, peer: str) -> ContactHistory:
        raw = self.vault.store.get(HISTORY_KIND, peer)
        return ContactHistory() if raw is None else ContactHistory.from_json(canonical_loads(raw))

    def histories(self) -> dict[str, ContactHistory]:
        return {
            name: ContactHistory.from_json(canonical_loads(raw))
            for name, raw in self.vault.store.items(HISTORY_KIND)
        }

    def _put(self, peer: str, hist: ContactHistory) -> None:
        self.vault.store.put(HISTORY_KIND, peer, canonical_dumps(hist.to_json()))

    def record_accepted(self, peer: str, category: str, at: int, *, keep_ms: int) -> None:
        """Count an accepted message (call inside the transaction that stores it)."""
        hist = self.history(peer)
        times = [t for t in hist.accepted.get(category, []) if t > at - keep_ms]
        hist.accepted[category] = [*times, at]
        self._put(peer, hist)

    def record_refused(self, peer: str, category: str, code: str, at: int) -> None:
        hist = self.history(peer)
        hist.refused[code] = hist.refused.get(code, 0) + 1
        hist.recent_refusals = [
            *hist.recent_refusals,
            {"at": at, "category": category, "code": code},
        ][-MAX_REFUSALS_KEPT:]
        self._put(peer, hist)
