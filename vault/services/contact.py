"""The contact rules: may this business send this message now?

:func:`check_contact` is the pure decision (injectable time, no I/O). Checks
run in a fixed order, and the first failure is the answer:

1. ``blocked`` — the owner blocked this business;
2. ``category_refused`` — the grant's terms have no cap for the category
   (a category without a cap is not allowed);
3. ``quiet_hours`` — now falls in the terms' quiet hours;
4. ``cap_exceeded`` — the category's cap is used up in its sliding window
   (``max_messages`` accepted in the last ``period_days``).

*Muting* is not a refusal: a muted business's messages are accepted (it does
not learn it is muted), kept, counted against its caps, and hidden from the
inbox until the owner unmutes it.

:class:`ContactBook` keeps, sealed in the store, the owner's mute/block
choices and each business's contact history (accepted timestamps per
category, refusals per code) that the caps and the per-business report use.
A grant with the ``contact`` action but no terms gets :data:`DEFAULT_POLICY`.
"""

from __future__ import annotations

from collections.abc import Iterable
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

    # -- the owner's choices ----------------------------------------------------------------

    def prefs(self, peer: str) -> dict[str, bool]:
        raw = self.vault.store.get(PREF_KIND, peer)
        data = canonical_loads(raw) if raw is not None else {}
        return {
            "muted": bool(data.get("muted", False)),
            "blocked": bool(data.get("blocked", False)),
        }

    def set_pref(
        self, peer: str, *, muted: bool | None = None, blocked: bool | None = None
    ) -> None:
        """Mute/unmute, block/unblock a business (audited)."""
        cur = self.prefs(peer)
        if muted is not None:
            cur["muted"] = muted
        if blocked is not None:
            cur["blocked"] = blocked
        with self.vault.transaction():
            self.vault.store.put(PREF_KIND, peer, canonical_dumps(cur))
            self.vault.audit.append("contact.prefs", {"requester": peer, **cur})

    def all_prefs(self) -> dict[str, dict[str, bool]]:
        return {
            name: {
                "muted": bool(canonical_loads(raw).get("muted")),
                "blocked": bool(canonical_loads(raw).get("blocked")),
            }
            for name, raw in self.vault.store.items(PREF_KIND)
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
