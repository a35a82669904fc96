"""Contact terms: how, how often and when a business may contact the owner.

A grant whose scope allows the ``contact`` action carries a
:class:`ContactPolicy` (``Grant.contact``). A business proposes one in its
:class:`~protocol.AccessRequest` (``contact``); the owner may only narrow it
(fewer channels, fewer categories, lower caps, longer periods, quiet hours).

* **channels** — where messages may arrive: the vault ``inbox`` always; where
  the owner allows it, the profile's ``email`` or ``phone`` (released only for
  this purpose).
* **caps** — one :class:`CategoryCap` per allowed category (``service``,
  ``offer``, ``survey``): at most ``max_messages`` per ``period_days`` (a
  sliding window). A category without a cap is not allowed at all.
  Schwab's rule, "ask my opinion at most once a year", is
  ``CategoryCap(category="survey", max_messages=1, period_days=365)``.
* **quiet_hours** — a daily window (local minutes of the day, with the owner's
  UTC offset) in which no message is accepted. It may wrap past midnight.

This module also holds :data:`HpkePublicKey`, the business's public HPKE key
(RFC 9180, ML-KEM-768 + X25519), which travels signed inside the access request.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from .wire import WireModel

__all__ = [
    "HPKE_PUBLIC_KEY_BYTES",
    "CategoryCap",
    "ContactCategory",
    "ContactChannel",
    "ContactPolicy",
    "HpkePublicKey",
    "QuietHours",
    "policy_within",
]

DAY_MINUTES = 24 * 60
#: ML-KEM-768 public key (1184 bytes) followed by the X25519 public key (32 bytes).
HPKE_PUBLIC_KEY_BYTES = 1184 + 32
#: The business's HPKE public key, lower-case hex.
HpkePublicKey = Annotated[
    str,
    StringConstraints(
        min_length=2 * HPKE_PUBLIC_KEY_BYTES,
        max_length=2 * HPKE_PUBLIC_KEY_BYTES,
        pattern=r"^[0-9a-f]+$",
    ),
]
#: At most this many messages per period, per category.
MAX_CAP_MESSAGES = 1000


class ContactCategory(StrEnum):
    """Why a business writes: a service message, an offer, or a survey."""

    SERVICE = "service"
    OFFER = "offer"
    SURVEY = "survey"


class ContactChannel(StrEnum):
    """Where a message may reach the owner."""

    INBOX = "inbox"
    EMAIL = "email"
    PHONE = "phone"


#: The profile field a channel releases (for that purpose only).
CHANNEL_FIELDS = {ContactChannel.EMAIL: "contact.email", ContactChannel.PHONE: "contact.phone"}


class CategoryCap(WireModel):
    """At most ``max_messages`` of ``category`` per ``period_days`` (sliding window)."""

    category: ContactCategory
    max_messages: Annotated[int, Field(ge=1, le=MAX_CAP_MESSAGES)]
    period_days: Annotated[int, Field(ge=1, le=3650)]


class QuietHours(WireModel):
    """No contact from ``start_minute`` (inclusive) to ``end_minute`` (exclusive), local time.

    Minutes count from local midnight; local = UTC + ``utc_offset_minutes``.
    ``start_minute > end_minute`` wraps past midnight (22:00–07:00).
    """

    start_minute: Annotated[int, Field(ge=0, lt=DAY_MINUTES)]
    end_minute: Annotated[int, Field(ge=0, lt=DAY_MINUTES)]
    utc_offset_minutes: Annotated[int, Field(ge=-720, le=840)] = 0

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start_minute == self.end_minute:
            raise ValueError("quiet hours need a start and an end that differ")
        return self

    def contains(self, now_ms: int) -> bool:
        """True if the instant ``now_ms`` (UTC ms) falls in the quiet window."""
        minute = (now_ms // 60_000 + self.utc_offset_minutes) % DAY_MINUTES
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    @classmethod
    def parse(cls, text: str, utc_offset_minutes: int = 0) -> QuietHours:
        """``"22:00-07:00"`` → quiet hours."""
        try:
            start, end = (part.strip() for part in text.split("-"))
            sh, sm = (int(x) for x in start.split(":"))
            eh, em = (int(x) for x in end.split(":"))
        except ValueError as exc:
            raise ValueError("quiet hours look like 22:00-07:00") from exc
        return cls(
            start_minute=sh * 60 + sm,
            end_minute=eh * 60 + em,
            utc_offset_minutes=utc_offset_minutes,
        )


class ContactPolicy(WireModel):
    """Channels, per-category caps and quiet hours. Lists are sorted and unique."""

    channels: tuple[ContactChannel, ...] = Field(min_length=1, max_length=len(ContactChannel))
    caps: tuple[CategoryCap, ...] = Field(min_length=1, max_length=len(ContactCategory))
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _canonical(self) -> ContactPolicy:
        if list(self.channels) != sorted(set(self.channels)):
            raise ValueError("channels must be sorted and unique (use ContactPolicy.of)")
        cats = [c.category for c in self.caps]
        if cats != sorted(set(cats)):
            raise ValueError("one cap per category, sorted (use ContactPolicy.of)")
        return self

    @classmethod
    def of(
        cls,
        caps: Iterable[CategoryCap | tuple[str, int, int]],
        channels: Iterable[str | ContactChannel] = (ContactChannel.INBOX,),
        quiet_hours: QuietHours | None = None,
    ) -> ContactPolicy:
        """Build a policy from caps (``CategoryCap`` or ``(category, n, days)``), normalising."""
        built = [
            c
            if isinstance(c, CategoryCap)
            else CategoryCap(category=ContactCategory(c[0]), max_messages=c[1], period_days=c[2])
            for c in caps
        ]
        return cls(
            channels=tuple(sorted({ContactChannel(c) for c in channels})),
            caps=tuple(sorted(built, key=lambda c: c.category)),
            quiet_hours=quiet_hours,
        )

    def cap_for(self, category: ContactCategory | str) -> CategoryCap | None:
        """The cap for ``category``, or None if that category is not allowed."""
        for cap in self.caps:
            if cap.category == category:
                return cap
        return None

    @property
    def categories(self) -> tuple[ContactCategory, ...]:
        return tuple(c.category for c in self.caps)


def policy_within(inner: ContactPolicy, outer: ContactPolicy) -> bool:
    """True if ``inner`` allows nothing ``outer`` does not (the owner may only narrow).

    Fewer channels, fewer categories, no higher rate (``n/days``) per category.
    Quiet hours may be added or changed freely: they only ever take away.
    """
    if not set(inner.channels) <= set(outer.channels):
        return False
    for cap in inner.caps:
        limit = outer.cap_for(cap.category)
        if limit is None or cap.max_messages > limit.max_messages:
            return False
        if cap.max_messages * limit.period_days > limit.max_messages * cap.period_days:
            return False
    return True
