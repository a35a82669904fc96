"""What the owner chose to tell a business about its messages: contact signals (D43).

A business can count what it sent and what was refused; whether a message was
*read* or the owner *muted* it is known only here. :class:`YieldSignals` turns
the owner's acts into signed contact signals (:class:`~protocol.ContactSignal`), queued in
the outbox (sealed to the business's key, ordered, applied once, kept while it
is offline) — never more than the owner chose:

* a **read** is told only when the owner shares reads with that business
  (``share_reads``, off by default): a read receipt is a leak unless chosen;
* a **mute** or **unmute** (of the business or of one category) is told when
  ``share_mutes`` is on, which it is by default: a business that knows stops
  sending, which is what the owner wants from a mute. A mute names the last
  message the vault accepted from the business (in that category), so the
  business can put it on that message's mailing;
* turning read sharing **on or off** is told (``sharing``), so the business
  shows "read: not shared" instead of a false zero. Turning it off tells the
  business no more than that reads stop coming.

Nothing is told of a block: the business learns it at its next message, from
the ``blocked`` refusal, as before. Each read is queued once (its idempotency
key is the message id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol import ContactCategory, ContactSignal, new_id, sign
from vault.services.inbox import Inbox, InboxMessage
from vault.store.vault import Vault

__all__ = ["Enqueue", "YieldSignals"]

#: ``enqueue(peer, message, key)``: the delivery service's queue (None: no key announced).
Enqueue = Callable[..., Any]
#: Signals older than this are not worth delivering (the outbox drops them).
SIGNAL_TTL_MS = 30 * 24 * 3600 * 1000


class YieldSignals:
    """Hooks an inbox (reads) and its contact book (choices) to the outbox."""

    def __init__(self, vault: Vault, inbox: Inbox, enqueue: Enqueue) -> None:
        self.vault = vault
        self.inbox = inbox
        self.enqueue = enqueue
        #: What this process queued: ``(peer, kind)``, for tests and the audit's sake.
        self.queued: list[tuple[str, str]] = []

    @classmethod
    def attach(cls, vault: Vault, inbox: Inbox, enqueue: Enqueue) -> YieldSignals:
        self = cls(vault, inbox, enqueue)
        inbox.on_read = self.read
        inbox.contacts.signals = self.prefs_changed
        return self

    def _send(self, peer: str, kind: str, key: str | None = None, **fields: Any) -> None:
        signal = sign(
            ContactSignal(
                signal_id=new_id(),
                vault=self.vault.peer_id,
                requester=peer,
                kind=kind,
                ts=int(self.vault.clock()),
                **fields,
            ),
            self.vault.identity,
        )
        item = self.enqueue(
            peer, signal, key=key or f"signal-{signal.signal_id}", ttl_ms=SIGNAL_TTL_MS
        )
        if item is not None:
            self.queued.append((peer, kind))
            self.vault.audit.append("contact.signal", {"requester": peer, "kind": kind})

    def read(self, msg: InboxMessage) -> None:
        """The owner read ``msg``: tell its business if the owner shares reads with it."""
        if not self.inbox.contacts.prefs(msg.requester)["share_reads"]:
            return
        self._send(
            msg.requester,
            "read",
            key=f"read-{msg.message_id}",
            message_id=msg.message_id,
            mailing_id=msg.mailing_id,
        )

    def prefs_changed(self, peer: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Tell ``peer`` what changed, as far as the owner shares it."""
        if before["share_reads"] != after["share_reads"]:
            self._send(peer, "sharing", shares_reads=bool(after["share_reads"]))
        if not after["share_mutes"]:
            return
        if before["muted"] != after["muted"]:
            self._mute(peer, bool(after["muted"]), None)
        was, now = set(before["muted_categories"]), set(after["muted_categories"])
        for cat in sorted(now - was):
            self._mute(peer, True, cat)
        for cat in sorted(was - now):
            self._mute(peer, False, cat)

    def _mute(self, peer: str, on: bool, category: str | None) -> None:
        if not on:
            self._send(
                peer, "unmute", category=None if category is None else ContactCategory(category)
            )
            return
        last = self._last_message(peer, category)
        self._send(
            peer,
            "mute",
            category=None if category is None else ContactCategory(category),
            message_id=None if last is None else last.message_id,
            mailing_id=None if last is None else last.mailing_id,
        )

    def _last_message(self, peer: str, category: str | None) -> InboxMessage | None:
        for msg in self.inbox.messages(requester=peer, include_muted=True):  # newest first
            if category is None or msg.category == category:
                return msg
        return None
