"""Contact yield per mailing, in the business's book: sent, read, muted, blocked (D43).

What the business measures itself: every message a vault accepted (``sent``)
and every refusal by its code (``blocked`` among them). What only the owner's
vault knows arrives as signed contact signals (:class:`~protocol.ContactSignal`) inside
sealed deliveries, as far as the owner chose to share it:

* ``read`` — counted once per message, and only for a message this business
  sent *to that vault*. A signal naming any other message (never sent, sent
  to another vault, or older than :data:`KEEP_SENT_MS`) is acknowledged and
  ignored, audited: a signal is advisory, and an error would only make the
  vault send it again. A forged one, or one over the rate, is an ``error``
  (the vault drops refused signals rather than let them block its queue);
* ``mute`` / ``unmute`` — the vault's mute state (whole business or per
  category) is kept per vault; a mute naming a message we sent is counted on
  that message's mailing, once per message;
* ``sharing`` — whether the vault shares reads. A mailing's ``read_base`` is
  the number of its messages whose vault shared reads (when sent, or since):
  with ``read_base`` 0 the dashboard says "read: not shared", never "0".

A business that was told of a mute stops sending: :meth:`YieldBook.check_not_muted`
refuses the message before it leaves (:class:`~vault.requester.MutedByCustomer`)
and counts it under the code ``muted`` on its mailing.

Everything is a sealed record in the business's store (SQLite or PostgreSQL,
whose writers serialize on the write-lock row, so several workers count
without losing increments; no new table: D43). Bounds: at most
:data:`MAX_MAILINGS` mailings (the oldest dropped), a message's record kept
:data:`KEEP_SENT_MS` (a signal for an older message is ignored), and at most
:data:`SIGNAL_BURST` signals per vault with :data:`SIGNAL_RATE` per second
refill (the rest refused with ``rate_limited``; the vault keeps them queued).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol import AccessDenied, ContactSignal, ErrorCode, RateLimited, canonical_dumps, verify
from protocol import canonical_loads as _loads
from protocol.clock import DAY_MS
from vault.requester._errors import MutedByCustomer
from vault.store.jsonform import JsonRecord
from vault.store.vault import Vault

__all__ = [
    "KEEP_SENT_MS",
    "MAX_MAILINGS",
    "NO_MAILING",
    "MailingYield",
    "VaultSignals",
    "YieldBook",
]

MAILING_KIND = "yield.mailing"
SENT_KIND = "yield.sent"
VAULT_KIND = "yield.vault"
#: Mailings counted at most (the oldest is dropped first).
MAX_MAILINGS = 500
#: How long a sent message's record is kept (signals for older messages are ignored).
KEEP_SENT_MS = 90 * DAY_MS
#: Signals per vault: a burst, then this many per second.
SIGNAL_BURST = 64
SIGNAL_RATE = 1.0
#: Vaults whose signal budget is tracked at once (the least recent forgotten).
MAX_TRACKED = 10_000
NO_MAILING = "(no mailing)"
#: The refusal code a business counts for a message it did not send because of a told mute.
MUTED = "muted"


@dataclass
class MailingYield(JsonRecord):
    """One mailing's yield as this business knows it."""

    mailing_id: str
    sent: int = 0
    read: int = 0
    read_base: int = 0  # messages whose vault shares reads: ``read`` is out of these
    muted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    first_at: int = 0
    last_at: int = 0

    @property
    def blocked(self) -> int:
        return self.refused.get(ErrorCode.BLOCKED.value, 0)

    @property
    def reads_shared(self) -> bool:
        return self.read_base > 0


@dataclass
class _Sent(JsonRecord):
    mailing: str
    vault: str
    category: str
    sent_at: int
    in_base: bool = False
    read: bool = False
    muted: bool = False


@dataclass
class VaultSignals(JsonRecord):
    """What one vault told us: read sharing (None: never said), and its mutes."""

    shares_reads: bool | None = None
    muted: bool = False
    muted_categories: list[str] = field(default_factory=list)
    last_at: int = 0

    def mutes(self, category: str) -> bool:
        return self.muted or category in self.muted_categories


class YieldBook:
    """Per-mailing contact yield, kept sealed in the business's store."""

    def __init__(
        self,
        vault: Vault,
        clock: Callable[[], int],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vault = vault
        self.now = clock
        self._mono = monotonic
        self._budget: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._pruned_at: int | None = None
        #: Signals naming no message of ours to their vault, ignored by this process.
        self.ignored = 0
        #: Called after a change is stored (the dashboard's live updates).
        self.on_change: Callable[[str], None] | None = None

    # -- what the business measures itself -----------------------------------------------

    def sent(self, mailing_id: str | None, message_id: str, vault_peer: str, category: str) -> None:
        now = self.now()
        key = mailing_id or NO_MAILING
        shares = self.vault_signals(vault_peer).shares_reads is True
        with self.vault.transaction():
            if self.vault.store.contains(SENT_KIND, message_id):
                return  # a retry of a message already counted
            row = self._row(key, now)
            row.sent += 1
            row.read_base += shares
            self._put_row(row)
            rec = _Sent(key, vault_peer, category, now, in_base=shares)
            self.vault.store.put(SENT_KIND, message_id, canonical_dumps(rec.to_json()))
            self.vault.audit.append("requester.contact_sent", {"mailing": key, "vault": vault_peer})
        self.notify("sent")

    def refused(self, mailing_id: str | None, code: str) -> None:
        with self.vault.transaction():
            row = self._row(mailing_id or NO_MAILING, self.now())
            row.refused[code] = row.refused.get(code, 0) + 1
            self._put_row(row)
            self.vault.audit.append(
                "requester.contact_refused", {"mailing": row.mailing_id, "code": code}
            )
        self.notify("refused")

    # -- what a vault tells ----------------------------------------------------------------

    def apply(self, sender: str, signal: ContactSignal) -> None:
        """Apply a signal from ``sender`` (the vault that delivered it); raise if refused.

        Call inside the transaction that records the delivery's ``seq``.
        """
        if signal.vault != sender or signal.requester != self._me():
            raise AccessDenied("this signal is not from its vault to us", code=ErrorCode.WRONG_PEER)
        if not self._spend(sender):
            raise RateLimited("too many contact signals; slow down")
        verify(signal, sender)
        state = self.vault_signals(sender)
        now = self.now()
        if signal.kind == "sharing":
            state.shares_reads = bool(signal.shares_reads)
        elif signal.kind == "read":
            assert signal.message_id is not None
            sent = self._sent_to(sender, signal.message_id, now)
            row = None if sent is None or sent.read else self._kept_row(sent.mailing, now)
            if sent is not None and row is not None:
                sent.read = True
                row.read += 1
                if not sent.in_base:  # sharing turned on after the send: it counts now
                    sent.in_base = True
                    row.read_base += 1
                self._put_row(row)
                self._put_sent(signal.message_id, sent)
            state.shares_reads = True  # a vault that sends a read shares reads
        else:
            on = signal.kind == "mute"
            cat = None if signal.category is None else signal.category.value
            if cat is None:
                state.muted = on
            else:
                cats = set(state.muted_categories)
                cats = cats | {cat} if on else cats - {cat}
                state.muted_categories = sorted(cats)
            if on and signal.message_id is not None:
                sent = self._sent_to(sender, signal.message_id, now)
                kept = None if sent is None or sent.muted else self._kept_row(sent.mailing, now)
                if sent is not None and kept is not None:
                    sent.muted = True
                    kept.muted += 1
                    self._put_row(kept)
                    self._put_sent(signal.message_id, sent)
        state.last_at = now
        self.vault.store.put(VAULT_KIND, sender, canonical_dumps(state.to_json()))
        self.vault.audit.append("requester.contact_signal", {"vault": sender, "kind": signal.kind})

    def _sent_to(self, vault_peer: str, message_id: str, now: int) -> _Sent | None:
        """Our record of ``message_id`` sent to ``vault_peer``; None (ignored, audited) if none."""
        raw = self.vault.store.get(SENT_KIND, message_id)
        sent = None if raw is None else _Sent.from_json(_loads(raw))
        if sent is None or sent.vault != vault_peer or now - sent.sent_at > KEEP_SENT_MS:
            self.ignored += 1
            self.vault.audit.append("requester.contact_signal_ignored", {"vault": vault_peer})
            return None
        return sent

    def _spend(self, peer: str) -> bool:
        now = self._mono()
        tokens, at = self._budget.pop(peer, (float(SIGNAL_BURST), now))
        tokens = min(float(SIGNAL_BURST), tokens + (now - at) * SIGNAL_RATE)
        ok = tokens >= 1.0
        self._budget[peer] = (tokens - 1.0 if ok else tokens, now)
        while len(self._budget) > MAX_TRACKED:
            self._budget.popitem(last=False)
        return ok

    # -- reading -----------------------------------------------------------------------------

    def check_not_muted(self, mailing_id: str | None, vault_peer: str, category: str) -> None:
        """Refuse (and count as ``muted``) a message to a vault that told us it muted it."""
        if self.vault_signals(vault_peer).mutes(category):
            self.refused(mailing_id, MUTED)
            raise MutedByCustomer(
                f"not sent: the customer muted {category} messages from this business"
            )

    def vault_signals(self, vault_peer: str) -> VaultSignals:
        raw = self.vault.store.get(VAULT_KIND, vault_peer)
        return VaultSignals() if raw is None else VaultSignals.from_json(_loads(raw))

    def all_vault_signals(self) -> dict[str, VaultSignals]:
        return {
            name: VaultSignals.from_json(_loads(raw))
            for name, raw in self.vault.store.items(VAULT_KIND)
        }

    def mailings(self) -> list[MailingYield]:
        """Every mailing counted, oldest first."""
        rows = [
            MailingYield.from_json(_loads(raw)) for _n, raw in self.vault.store.items(MAILING_KIND)
        ]
        return sorted(rows, key=lambda r: (r.first_at, r.mailing_id))

    def prune_due(self, now: int | None = None) -> int:
        """:meth:`prune` at most once a day (the retention sweep calls this every minute)."""
        at = self.now() if now is None else now
        if self._pruned_at is not None and at - self._pruned_at < DAY_MS:
            return 0
        self._pruned_at = at
        return self.prune(at)

    def prune(self, now: int | None = None) -> int:
        """Forget sent messages older than :data:`KEEP_SENT_MS`; how many."""
        cutoff = (self.now() if now is None else now) - KEEP_SENT_MS
        old = [
            name
            for name, raw in self.vault.store.items(SENT_KIND)
            if int(_loads(raw)["sent_at"]) < cutoff
        ]
        if old:
            with self.vault.transaction():
                for name in old:
                    self.vault.store.delete(SENT_KIND, name)
        return len(old)

    # -- internals ---------------------------------------------------------------------------

    def _me(self) -> str:
        return self.vault.peer_id

    def _row(self, key: str, now: int) -> MailingYield:
        raw = self.vault.store.get(MAILING_KIND, key)
        if raw is not None:
            row = MailingYield.from_json(_loads(raw))
        else:
            if self.vault.store.count(MAILING_KIND) >= MAX_MAILINGS:
                oldest = self.mailings()[0]
                self.vault.store.delete(MAILING_KIND, oldest.mailing_id)
            row = MailingYield(key, first_at=now)
        row.last_at = now
        return row

    def _kept_row(self, key: str, now: int) -> MailingYield | None:
        """The mailing's row if it is still counted (a dropped mailing is not brought back)."""
        raw = self.vault.store.get(MAILING_KIND, key)
        if raw is None:
            return None
        row = MailingYield.from_json(_loads(raw))
        row.last_at = now
        return row

    def _put_row(self, row: MailingYield) -> None:
        self.vault.store.put(MAILING_KIND, row.mailing_id, canonical_dumps(row.to_json()))

    def _put_sent(self, message_id: str, sent: _Sent) -> None:
        self.vault.store.put(SENT_KIND, message_id, canonical_dumps(sent.to_json()))

    def notify(self, what: str) -> None:
        """Tell :attr:`on_change` that ``what`` changed (after its transaction committed)."""
        if self.on_change is not None:
            self.on_change(what)


def view(row: MailingYield) -> dict[str, Any]:
    """A mailing as the API shows it."""
    return {
        "mailing_id": row.mailing_id,
        "sent": row.sent,
        "read": row.read if row.reads_shared else None,
        "read_base": row.read_base,
        "muted": row.muted,
        "blocked": row.blocked,
        "refused": dict(row.refused),
        "first_at": row.first_at,
        "last_at": row.last_at,
    }
