"""Serving ``/kluis/contact/1.0.0``: a business's message meets the owner's contact rules.

The node serves ``CONTACT_GRAMMAR``: every stream runs through the runtime's
h11-style Connection, which parses each frame and checks that it is a
``contact_message`` sent in ``IDLE``. A frame that is not is a protocol error:
:meth:`ContactService.on_protocol_error` charges and audits it, and the peer
gets that typed ``error`` before its stream is closed. Then, on each message
(the same order as the access protocol's, then the contact rules): rate limit →
signature (against the Noise peer) → replay guard → addressed to this vault →
the grant (``not_granted``, ``wrong_peer``, ``revoked``, ``expired``,
``out_of_scope`` if the grant has no ``contact`` action) →
:func:`vault.services.contact.check_contact` (``blocked``, ``category_refused``,
``quiet_hours``, ``cap_exceeded``). A refusal is a typed
``error`` reply plus an audit entry (``contact.refused``, with the code, never
the message's text) and is counted in the business's history. An accepted
message is stored in the inbox, counted against its cap and audited
(``contact.received``) in one transaction, then acknowledged.

``message_id`` is the idempotency key: a message already in the inbox is
acknowledged again and neither stored nor counted twice.

Channels: the inbox always. If the grant's terms allow ``email`` or ``phone``
and a ``forward`` hook is set, the message is handed to it with the address
read from the profile *at that moment*: the business never learns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from protocol import (
    AccessDenied,
    Ack,
    Action,
    ContactMessage,
    Error,
    ErrorCode,
    KluisError,
    Message,
    RateLimited,
    RemoteProtocolError,
    ReplayGuard,
    UnexpectedMessage,
    error_from_exception,
    verify,
)
from protocol.clock import DAY_MS
from protocol.contact_terms import CHANNEL_FIELDS, ContactChannel
from vault.services.contact import DEFAULT_POLICY, ContactBook, check_contact
from vault.services.grantbook import GrantBook, NotFound
from vault.services.inbox import Inbox, InboxMessage
from vault.services.ratelimit import RateLimiter
from vault.services.refusals import RefusalTally
from vault.store.vault import Vault

__all__ = ["ContactService", "Forwarder"]

log = logging.getLogger(__name__)

#: ``forward(channel, address, message)``: send a copy by e-mail or phone.
Forwarder = Callable[[str, str, InboxMessage], Any]
#: Accepted-message times are kept at least this long (the longest cap period).
KEEP_MS = 3650 * DAY_MS


class ContactService:
    """The vault's contact endpoint. ``handle`` is the runtime frame handler."""

    def __init__(
        self,
        vault: Vault,
        grants: GrantBook,
        *,
        inbox: Inbox | None = None,
        limiter: RateLimiter | None = None,
        replay: ReplayGuard | None = None,
        forward: Forwarder | None = None,
    ) -> None:
        self.vault = vault
        self.grants = grants
        self.contacts = inbox.contacts if inbox is not None else ContactBook(vault)
        self.inbox = inbox or Inbox(vault, self.contacts)
        self.limiter = limiter
        self.replay = replay or ReplayGuard(clock=lambda: int(vault.clock()))
        self.forward = forward
        #: Called with the sender's peer id after each frame (the business is online).
        self.on_peer_seen: Callable[[str], None] | None = None
        #: A stranger's refusals, one counted entry per window (refusals.py).
        self.strangers = RefusalTally(self._write_tally)

    def now(self) -> int:
        return int(self.vault.clock())

    def on_protocol_error(self, ctx: Any, exc: RemoteProtocolError) -> Error:
        """A frame that broke the grammar (its stream is closed): charge, audit, the reply."""
        peer = str(ctx.remote_peer_id)
        err: KluisError = exc
        if self.limiter is not None and not self.limiter.try_acquire(peer, 1.0):
            err = RateLimited("too many messages; slow down")
        return self._refuse(peer, err, None, None)

    def handle(self, ctx: Any, message: Message) -> Message:
        """One message from the stream's Noise-authenticated peer → the reply. Never raises."""
        peer = str(ctx.remote_peer_id)
        msg: ContactMessage | None = None
        try:
            if self.limiter is not None and not self.limiter.try_acquire(peer, 1.0):
                raise RateLimited("too many messages; slow down")
            if not isinstance(message, ContactMessage):  # the grammar lets nothing else in
                raise UnexpectedMessage(f"the contact protocol does not take {message.type}")
            msg = message
            verify(msg, peer)
            self.replay.check(peer, msg.nonce, msg.ts)
            reply = self.receive(peer, msg)
        except KluisError as exc:
            return self._refuse(peer, exc, msg, None if msg is None else msg.message_id)
        except Exception:
            log.exception("contact handler failed on a frame from %s", peer)
            return self._refuse(peer, KluisError("internal error"), msg, None)
        finally:
            if self.on_peer_seen is not None:
                try:
                    self.on_peer_seen(peer)
                except Exception:
                    log.exception("on_peer_seen failed")
        return reply

    def receive(self, peer: str, msg: ContactMessage) -> Ack:
        """Apply the rules to a verified message; store it or raise ``AccessDenied``."""
        if msg.vault != self.vault.peer_id:
            raise AccessDenied("this message is for another vault", code=ErrorCode.NOT_GRANTED)
        if self.inbox.has(msg.message_id):
            old = self.inbox.get(msg.message_id)
            if old.requester != peer:
                raise AccessDenied("message id already used", code=ErrorCode.NOT_GRANTED)
            return Ack(ref=msg.message_id)
        try:
            state = self.grants.grant(msg.grant_id)
        except NotFound:
            raise AccessDenied("no such grant", code=ErrorCode.NOT_GRANTED) from None
        now = self.now()
        grant = self.grants.check(peer, msg.grant_id, state.grant.scope.fields, Action.CONTACT, now)
        policy = grant.contact or DEFAULT_POLICY
        prefs = self.contacts.prefs(peer)
        history = self.contacts.history(peer)
        check_contact(
            policy,
            msg.category,
            history.accepted.get(msg.category.value, []),
            now,
            blocked=prefs["blocked"],
        )
        channels = tuple(c.value for c in policy.channels)
        muted = bool(prefs["muted"]) or msg.category.value in prefs["muted_categories"]
        item = InboxMessage.of(msg, now, channels=channels, muted=muted)
        with self.vault.transaction():
            self.inbox.put(item)
            self.contacts.record_accepted(peer, msg.category.value, now, keep_ms=KEEP_MS)
            self.vault.audit.append(
                "contact.received",
                {
                    "requester": peer,
                    "grant_id": msg.grant_id,
                    "message_id": msg.message_id,
                    "category": msg.category.value,
                    "mailing": msg.mailing_id,
                    "muted": muted,
                },
            )
        if not muted:
            self._forward(policy.channels, item)
        return Ack(ref=msg.message_id)

    def _forward(self, channels: tuple[ContactChannel, ...], item: InboxMessage) -> None:
        if self.forward is None:
            return
        for channel in channels:
            path = CHANNEL_FIELDS.get(channel)
            if path is None:
                continue
            rec = self.vault.profile.record(path)
            value = None if rec is None else rec.value
            if isinstance(value, str) and value:
                try:
                    self.forward(channel.value, value, item)
                except Exception:
                    log.exception("forwarding a message by %s failed", channel.value)

    def _write_tally(self, details: dict[str, Any]) -> None:
        try:
            self.vault.audit.append("contact.refused", details, durable=False)
        except Exception:
            log.exception("could not audit the refusal count of %s", details["peer"])

    def _refuse(
        self, peer: str, exc: KluisError, msg: ContactMessage | None, ref: str | None
    ) -> Error:
        error = error_from_exception(exc, ref)
        now = self.now()
        self.strangers.flush_due(now)
        if not self.grants.has_granted(peer) and not self.grants.has_pending(peer):
            kind = None if msg is None else msg.type
            self.strangers.note(peer, error.code.value, error.message, kind, error.ref, now)
            return error
        try:
            with self.vault.transaction():
                self.vault.audit.append(
                    "contact.refused",
                    {
                        "requester": peer,
                        "code": error.code.value,
                        "grant_id": None if msg is None else msg.grant_id,
                        "message_id": error.ref,
                        "category": None if msg is None else msg.category.value,
                    },
                )
                if msg is not None and msg.requester == peer:
                    self.contacts.record_refused(
                        peer, msg.category.value, error.code.value, self.now()
                    )
        except Exception:
            log.exception("could not audit a contact refusal for %s", peer)
        return error
