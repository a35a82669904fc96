"""Agreements: the terms both sides accepted, signed by both; accepting one creates a grant.

An :class:`Agreement` holds the agreed bid (wire form), the scope it implies
(the shared fields of the bid), the purpose and duration from the intent, the
value (the bid's price, integer cents), and both parties: the business's peer id
and — revealed here and only here — the vault's real peer id and addresses.

Both sign the same bytes: the canonical JSON of every field except the two
signatures. The business signs first (:meth:`Agreement.sign_business`), the
vault countersigns once it has created the grant (:meth:`Agreement.sign_vault`).
:meth:`Agreement.verify` checks both.

The negotiation stream also carries the deal frames defined here (after the
session's ``negotiate_*`` moves): ``negotiate_open`` (business → agent, first
frame), ``deal_award`` (agent → winner: the unsigned draft), ``deal_sign``
(winner → agent: the business-signed agreement and its access request),
``deal_done`` (agent → winner: the countersigned agreement and the grant) and
``deal_declined`` (agent → the others, or a refusal at any deal step).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from protocol import (
    AccessRequest,
    Grant,
    Identity,
    MalformedFrame,
    PurposeCode,
    SignatureError,
    UnknownMessage,
    canonical_dumps,
    canonical_loads,
    parse_message,
    sign_object,
    verify_object,
)
from protocol.wire import Cents, Days, Id, PeerId, TimestampMs

from .session import Reason, SessionId, WireBidModel

__all__ = [
    "DEAL_TYPES",
    "Agreement",
    "DealAward",
    "DealDeclined",
    "DealDone",
    "DealFrame",
    "DealSign",
    "NegotiateOpen",
    "dump_deal",
    "frame_type",
    "parse_deal",
    "parse_grant",
    "parse_request",
]

_Addr = Annotated[StrictStr, StringConstraints(min_length=1, max_length=256, pattern=r"^/[ -~]+$")]
_Path = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.*-]+$")
]
_Sig = Annotated[StrictStr, Field(pattern=r"^([0-9a-f]{128})?$")]
_SIGS: Final = ("business_sig", "vault_sig")


class Agreement(BaseModel):
    """A deal signed by both sides. See the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: Literal["agreement"] = "agreement"
    agreement_id: Id
    intent_id: Id
    session: SessionId
    category: Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    domain: Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    bid: WireBidModel
    fields: Annotated[list[_Path], Field(max_length=32)]
    purpose: PurposeCode
    purpose_text: Annotated[StrictStr, StringConstraints(max_length=280)] = ""
    duration_days: Annotated[Days, Field(ge=1)]
    value_cents: Cents
    business: PeerId
    vault: PeerId
    vault_addrs: Annotated[list[_Addr], Field(max_length=8)]
    created_at: TimestampMs
    business_sig: _Sig = ""
    vault_sig: _Sig = ""

    def body(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for key in _SIGS:
            data.pop(key)
        return data

    def _sig_of(self, identity: Identity) -> str:
        return str(sign_object(identity, self.body())["sig"])

    def sign_business(self, identity: Identity) -> Agreement:
        if identity.peer_id != self.business:
            raise SignatureError("only the business named in the agreement may sign as business")
        return self.model_copy(update={"business_sig": self._sig_of(identity)})

    def sign_vault(self, identity: Identity) -> Agreement:
        if identity.peer_id != self.vault:
            raise SignatureError("only the vault named in the agreement may sign as vault")
        return self.model_copy(update={"vault_sig": self._sig_of(identity)})

    def verify_business(self) -> None:
        verify_object(self.business, {**self.body(), "sig": self.business_sig})

    def verify_vault(self) -> None:
        verify_object(self.vault, {**self.body(), "sig": self.vault_sig})

    def verify(self) -> None:
        """Raise :class:`protocol.SignatureError` unless both sides signed exactly this."""
        self.verify_business()
        self.verify_vault()

    @property
    def signed(self) -> bool:
        return bool(self.business_sig and self.vault_sig)

    def same_terms(self, other: Agreement) -> bool:
        return self.body() == other.body()

    def matches_request(self, request: AccessRequest) -> bool:
        """True if ``request`` asks for exactly these terms (scope, purpose, duration, value)."""
        return (
            request.requester == self.business
            and request.vault == self.vault
            and sorted(request.scope.fields) == sorted(self.fields)
            and request.purpose.code is self.purpose
            and request.duration_days == self.duration_days
            and request.offer.value_cents == self.value_cents
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return canonical_dumps(self.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any] | bytes) -> Agreement:
        raw = canonical_loads(data) if isinstance(data, bytes | bytearray) else data
        try:
            return cls.model_validate_json(canonical_dumps(raw), strict=True)
        except ValidationError as exc:
            raise MalformedFrame("invalid agreement") from exc


# -- deal frames on the negotiation stream ---------------------------------------------------


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: str
    session: SessionId


class NegotiateOpen(_Frame):
    """First frame of a negotiation stream: which intent the business answers."""

    type: Literal["negotiate_open"] = "negotiate_open"
    intent_id: Id


class DealAward(_Frame):
    type: Literal["deal_award"] = "deal_award"
    agreement: Agreement


class DealSign(_Frame):
    type: Literal["deal_sign"] = "deal_sign"
    agreement: Agreement
    #: the business-signed access request for exactly the agreed terms (JSON object)
    request: dict[str, Any]


class DealDone(_Frame):
    type: Literal["deal_done"] = "deal_done"
    agreement: Agreement
    #: the vault-signed grant (JSON object)
    grant: dict[str, Any]


class DealDeclined(_Frame):
    type: Literal["deal_declined"] = "deal_declined"
    reason: Reason = ""


DealFrame: TypeAlias = NegotiateOpen | DealAward | DealSign | DealDone | DealDeclined
_ADAPTER: Final[TypeAdapter[Any]] = TypeAdapter(Annotated[DealFrame, Field(discriminator="type")])
DEAL_TYPES: Final = frozenset(
    {"negotiate_open", "deal_award", "deal_sign", "deal_done", "deal_declined"}
)


def frame_type(payload: bytes) -> str:
    """The ``type`` of a frame, without validating the rest (MalformedFrame if none)."""
    value = canonical_loads(payload)
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise MalformedFrame("a frame is a JSON object with a string 'type'")
    return str(value["type"])


def parse_deal(payload: bytes) -> DealFrame:
    kind = frame_type(payload)
    if kind not in DEAL_TYPES:
        raise UnknownMessage("not a deal frame")
    try:
        frame: DealFrame = _ADAPTER.validate_json(payload, strict=True)
    except ValidationError as exc:
        raise MalformedFrame(f"invalid {kind}") from exc
    return frame


def dump_deal(frame: DealFrame) -> bytes:
    return canonical_dumps(frame.model_dump(mode="json"))


def parse_request(data: dict[str, Any]) -> AccessRequest:
    msg = parse_message(canonical_dumps(data))
    if not isinstance(msg, AccessRequest):
        raise MalformedFrame("deal_sign carries no access request")
    return msg


def parse_grant(data: dict[str, Any]) -> Grant:
    try:
        return Grant.model_validate_json(canonical_dumps(data), strict=True)
    except ValidationError as exc:
        raise MalformedFrame("deal_done carries no valid grant") from exc
