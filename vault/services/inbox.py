"""The owner's inbox: messages businesses sent under their contact grants.

Each message is a sealed record (kind ``inbox``), keyed by the business's
``message_id`` (so a retried message is stored once). The owner lists
messages, reads one (which marks it read: the owner *engaged*), and sees per
business what it sent, what was refused, and per mailing the yield: how many
of the mailing's delivered messages the owner read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import computed_field

from protocol import ContactMessage, canonical_dumps, canonical_loads
from vault.services.contact import ContactBook
from vault.services.grantbook import NotFound
from vault.store.jsonform import JsonRecord
from vault.store.vault import Vault

__all__ = ["Inbox", "InboxMessage", "MailingStats"]

KIND = "inbox"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxMessage(JsonRecord):
    """A message as the owner sees it."""

    message_id: str
    requester: str
    grant_id: str
    category: str
    mailing_id: str | None
    subject: str
    body: str
    received_at: int
    channels: tuple[str, ...] = ("inbox",)
    muted: bool = False
    read_at: int | None = None

    @classmethod
    def of(
        cls, msg: ContactMessage, at: int, *, channels: tuple[str, ...], muted: bool
    ) -> InboxMessage:
        return cls(
            message_id=msg.message_id,
            requester=msg.requester,
            grant_id=msg.grant_id,
            category=msg.category.value,
            mailing_id=msg.mailing_id,
            subject=msg.subject,
            body=msg.body,
            received_at=at,
            channels=channels,
            muted=muted,
        )


@dataclass(frozen=True)
class MailingStats(JsonRecord):
    """One mailing's yield: delivered, read, and read / delivered."""

    mailing_id: str
    delivered: int
    read: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def yield_pct(self) -> int:
        return 0 if self.delivered == 0 else round(100 * self.read / self.delivered)


class Inbox:
    """The sealed inbox of one vault."""

    def __init__(self, vault: Vault, contacts: ContactBook | None = None) -> None:
        self.vault = vault
        self.contacts = contacts or ContactBook(vault)
        #: Told of each message the owner reads for the first time (D43 signals).
        self.on_read: Callable[[InboxMessage], None] | None = None

    def has(self, message_id: str) -> bool:
        return self.vault.store.contains(KIND, message_id)

    def put(self, message: InboxMessage) -> None:
        self.vault.store.put(KIND, message.message_id, canonical_dumps(message.to_json()))

    def get(self, message_id: str) -> InboxMessage:
        raw = self.vault.store.get(KIND, message_id)
        if raw is None:
            raise NotFound(f"no message {message_id}")
        return InboxMessage.from_json(canonical_loads(raw))

    def messages(
        self, *, requester: str | None = None, unread: bool = False, include_muted: bool = False
    ) -> list[InboxMessage]:
        """Messages, newest first. Muted businesses' messages only with ``include_muted``."""
        prefs = self.contacts.all_prefs()
        out = []
        for _name, raw in self.vault.store.items(KIND):
            msg = InboxMessage.from_json(canonical_loads(raw))
            mine = prefs.get(msg.requester, {})
            muted = (
                msg.muted
                or bool(mine.get("muted", False))
                or msg.category in mine.get("muted_categories", ())
            )
            if requester is not None and msg.requester != requester:
                continue
            if unread and msg.read_at is not None:
                continue
            if muted and not include_muted:
                continue
            out.append(msg)
        out.sort(key=lambda m: (-m.received_at, m.message_id))
        return out

    def mark_read(self, message_id: str) -> InboxMessage:
        """Mark a message read (the owner engaged with it); audited, idempotent.

        The business is told only if the owner shares reads with it (D43:
        :attr:`on_read`, set by :mod:`vault.services.contact_yield`).
        """
        msg = self.get(message_id)
        if msg.read_at is not None:
            return msg
        done = replace(msg, read_at=int(self.vault.clock()))
        with self.vault.transaction():
            self.put(done)
            self.vault.audit.append(
                "contact.read",
                {"message_id": message_id, "requester": msg.requester, "mailing": msg.mailing_id},
            )
        if self.on_read is not None:
            try:
                self.on_read(done)
            except Exception:  # reading stands even if the signal cannot be queued
                log.exception("could not queue the read signal for %s", msg.requester)
        return done

    def report(self) -> list[dict[str, Any]]:
        """Per business: sent (by category), read, refused (by code), mailings with yield."""
        by_peer: dict[str, dict[str, Any]] = {}
        for msg in self.messages(include_muted=True):
            row = by_peer.setdefault(msg.requester, _empty_row(msg.requester))
            row["sent"][msg.category] = row["sent"].get(msg.category, 0) + 1
            row["read"] += msg.read_at is not None
            if msg.mailing_id:
                mail = row["_mailings"].setdefault(msg.mailing_id, [0, 0])
                mail[0] += 1
                mail[1] += msg.read_at is not None
        for peer, hist in self.contacts.histories().items():
            row = by_peer.setdefault(peer, _empty_row(peer))
            row["refused"] = dict(hist.refused)
        prefs = self.contacts.all_prefs()
        for peer, row in by_peer.items():
            mine = prefs.get(peer, {})
            row["muted"] = bool(mine.get("muted", False))
            row["blocked"] = bool(mine.get("blocked", False))
            row["muted_categories"] = list(mine.get("muted_categories", []))
            row["share_reads"] = bool(mine.get("share_reads", False))
            row["share_mutes"] = bool(mine.get("share_mutes", True))
            row["mailings"] = [
                MailingStats(mid, d, r).to_json()
                for mid, (d, r) in sorted(row.pop("_mailings").items())
            ]
        return [by_peer[p] for p in sorted(by_peer)]


def _empty_row(peer: str) -> dict[str, Any]:
    return {"requester": peer, "sent": {}, "read": 0, "refused": {}, "_mailings": {}}
