"""Contact, erasure and store-and-forward messages (contact and deliver protocols).

* :class:`ContactMessage` (signed by the requester) — a business writes to the
  owner under a grant with the ``contact`` action, in a ``category``
  (service, offer, survey). Reply: ``ack`` (``ref`` = ``message_id``) or
  ``error`` (``not_granted``, ``blocked``, ``category_refused``,
  ``cap_exceeded``, ``quiet_hours``, …). ``message_id`` is the idempotency key:
  a retry with the same id (fresh nonce and ``ts``) is acknowledged, never
  stored twice.
* :class:`EraseRequest` (signed by the vault) — delete everything received
  under ``grant_ids``. Answered with an :class:`ErasureReceipt` (signed by the
  requester) listing what was deleted.
* :class:`SealedDelivery` — a queued message for a business, sealed with HPKE
  (RFC 9180) to the business's announced key. The plaintext is the canonical
  JSON of an ``update``, ``revoke_notice`` or ``erase_request``. ``seq`` grows
  by one per message and per (vault, business); the business applies a
  delivery once (it keeps the highest ``seq`` applied) and in order. Reply:
  ``ack`` (``ref`` = ``delivery_id``), or for an erase request the
  ``erasure_receipt``, or ``error``.
* :class:`DeliveryPoll` — a business that comes online asks the vault to
  flush what it queued for it.
* :class:`ContactSignal` (signed by the vault) — what the owner chose to tell
  a business about its messages (decision D43): a message was ``read`` (only
  if the owner shares reads with this business: off by default), the owner
  muted or unmuted the business or one category (``mute``, ``unmute``: shared by
  default), or the owner's read ``sharing`` choice changed. It travels only
  inside a :class:`SealedDelivery` (queued, ordered, applied once).

:data:`CONTACT_GRAMMAR` and :data:`DELIVERY_GRAMMAR` are what the two
protocols say and in which order: the runtime runs every contact and delivery
stream through a :class:`~protocol.connection.Connection` with one of them.
:func:`parse_contact_frame` parses these plus every access message.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from . import limits
from ._exceptions import SignatureError
from .connection import Grammar, State
from .contact_terms import ContactCategory
from .ids import CONTACT, DELIVERY
from .messages import (
    MESSAGE_TYPES,
    Ack,
    Error,
    Message,
    RevokeNotice,
    Signed,
    Update,
    parse_message,
    verify,
)
from .scopes import FieldPattern
from .wire import BodyText, Id, Nonce, PeerId, ReasonText, ShortText, TimestampMs

__all__ = [
    "CONTACT_GRAMMAR",
    "CONTACT_MESSAGE_TYPES",
    "DELIVERY_GRAMMAR",
    "ContactMessage",
    "ContactSignal",
    "DeliveryBatch",
    "DeliveryPoll",
    "EraseRequest",
    "ErasureReceipt",
    "SealedDelivery",
    "parse_contact_frame",
    "parse_delivery_payload",
    "verify_erasure_receipt",
]

_Grants = Annotated[tuple[Id, ...], Field(max_length=limits.MAX_VALUES_PER_MESSAGE)]
#: HPKE ciphertext (enc || ct), lower-case hex, bounded so a delivery fits in a frame.
MAX_SEALED_HEX = 60_000
_SealedHex = Annotated[
    str, StringConstraints(min_length=2, max_length=MAX_SEALED_HEX, pattern=r"^[0-9a-f]+$")
]


class ContactMessage(Signed):
    """A business's message to the owner, under a grant with the ``contact`` action.

    ``mailing_id`` groups the messages of one mailing (campaign), so the owner
    (and the business, if the owner shares it) can see the mailing's yield.
    """

    signer_field: ClassVar[str] = "requester"

    type: Literal["contact_message"] = "contact_message"
    message_id: Id
    grant_id: Id
    requester: PeerId
    vault: PeerId
    category: ContactCategory
    mailing_id: Id | None = None
    subject: ShortText
    body: BodyText
    nonce: Nonce
    ts: TimestampMs


class ContactSignal(Signed):
    """The owner's vault tells a business what became of its messages (D43).

    ``kind``:

    * ``read`` — the owner read ``message_id`` (of ``mailing_id``). Sent only
      when the owner shares reads with this business (off by default);
    * ``mute`` / ``unmute`` — the owner muted (unmuted) the whole business
      (``category`` null) or one ``category``. ``message_id`` names the last
      message the vault accepted from the business before a mute, if any, so
      the business can put the mute on that message's mailing;
    * ``sharing`` — the owner turned read sharing on or off (``shares_reads``),
      so the business can tell "no reads" from "reads not shared".
    """

    signer_field: ClassVar[str] = "vault"

    type: Literal["contact_signal"] = "contact_signal"
    signal_id: Id
    vault: PeerId
    requester: PeerId
    kind: Literal["read", "mute", "unmute", "sharing"]
    message_id: Id | None = None
    mailing_id: Id | None = None
    category: ContactCategory | None = None
    shares_reads: bool | None = None
    ts: TimestampMs

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> ContactSignal:
        kind = self.kind
        if kind == "read" and self.message_id is None:
            raise ValueError("a read signal names its message")
        if kind in ("unmute", "sharing") and (self.message_id or self.mailing_id):
            raise ValueError(f"a {kind} signal names no message")
        if kind in ("read", "sharing") and self.category is not None:
            raise ValueError(f"a {kind} signal names no category")
        if (kind == "sharing") != (self.shares_reads is not None):
            raise ValueError("shares_reads goes with a sharing signal, and only with it")
        return self


class EraseRequest(Signed):
    """The owner asks the business to delete every piece of data received under ``grant_ids``."""

    signer_field: ClassVar[str] = "vault"

    type: Literal["erase_request"] = "erase_request"
    erasure_id: Id
    vault: PeerId
    requester: PeerId
    grant_ids: _Grants
    requested_at: TimestampMs
    reason: ReasonText = ""


class ErasureReceipt(Signed):
    """The business's signed proof that it erased: what it deleted, when, keys destroyed."""

    signer_field: ClassVar[str] = "requester"

    type: Literal["erasure_receipt"] = "erasure_receipt"
    erasure_id: Id
    requester: PeerId
    vault: PeerId
    grant_ids: _Grants
    deleted_fields: Annotated[
        tuple[FieldPattern, ...], Field(max_length=limits.MAX_VALUES_PER_MESSAGE)
    ]
    deleted_at: TimestampMs
    keys_destroyed: bool


class SealedDelivery(Message):
    """A queued message, HPKE-sealed to the requester's key. ``expires_at``: drop after."""

    type: Literal["sealed_delivery"] = "sealed_delivery"
    delivery_id: Id
    vault: PeerId
    requester: PeerId
    seq: Annotated[int, Field(ge=1, le=limits.MAX_INT)]
    created_at: TimestampMs
    expires_at: TimestampMs | None = None
    sealed: _SealedHex

    @model_validator(mode="after")
    def _times(self) -> SealedDelivery:
        if self.expires_at is not None and self.expires_at < self.created_at:
            raise ValueError("a delivery cannot expire before it is made")
        return self

    def info(self) -> bytes:
        """The HPKE ``info``: binds the ciphertext to sender, recipient, id and position."""
        return (
            f"kluis-deliver-v1\x00{self.vault}\x00{self.requester}\x00"
            f"{self.delivery_id}\x00{self.seq}"
        ).encode()


#: Deliveries per batch at most (a batch must also fit in one frame).
MAX_BATCH = 64


class DeliveryPoll(Message):
    """A business pulls its queue: "I am here; here are my answers to the last batch; next?"

    Sent on ``/kluis/deliver/1.0.0`` by a requester when it starts (and whenever
    it likes), on its own connection, so it works whatever the vault knows of
    its address. ``acked`` lists, in order, the ``delivery_id``s of the
    deliveries it just applied; ``receipts`` the erasure receipts among its
    answers. Reply: a :class:`DeliveryBatch` of the next deliveries (at most
    ``max_items``), or ``ack`` (``ref`` = ``poll``) when nothing more is queued.
    The caller is the Noise peer; ``requester`` must match it.
    """

    type: Literal["delivery_poll"] = "delivery_poll"
    requester: PeerId
    acked: Annotated[tuple[Id, ...], Field(max_length=MAX_BATCH)] = ()
    receipts: Annotated[tuple[ErasureReceipt, ...], Field(max_length=MAX_BATCH)] = ()
    max_items: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 16


class DeliveryBatch(Message):
    """The next deliveries of a requester's queue, in ``seq`` order (reply to a poll)."""

    type: Literal["delivery_batch"] = "delivery_batch"
    deliveries: Annotated[tuple[SealedDelivery, ...], Field(min_length=1, max_length=MAX_BATCH)]


CONTACT_MESSAGE_TYPES: dict[str, type[Message]] = {
    "delivery_poll": DeliveryPoll,
    "delivery_batch": DeliveryBatch,
    "contact_message": ContactMessage,
    "contact_signal": ContactSignal,
    "erase_request": EraseRequest,
    "erasure_receipt": ErasureReceipt,
    "sealed_delivery": SealedDelivery,
}
_INNER: dict[str, type[Message]] = {
    "update": Update,
    "revoke_notice": RevokeNotice,
    "erase_request": EraseRequest,
    "contact_signal": ContactSignal,
}


_CONTACT_FRAME_TYPES: dict[str, type[Message]] = {**MESSAGE_TYPES, **CONTACT_MESSAGE_TYPES}

#: ``/kluis/contact/1.0.0``: a business's message, answered with ``ack`` or ``error``.
CONTACT_GRAMMAR = Grammar(
    CONTACT,
    requests={"contact_message": State.AWAIT_ACK},
    responses={
        State.IDLE: {"error": State.CLOSED},
        State.AWAIT_ACK: {"ack": State.IDLE, "error": State.IDLE},
    },
    request_ref={"contact_message": "message_id"},
    reply_ref={"ack": "ref", "error": "ref"},
    types={"contact_message": ContactMessage, "ack": Ack, "error": Error},
)

#: ``/kluis/deliver/1.0.0``: a business polls its queue or hands in an erasure
#: receipt; a vault pushes one sealed delivery. A poll names no id (its replies
#: are not correlated), nor does the erasure receipt that answers a delivery.
DELIVERY_GRAMMAR = Grammar(
    DELIVERY,
    requests={
        "delivery_poll": State.AWAIT_BATCH,
        "erasure_receipt": State.AWAIT_ACK,
        "sealed_delivery": State.AWAIT_RECEIPT,
    },
    responses={
        State.IDLE: {"error": State.CLOSED},
        State.AWAIT_BATCH: {"delivery_batch": State.IDLE, "ack": State.IDLE, "error": State.IDLE},
        State.AWAIT_ACK: {"ack": State.IDLE, "error": State.IDLE},
        State.AWAIT_RECEIPT: {
            "ack": State.IDLE,
            "erasure_receipt": State.IDLE,
            "error": State.IDLE,
        },
    },
    request_ref={"erasure_receipt": "erasure_id", "sealed_delivery": "delivery_id"},
    reply_ref={"ack": "ref", "error": "ref"},
    types={
        "delivery_poll": DeliveryPoll,
        "delivery_batch": DeliveryBatch,
        "erasure_receipt": ErasureReceipt,
        "sealed_delivery": SealedDelivery,
        "ack": Ack,
        "error": Error,
    },
)


def parse_contact_frame(payload: bytes) -> Message:
    """Bytes of one frame → a contact/delivery message or any access message."""
    return parse_message(payload, _CONTACT_FRAME_TYPES)


def parse_delivery_payload(
    payload: bytes,
) -> Update | RevokeNotice | EraseRequest | ContactSignal:
    """The opened plaintext of a :class:`SealedDelivery` → the message it carries."""
    msg = parse_message(payload, _INNER)
    assert isinstance(msg, Update | RevokeNotice | EraseRequest | ContactSignal)
    return msg


def verify_erasure_receipt(receipt: ErasureReceipt, request: EraseRequest) -> None:
    """Check that ``receipt`` is the business's signed answer to ``request``, covering it all.

    Raises :class:`~protocol.SignatureError` (one opaque error) otherwise.
    """
    verify(receipt, request.requester)
    if (
        receipt.erasure_id != request.erasure_id
        or receipt.vault != request.vault
        or not set(request.grant_ids) <= set(receipt.grant_ids)
    ):
        raise SignatureError("signature does not verify")
