"""Intents: what a customer wants, cast on a gossipsub topic per category, linked to no vault.

An :class:`Intent` says what is wanted (a category, a free-text ``wanted``, the
negotiation :class:`~agents.Domain` with public ``constraints``), which profile
fields the customer may share, the purpose and duration, and where to negotiate:
the peer id and addresses of an **ephemeral** node. It is signed by a key made
for this intent only (:func:`make_intent` → ``Identity.generate()``), and that
key *is* the ephemeral node's libp2p identity, so ``signer == negotiate_peer``.
Nothing in it names the vault: two intents of one vault share no identifying
field (tests/agents/test_intents.py checks that).

:func:`parse_intent` is the receiving side: size limit, strict model, signature
by ``signer``, ``signer == negotiate_peer`` (and the gossipsub publisher, when
given), not expired, the domain rebuilds. It raises :class:`protocol.KluisError`
subclasses only; :func:`intent_validator` wraps it as a gossipsub validator that
drops bad intents silently (debug log).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)

from protocol import (
    Identity,
    KluisError,
    MalformedFrame,
    PurposeCode,
    SignatureError,
    canonical_dumps,
    canonical_loads,
    new_id,
    new_nonce,
    sign_object,
    verify_object,
)
from protocol.wire import Days, Id, Nonce, PeerId, TimestampMs

from .domain import (
    MAX_PLACES,
    BooleanIssue,
    CategoricalIssue,
    Domain,
    FieldsIssue,
    Issue,
    NumericIssue,
    OrdinalIssue,
)
from .mandate import TermLimit
from .session import _clean

__all__ = [
    "INTENT_TOPIC_PREFIX",
    "MAX_INTENT_BYTES",
    "DomainSpec",
    "Intent",
    "IntentExpired",
    "IssueSpec",
    "domain_from_spec",
    "domain_to_spec",
    "intent_topic",
    "intent_validator",
    "make_intent",
    "parse_intent",
]

logger = logging.getLogger(__name__)

#: Intents are small; a larger one is dropped unread.
MAX_INTENT_BYTES: Final = 8 * 1024
INTENT_TOPIC_PREFIX: Final = "/kluis/intents/1/"
#: Longest an intent may stay open (wall clock).
MAX_INTENT_LIFETIME_MS: Final = 24 * 3600 * 1000

_Name = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
_Label = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=128), AfterValidator(_clean)
]
_Path = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.*-]+$")
]
_Text = Annotated[StrictStr, StringConstraints(max_length=280), AfterValidator(_clean)]
_Addr = Annotated[StrictStr, StringConstraints(min_length=1, max_length=256, pattern=r"^/[ -~]+$")]
_Int = Annotated[StrictInt, Field(ge=-(2**53), le=2**53)]


class IntentExpired(KluisError):
    """The intent's ``expires_at`` has passed."""


def intent_topic(category: str) -> str:
    """The gossipsub topic of a category: ``/kluis/intents/1/<category>``."""
    if not category or len(category) > 64 or not all(c.isalnum() or c in "_.-" for c in category):
        raise MalformedFrame("a category is 1-64 letters, digits, '_', '.', '-'")
    return INTENT_TOPIC_PREFIX + category


# -- the domain on the wire ------------------------------------------------------------


class IssueSpec(BaseModel):
    """One issue on the wire (``kind`` picks which of the other fields apply)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: Literal["numeric", "boolean", "ordinal", "categorical", "fields"]
    name: _Name
    low: _Int | None = None
    high: _Int | None = None
    step: Annotated[StrictInt, Field(ge=1, le=2**53)] | None = None
    #: numeric only: low/high/step/points are the values scaled by 10**places
    places: Annotated[StrictInt, Field(ge=0, le=MAX_PLACES)] = 0
    points: Annotated[list[_Int], Field(max_length=64)] | None = None
    unit: Annotated[StrictStr, StringConstraints(max_length=16)] = ""
    levels: Annotated[list[_Label], Field(max_length=64)] | None = None
    fields: Annotated[list[_Path], Field(max_length=32)] | None = None
    required: Annotated[list[_Path], Field(max_length=32)] | None = None
    max_shared: Annotated[StrictInt, Field(ge=0, le=32)] | None = None


class DomainSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: _Name
    issues: Annotated[list[IssueSpec], Field(min_length=1, max_length=16)]


def _issue_to_spec(issue: Issue) -> IssueSpec:
    if isinstance(issue, NumericIssue):
        scaled = issue.to_wire  # numbers travel as integers scaled by 10**places
        return IssueSpec(kind="numeric", name=issue.name, low=scaled(issue.low),
                         high=scaled(issue.high), step=scaled(issue.step), places=issue.places,
                         points=[scaled(p) for p in issue.points] or None,
                         unit=issue.unit)  # fmt: skip
    if isinstance(issue, BooleanIssue):
        return IssueSpec(kind="boolean", name=issue.name)
    if isinstance(issue, OrdinalIssue):
        return IssueSpec(kind="ordinal", name=issue.name, levels=list(issue.levels))
    if isinstance(issue, CategoricalIssue):
        return IssueSpec(kind="categorical", name=issue.name, levels=list(issue.options))
    if isinstance(issue, FieldsIssue):
        return IssueSpec(kind="fields", name=issue.name, fields=list(issue.fields),
                         required=sorted(issue.required), max_shared=issue.max_shared)  # fmt: skip
    raise MalformedFrame(f"issue kind {type(issue).__name__} has no wire form")


def _issue_from_spec(spec: IssueSpec) -> Issue:
    if spec.kind == "numeric":
        if spec.low is None or spec.high is None:
            raise MalformedFrame(f"numeric issue {spec.name} needs low and high")

        def num(scaled: int) -> int | Decimal:
            return Decimal(scaled).scaleb(-spec.places) if spec.places else scaled

        if spec.points:
            return NumericIssue.of_points(spec.name, [num(p) for p in spec.points], spec.unit)
        return NumericIssue(spec.name, num(spec.low), num(spec.high), step=num(spec.step or 1),
                            unit=spec.unit)  # fmt: skip
    if spec.kind == "boolean":
        return BooleanIssue(spec.name)
    if spec.kind in ("ordinal", "categorical"):
        if not spec.levels:
            raise MalformedFrame(f"issue {spec.name} needs levels")
        cls = OrdinalIssue if spec.kind == "ordinal" else CategoricalIssue
        return cls(spec.name, tuple(spec.levels))
    if not spec.fields:
        raise MalformedFrame(f"fields issue {spec.name} needs fields")
    return FieldsIssue(spec.name, tuple(spec.fields), required=frozenset(spec.required or ()),
                       max_shared=spec.max_shared)  # fmt: skip


def domain_to_spec(domain: Domain) -> DomainSpec:
    return DomainSpec(name=domain.name, issues=[_issue_to_spec(i) for i in domain.issues])


def domain_from_spec(spec: DomainSpec) -> Domain:
    """Rebuild a :class:`Domain`; any inconsistency is a :class:`MalformedFrame`."""
    try:
        return Domain(spec.name, tuple(_issue_from_spec(i) for i in spec.issues))
    except KluisError as exc:
        raise MalformedFrame(f"the intent's domain is invalid: {exc.message}") from exc
    except (ValueError, TypeError) as exc:
        raise MalformedFrame("the intent's domain is invalid") from exc


# -- the intent ----------------------------------------------------------------------------


class Intent(BaseModel):
    """A signed, vault-anonymous intent. See the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: Literal["intent"] = "intent"
    intent_id: Id
    category: _Name
    wanted: _Text = ""
    domain: DomainSpec
    #: public limits the customer announces (businesses may skip what they cannot meet)
    constraints: Annotated[dict[_Name, TermLimit], Field(max_length=16)] = Field(
        default_factory=dict
    )
    #: the fields issue of ``domain`` whose values are shared profile paths
    fields_issue: _Name | None = None
    #: the price issue of ``domain`` (integer cents) — the deal's value
    price_issue: _Name | None = None
    may_share: Annotated[list[_Path], Field(max_length=32)] = Field(default_factory=list)
    purpose: PurposeCode
    duration_days: Annotated[Days, Field(ge=1)]
    #: the ephemeral node businesses dial on /kluis/negotiate/1.0.0
    negotiate_peer: PeerId
    negotiate_addrs: Annotated[list[_Addr], Field(min_length=1, max_length=8)]
    #: wall-clock ms after which the agent picks a winner and stops negotiating
    deadline: TimestampMs
    #: the alternating-offers rounds each session may use
    rounds: Annotated[StrictInt, Field(ge=1, le=1000)] = 20
    expires_at: TimestampMs
    nonce: Nonce
    signer: PeerId
    sig: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{128}$")]

    def body(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data.pop("sig")
        return data

    def to_bytes(self) -> bytes:
        return canonical_dumps(self.model_dump(mode="json"))

    def to_domain(self) -> Domain:
        return domain_from_spec(self.domain)

    @property
    def topic(self) -> str:
        return intent_topic(self.category)


def make_intent(
    key: Identity,
    *,
    category: str,
    domain: Domain,
    purpose: PurposeCode | str,
    duration_days: int,
    negotiate_addrs: list[str],
    deadline: int,
    rounds: int = 20,
    expires_at: int | None = None,
    wanted: str = "",
    constraints: dict[str, TermLimit] | None = None,
    fields_issue: str | None = None,
    price_issue: str | None = None,
    may_share: list[str] | None = None,
) -> Intent:
    """Build and sign an intent with ``key`` — a fresh key for this intent only.

    ``negotiate_addrs`` are the ephemeral node's addresses (that node runs with
    ``key`` as its identity). No argument identifies the vault, by design.
    """
    intent_topic(category)
    body: dict[str, Any] = {
        "type": "intent",
        "intent_id": new_id(),
        "category": category,
        "wanted": wanted,
        "domain": domain_to_spec(domain).model_dump(mode="json"),
        "constraints": {k: v.model_dump(mode="json") for k, v in (constraints or {}).items()},
        "fields_issue": fields_issue,
        "price_issue": price_issue,
        "may_share": sorted(may_share or []),
        "purpose": PurposeCode(purpose).value,
        "duration_days": duration_days,
        "negotiate_peer": key.peer_id,
        "negotiate_addrs": list(negotiate_addrs),
        "deadline": deadline,
        "rounds": rounds,
        "expires_at": deadline if expires_at is None else expires_at,
        "nonce": new_nonce(),
        "signer": key.peer_id,
    }
    signed = sign_object(key, body)
    try:
        intent = Intent.model_validate_json(canonical_dumps(signed), strict=True)
    except ValidationError as exc:
        raise MalformedFrame(f"invalid intent: {_where(exc)}") from exc
    if len(intent.to_bytes()) > MAX_INTENT_BYTES:
        raise MalformedFrame(f"the intent is over {MAX_INTENT_BYTES} bytes")
    intent.to_domain()
    return intent


def _where(exc: ValidationError) -> str:
    return ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])


def parse_intent(data: bytes, *, now_ms: int | None = None, publisher: str | None = None) -> Intent:
    """Validate a received intent (see the module docstring). Raises KluisError subclasses."""
    if len(data) > MAX_INTENT_BYTES:
        raise MalformedFrame("the intent is oversized")
    raw = canonical_loads(data)
    if not isinstance(raw, dict) or raw.get("type") != "intent":
        raise MalformedFrame("not an intent")
    try:
        intent = Intent.model_validate_json(canonical_dumps(raw), strict=True)
    except ValidationError as exc:
        raise MalformedFrame(f"invalid intent: {_where(exc)}") from exc
    if intent.signer != intent.negotiate_peer:
        raise SignatureError("the intent is not signed by its negotiating peer")
    if publisher is not None and publisher != intent.signer:
        raise SignatureError("the intent was published by another peer")
    verify_object(intent.signer, intent.model_dump(mode="json"))
    if now_ms is not None:
        if intent.expires_at <= now_ms:
            raise IntentExpired("the intent has expired")
        if intent.expires_at - now_ms > MAX_INTENT_LIFETIME_MS:
            raise MalformedFrame("the intent lives too long")
    if intent.fields_issue is not None and intent.fields_issue not in {
        i.name for i in intent.domain.issues
    }:
        raise MalformedFrame("fields_issue is not an issue of the domain")
    intent.to_domain()
    return intent


def intent_validator(clock: Any) -> Any:
    """A gossipsub validator ``(data, publisher) -> bool`` around :func:`parse_intent`."""

    def check(data: bytes, publisher: str) -> bool:
        try:
            parse_intent(data, now_ms=int(clock()), publisher=publisher)
        except KluisError as exc:
            logger.debug("dropping an intent: %s", type(exc).__name__)
            return False
        return True

    return check
