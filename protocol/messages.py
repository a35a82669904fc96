"""Every message of ``/kluis/access/1.0.0``, and how to parse, dump, sign and verify them.

Each message is a frozen pydantic model with a ``type`` literal; one frame
carries one message as a JSON object. :func:`parse_message` is the only way
bytes from a peer become a message, and it fails in exactly three typed ways:

* :class:`~protocol.MalformedFrame` — not canonical-safe JSON (floats, duplicate
  keys, bad UTF-8, too deep), not an object, no ``type``, or a model that does
  not validate (missing, extra or wrongly typed fields, values out of bounds);
* :class:`~protocol.UnknownMessage` — a ``type`` we do not speak.

Peer input is validated in pydantic's **strict** mode: ``"1"`` is not an int,
``1`` is not a bool, and unknown keys are refused.

**Signatures.** A signed message's ``sig`` is Ed25519 (hex) over the canonical
JSON (:func:`~protocol.canonical_dumps`) of the whole message as this module
dumps it — *every* field, defaults included, ``type`` included — minus ``sig``.
The ``type`` inside the signed bytes means a signature over one kind of object
can never be replayed as another. The signer is named by a peer id field in the
message itself (:attr:`Signed.signer_field`): ``requester`` for what a
requester signs, ``vault`` for what a vault signs. :func:`verify` checks the
signature against that peer id; the vault additionally passes the
Noise-authenticated remote peer id so that a message signed by one peer cannot
be presented by another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from . import limits
from ._exceptions import (
    ErrorCode,
    KluisError,
    LocalProtocolError,
    MalformedFrame,
    SignatureError,
    UnknownMessage,
)
from .business import BusinessProfile
from .canonical import canonical_dumps, canonical_loads
from .contact_terms import ContactPolicy, HpkePublicKey
from .purposes import Purpose
from .scopes import FieldPath, FieldPattern, Scope
from .signed import Message, Signed
from .signing import Identity, sign_object, verify_object
from .wire import (
    Cents,
    Days,
    ErrorText,
    Id,
    Nonce,
    OfferText,
    PeerId,
    ReasonText,
    TimestampMs,
    ValueText,
    Version,
    WireInt,
    WireModel,
)

__all__ = [
    "MESSAGE_TYPES",
    "AccessRequest",
    "Ack",
    "AnyMessage",
    "AwaitDecision",
    "Decision",
    "DecisionStatus",
    "DeletionReason",
    "DeletionReceipt",
    "Error",
    "FieldRecord",
    "FieldValue",
    "Grant",
    "Message",
    "Offer",
    "Read",
    "ReadResult",
    "RevokeNotice",
    "Signed",
    "Subscribe",
    "Update",
    "dump_message",
    "error_from_exception",
    "parse_message",
    "sign",
    "verify",
]

_StringList = Annotated[tuple[ValueText, ...], Field(max_length=limits.MAX_LIST_ITEMS)]

#: A profile field's value: null, a bool, an integer, a string or a list of strings.
#: Never a float: amounts are integer cents, times integer milliseconds.
FieldValue = None | StrictBool | WireInt | ValueText | _StringList

_DurationDays = Annotated[int, Field(ge=1, le=limits.MAX_DAYS)]
_WaitMs = Annotated[int, Field(ge=0, le=limits.MAX_WAIT_MS)]
_Patterns = Annotated[
    tuple[FieldPattern, ...], Field(min_length=1, max_length=limits.MAX_FIELDS_PER_SCOPE)
]


class Offer(WireModel):
    """What the requester gives in return for the data. Money is integer cents."""

    description: OfferText = ""
    value_cents: Cents = 0


class DecisionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class DeletionReason(StrEnum):
    REVOKED = "revoked"
    RETENTION_EXPIRED = "retention_expired"
    ERASURE = "erasure"


# --------------------------------------------------------------------- requests


class AccessRequest(Signed):
    """A requester asks a vault for ``scope``, for ``purpose``, offering ``offer``.

    ``duration_days`` is how long access should last; ``retention_days`` is how
    long the requester will keep the data after access ends (0 = delete at once).
    Optional (omitted when unset): ``contact``, the contact terms asked for with
    the ``contact`` action; ``hpke_key``, the requester's HPKE public key, so the
    vault can seal store-and-forward deliveries to it (signed here by its identity);
    ``business``, the requester's own signed :class:`~protocol.business.BusinessProfile`
    (who asks: names, website, policy, contact, jurisdiction).
    """

    signer_field: ClassVar[str] = "requester"
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"contact", "hpke_key", "business"})

    type: Literal["access_request"] = "access_request"
    request_id: Id
    requester: PeerId
    vault: PeerId
    scope: Scope
    purpose: Purpose
    duration_days: _DurationDays
    retention_days: Days
    offer: Offer
    nonce: Nonce
    ts: TimestampMs
    contact: ContactPolicy | None = None
    hpke_key: HpkePublicKey | None = None
    business: BusinessProfile | None = None

    @model_validator(mode="after")
    def _own_profile(self) -> AccessRequest:
        if self.business is not None and self.business.peer_id != self.requester:
            raise ValueError("the business profile belongs to another peer")
        return self

    def embedded(self) -> tuple[Signed, ...]:
        return () if self.business is None else (self.business,)


class AwaitDecision(Message):
    """Long-poll: answer with the request's :class:`Decision` once the owner decides.

    The vault answers ``pending`` if no decision is made within ``wait_ms``.
    """

    type: Literal["await_decision"] = "await_decision"
    request_id: Id
    wait_ms: _WaitMs = 30_000


class Read(Signed):
    """Read ``fields`` (paths or ``subtree.*`` patterns) under a grant."""

    signer_field: ClassVar[str] = "requester"

    type: Literal["read"] = "read"
    grant_id: Id
    requester: PeerId
    fields: _Patterns
    nonce: Nonce
    ts: TimestampMs


class Subscribe(Signed):
    """Receive an :class:`Update` whenever one of ``fields`` changes, while the grant lives."""

    signer_field: ClassVar[str] = "requester"

    type: Literal["subscribe"] = "subscribe"
    grant_id: Id
    requester: PeerId
    fields: _Patterns
    nonce: Nonce
    ts: TimestampMs


class DeletionReceipt(Signed):
    """The requester's signed statement that it deleted a grant's data.

    ``key_destroyed`` says that any key the data was sealed under is gone too
    (crypto-shredding), so backups are unreadable as well.
    """

    signer_field: ClassVar[str] = "requester"

    type: Literal["deletion_receipt"] = "deletion_receipt"
    receipt_id: Id
    grant_id: Id
    requester: PeerId
    vault: PeerId
    reason: DeletionReason
    deleted_fields: Annotated[
        tuple[FieldPattern, ...], Field(max_length=limits.MAX_VALUES_PER_MESSAGE)
    ]
    deleted_at: TimestampMs
    key_destroyed: bool


class RevokeNotice(Signed):
    """The vault's signed notice that a grant is revoked (``erase``: delete now)."""

    signer_field: ClassVar[str] = "vault"

    type: Literal["revoke_notice"] = "revoke_notice"
    grant_id: Id
    vault: PeerId
    requester: PeerId
    revoked_at: TimestampMs
    erase: bool = False
    reason: ReasonText = ""


# ---------------------------------------------------------------------- replies


class Grant(Signed):
    """The owner's signed decision: a capability bound to one requester's peer id.

    A grant never exceeds its request: its scope is a subset of the requested
    scope, its duration and retention at most what was asked. ``contact`` (omitted
    when unset) holds the contact terms when the scope allows ``contact``.
    """

    signer_field: ClassVar[str] = "vault"
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"contact"})

    type: Literal["grant"] = "grant"
    grant_id: Id
    request_id: Id
    vault: PeerId
    requester: PeerId
    scope: Scope
    purpose: Purpose
    issued_at: TimestampMs
    expires_at: TimestampMs
    retention_days: Days
    offer: Offer
    contact: ContactPolicy | None = None

    @model_validator(mode="after")
    def _times(self) -> Grant:
        if self.expires_at <= self.issued_at:
            raise ValueError("a grant must expire after it is issued")
        if self.contact is not None and "contact" not in self.scope.actions:
            raise ValueError("contact terms come only with the contact action")
        return self


class Decision(Message):
    """The answer to an access request: pending, approved (with its grant) or denied."""

    type: Literal["decision"] = "decision"
    request_id: Id
    status: DecisionStatus
    grant: Grant | None = None
    reason: ReasonText = ""

    @model_validator(mode="after")
    def _grant_iff_approved(self) -> Decision:
        if (self.status is DecisionStatus.APPROVED) != (self.grant is not None):
            raise ValueError("a grant comes with, and only with, an approval")
        if self.grant is not None and self.grant.request_id != self.request_id:
            raise ValueError("the grant answers another request")
        return self


class FieldRecord(WireModel):
    """One field's value with its version and last-update time."""

    value: FieldValue
    version: Version
    updated_at: TimestampMs


class ReadResult(Message):
    """The values of the granted fields that exist. Absent fields are simply missing."""

    type: Literal["read_result"] = "read_result"
    grant_id: Id
    values: Annotated[dict[FieldPath, FieldRecord], Field(max_length=limits.MAX_VALUES_PER_MESSAGE)]


class Update(Message):
    """A subscribed field changed (``deleted``: it no longer has a value)."""

    type: Literal["update"] = "update"
    grant_id: Id
    path: FieldPath
    value: FieldValue = None
    deleted: bool = False
    version: Version
    ts: TimestampMs

    @model_validator(mode="after")
    def _deleted_has_no_value(self) -> Update:
        if self.deleted and self.value is not None:
            raise ValueError("a deleted field carries no value")
        return self


class Ack(Message):
    """Acknowledges the request or notice whose id is ``ref``."""

    type: Literal["ack"] = "ack"
    ref: Id


_CODES = frozenset(code.value for code in ErrorCode)
_CODE_SHAPE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class Error(Message):
    """A typed error reply. ``message`` is for humans and never holds field values.

    A well-formed code we do not know (from a newer peer) is read as
    ``protocol_error``, so adding codes never breaks older nodes.
    """

    type: Literal["error"] = "error"
    code: ErrorCode
    message: ErrorText = ""
    ref: Id | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _unknown_code(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in _CODES and _CODE_SHAPE.fullmatch(value):
            return ErrorCode.PROTOCOL.value
        return value


AnyMessage = Annotated[
    AccessRequest
    | AwaitDecision
    | Decision
    | Read
    | ReadResult
    | Subscribe
    | Update
    | RevokeNotice
    | DeletionReceipt
    | Ack
    | Error,
    Field(discriminator="type"),
]

#: Every message type that may travel alone in a frame, by its ``type``.
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        AccessRequest,
        AwaitDecision,
        Decision,
        Read,
        ReadResult,
        Subscribe,
        Update,
        RevokeNotice,
        DeletionReceipt,
        Ack,
        Error,
    )
}

_UNSAFE = re.compile(r"[^A-Za-z0-9_.*\-\[\]]")


def _describe(exc: ValidationError, kind: str) -> str:
    # Locations and error kinds only: never the offending input, which may be a
    # personal value. Locations may hold peer-chosen dict keys, so they are scrubbed.
    parts = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{_UNSAFE.sub('?', loc)[:60]} ({err['type']})")
    more = exc.error_count() - len(parts)
    text = f"invalid {kind}: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    return text[: limits.MAX_ERROR_TEXT]


def parse_message(payload: bytes, types: Mapping[str, type[Message]] | None = None) -> Message:
    """Bytes of one frame → a validated message. Raises only ``RemoteProtocolError``s.

    ``types`` maps the ``type`` tags this endpoint accepts to their models
    (default: the access protocol's :data:`MESSAGE_TYPES`).
    """
    value = canonical_loads(payload)
    if not isinstance(value, dict):
        raise MalformedFrame("a message is a JSON object")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise MalformedFrame("a message needs a string 'type'")
    cls = (MESSAGE_TYPES if types is None else types).get(kind)
    if cls is None:
        raise UnknownMessage("unknown message type")
    try:
        return cls.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        raise MalformedFrame(_describe(exc, kind)) from exc


def dump_message(message: Message) -> bytes:
    """A message (or any wire model) → its canonical JSON bytes."""
    return canonical_dumps(message.model_dump(mode="json"))


S = TypeVar("S", bound=Signed)


def sign(message: S, identity: Identity) -> S:
    """Return ``message`` signed by ``identity``, which must be the peer it names as signer."""
    if message.signer != identity.peer_id:
        raise LocalProtocolError(
            f"{message.type} must be signed by its {message.signer_field}, not by this identity"
        )
    signed = sign_object(identity, message.model_dump(mode="json"))
    return message.model_copy(update={"sig": signed["sig"]})


def verify(message: Signed, peer_id: str | None = None) -> None:
    """Check ``message.sig`` against the peer it names as signer.

    With ``peer_id`` (the vault passes the Noise-authenticated remote peer), the
    named signer must also be that peer. Every failure is the same opaque
    :class:`~protocol.SignatureError`.
    """
    signer = message.signer
    if peer_id is not None and peer_id != signer:
        raise SignatureError("signature does not verify")
    if not message.sig:
        raise SignatureError("signature does not verify")
    try:
        verify_object(signer, message.model_dump(mode="json"))
    except SignatureError:
        raise
    except (ValueError, TypeError) as exc:
        raise SignatureError("signature does not verify") from exc
    for inner in message.embedded():
        verify(inner)


def error_from_exception(exc: KluisError, ref: str | None = None) -> Error:
    """The error reply for ``exc``: its code and a bounded, control-free message."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", " ", exc.message)
    safe_ref = ref if ref is not None and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", ref) else None
    return Error(code=exc.code, message=text[: limits.MAX_ERROR_TEXT], ref=safe_ref)
