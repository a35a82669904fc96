"""Sending a message to a customer under a contact grant (``/kluis/contact/1.0.0``).

The message is signed by the business; the vault checks the grant's contact
terms (channel, category caps, quiet hours) and the owner's mute/block
choices, and either acknowledges it or refuses with a typed error, raised
here as :class:`protocol.AccessDenied` (``blocked``, ``category_refused``,
``quiet_hours``, ``cap_exceeded``, ``not_granted``, ``revoked``, ``expired``,
``out_of_scope``…). ``message_id`` is the idempotency key: retrying a message
that may or may not have arrived with the same id never delivers it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import (
    CONTACT_GRAMMAR,
    Ack,
    ContactCategory,
    ContactMessage,
    Error,
    TransportError,
    UnexpectedMessage,
    new_id,
    new_nonce,
    sign,
)
from vault.requester._errors import error_to_exception

if TYPE_CHECKING:
    from vault.requester._local import GrantRef
    from vault.requester._requester import Requester

__all__ = ["ContactQueue", "send_contact"]

CONTACT_TIMEOUT = 10.0


async def send_contact(
    requester: Requester,
    grant: GrantRef,
    category: ContactCategory | str,
    subject: str,
    body: str = "",
    *,
    mailing_id: str | None = None,
    message_id: str | None = None,
    timeout: float = CONTACT_TIMEOUT,
) -> str:
    """Send one message; returns its ``message_id`` once the vault accepted it."""
    rec = requester.local.record(grant)
    msg = sign(
        ContactMessage(
            message_id=message_id or new_id(),
            grant_id=rec.grant_id,
            requester=requester.peer_id,
            vault=rec.vault_peer,
            category=ContactCategory(category),
            mailing_id=mailing_id,
            subject=subject,
            body=body,
            nonce=new_nonce(),
            ts=requester.now(),
        ),
        requester.identity,
    )
    link = requester.link
    link.require()
    for attempt in (0, 1):
        try:
            reply = await link.call(rec.vault_peer, rec.vault_addr, CONTACT_GRAMMAR, msg, timeout)
            break
        except TransportError:
            # A connection left over from before the vault restarted fails once: dial again
            # (the link has forgotten it).
            if attempt:
                raise
    if isinstance(reply, Error):
        raise error_to_exception(reply)
    if not isinstance(reply, Ack):  # pragma: no cover - the grammar allows no other
        raise UnexpectedMessage(f"a vault answered a contact message with {reply.type}")
    return msg.message_id


QUEUE_KIND = "contact.out"


class ContactQueue:
    """Messages to send when the vault is reachable again (sealed in the business's store).

    Each queued message keeps its ``message_id`` (the vault's idempotency key)
    and is signed afresh (new nonce and ``ts``) on every attempt, in the order
    queued. ``quiet_hours`` and ``rate_limited`` keep it (and those after it)
    for a later flush; any other refusal (cap, revoked…) drops it, with its
    code kept in :attr:`outcomes`.
    """

    def __init__(self, requester: Requester) -> None:
        self.r = requester
        #: message_id → "sent" or the refusal code, for messages flushed by this process.
        self.outcomes: dict[str, str] = {}

    def put(
        self,
        grant_id: str,
        category: str,
        subject: str,
        body: str,
        mailing_id: str | None,
        message_id: str,
    ) -> None:
        from protocol import canonical_dumps

        entry = {
            "grant_id": grant_id,
            "category": category,
            "subject": subject,
            "body": body,
            "mailing_id": mailing_id,
            "message_id": message_id,
            "queued_at": self.r.now(),
        }
        name = f"{self.r.now():016d}-{message_id}"
        with self.r.vault.transaction():
            self.r.vault.store.put(QUEUE_KIND, name, canonical_dumps(entry))
            self.r.vault.audit.append(
                "requester.contact_queued", {"grant_id": grant_id, "message_id": message_id}
            )

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        from protocol import canonical_loads

        return [(n, canonical_loads(raw)) for n, raw in self.r.vault.store.items(QUEUE_KIND)]

    async def flush(self) -> int:
        """Send what is queued, in order; stops at the first unreachable vault. Sent count.

        With several workers (D28) each sends only the messages for the vaults it holds.
        """
        from protocol import AccessDenied, ErrorCode, KluisError, RateLimited
        from vault.requester._errors import MutedByCustomer

        sent = 0
        for name, e in self.pending():
            rec = self.r.book.find_grant(e["grant_id"])
            if rec is not None and not self.r.local.owns(rec.vault_peer):
                continue  # another worker's vault (D28); the vault's message_id dedups anyway
            try:
                if rec is not None:  # a mute told while it waited (D43): dropped, counted
                    self.r.yields.check_not_muted(e["mailing_id"], rec.vault_peer, e["category"])
                await send_contact(
                    self.r, e["grant_id"], e["category"], e["subject"], e["body"],
                    mailing_id=e["mailing_id"], message_id=e["message_id"],
                )  # fmt: skip
                self.outcomes[e["message_id"]] = "sent"
                sent += 1
                if rec is not None:
                    self.r.yields.sent(
                        e["mailing_id"], e["message_id"], rec.vault_peer, e["category"]
                    )
            except MutedByCustomer:
                self.outcomes[e["message_id"]] = "muted"
            except (AccessDenied, RateLimited) as exc:
                self.outcomes[e["message_id"]] = exc.code.value
                if isinstance(exc, AccessDenied):
                    self.r.yields.refused(e["mailing_id"], exc.code.value)
                if exc.code in (ErrorCode.QUIET_HOURS, ErrorCode.RATE_LIMITED):
                    return sent  # try again later, keeping the order
            except (KluisError, TimeoutError, OSError):
                return sent  # still offline: keep the rest, in order
            with self.r.vault.transaction():
                self.r.vault.store.delete(QUEUE_KIND, name)
        return sent
