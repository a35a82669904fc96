"""Building blocks every wire model shares: the base model and bounded scalar types.

All wire models are frozen pydantic v2 models that forbid extra keys. Python
callers may construct them leniently (a list where a tuple is declared, an
enum's string value); bytes from a peer are always validated in **strict**
mode by :func:`protocol.messages.parse_message`, so ``"1"`` is never an int
and ``true`` is never ``1``.

The types here carry the limits from :mod:`protocol.limits`, so a model that
validates is also within bounds.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from . import limits
from ._exceptions import SignatureError
from .confusables import check_text, check_value
from .signing import public_key_from_peer_id

__all__ = [
    "BodyText",
    "Cents",
    "Days",
    "ErrorText",
    "Id",
    "Nonce",
    "OfferText",
    "PeerId",
    "PurposeText",
    "ReasonText",
    "ShortText",
    "Signature",
    "TimestampMs",
    "ValueText",
    "Version",
    "WireInt",
    "WireModel",
    "new_id",
    "new_nonce",
]


class WireModel(BaseModel):
    """Base of every wire model: immutable, no unknown keys, no hidden coercion on the wire.

    ``hide_input_in_errors``: a field value is personal data, and a validation
    error's text (which ends up in logs and tracebacks) must not carry it.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=True,
        defer_build=True,
    )


# Free text ends up in terminals and on the dashboard. The one rule for what a
# peer's text may contain is protocol.confusables.check_text (no control, format
# or bidi characters; newline and tab are fine); profile values follow the
# looser check_value (zero-width joiners allowed, bidi controls not).
_Clean = AfterValidator(check_text)

#: Free text of a purpose (why the data is wanted, in the requester's words).
PurposeText = Annotated[str, StringConstraints(max_length=limits.MAX_PURPOSE_TEXT), _Clean]
#: Free text of an offer (what the requester gives in return).
OfferText = Annotated[str, StringConstraints(max_length=limits.MAX_OFFER_TEXT), _Clean]
#: A decision or revocation reason.
ReasonText = Annotated[str, StringConstraints(max_length=limits.MAX_REASON_TEXT), _Clean]
#: An error frame's message.
ErrorText = Annotated[str, StringConstraints(max_length=limits.MAX_ERROR_TEXT), _Clean]
#: A string field value (a name, an address line); newlines are fine.
ValueText = Annotated[
    str, StringConstraints(max_length=limits.MAX_VALUE_CHARS), AfterValidator(check_value)
]
#: A peer's long free text (an inbox message body): a value's length, text's rules.
BodyText = Annotated[str, StringConstraints(max_length=limits.MAX_VALUE_CHARS), _Clean]
#: Short free text (a jurisdiction, a policy URL).
ShortText = Annotated[str, StringConstraints(max_length=limits.MAX_TEXT_FIELD_SMALL), _Clean]


def _check_peer_id(value: str) -> str:
    try:
        public_key_from_peer_id(value)
    except SignatureError as exc:
        raise ValueError("not an Ed25519 peer id") from exc
    return value


#: A libp2p Ed25519 peer id (``12D3KooW...``); validated by decoding the key.
PeerId = Annotated[
    str,
    StringConstraints(min_length=40, max_length=64, pattern=r"^[1-9A-HJ-NP-Za-km-z]+$"),
    AfterValidator(_check_peer_id),
]
#: A request, grant or receipt id: URL-safe characters, bounded.
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=limits.MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9_-]+$"),
]
#: A fresh random nonce, lower-case hex.
Nonce = Annotated[
    str,
    StringConstraints(
        min_length=2 * limits.NONCE_BYTES,
        max_length=2 * limits.NONCE_BYTES,
        pattern=r"^[0-9a-f]+$",
    ),
]
#: An Ed25519 signature, lower-case hex; empty means "not signed yet".
Signature = Annotated[str, StringConstraints(max_length=128, pattern=r"^([0-9a-f]{128})?$")]
#: A JSON integer that every peer (JavaScript included) reads exactly.
WireInt = Annotated[int, Field(ge=-limits.MAX_INT, le=limits.MAX_INT)]
#: Milliseconds since the Unix epoch (UTC).
TimestampMs = Annotated[int, Field(ge=0, le=limits.MAX_INT)]
#: A count of days.
Days = Annotated[int, Field(ge=0, le=limits.MAX_DAYS)]
#: Money in integer cents; never a float.
Cents = Annotated[int, Field(ge=0, le=limits.MAX_VALUE_CENTS)]
#: A monotonically increasing field version.
Version = Annotated[int, Field(ge=0, le=limits.MAX_INT)]


def new_id() -> str:
    """A fresh random identifier (128 bits, hex)."""
    return secrets.token_hex(16)


def new_nonce() -> str:
    """A fresh random nonce of :data:`~protocol.limits.NONCE_BYTES` bytes, hex."""
    return secrets.token_hex(limits.NONCE_BYTES)
