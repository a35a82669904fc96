"""Hypothesis strategies for every wire model, shared by the protocol tests."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

from protocol import limits
from protocol._exceptions import ErrorCode
from protocol.business import BusinessProfile
from protocol.messages import (
    AccessRequest,
    Ack,
    AwaitDecision,
    Decision,
    DecisionStatus,
    DeletionReason,
    DeletionReceipt,
    Error,
    FieldRecord,
    Grant,
    Message,
    Offer,
    Read,
    ReadResult,
    RevokeNotice,
    Subscribe,
    Update,
    sign,
)
from protocol.purposes import Purpose, PurposeCode
from protocol.scopes import Action, Scope
from protocol.signing import Identity

#: A small fixed pool: key generation is not what we are testing.
IDENTITIES = [Identity(bytes([i]) * 32) for i in range(1, 4)]
BY_PEER = {i.peer_id: i for i in IDENTITIES}

identities = st.sampled_from(IDENTITIES)
peer_ids = identities.map(lambda i: i.peer_id)

segments = st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True)
paths = st.lists(segments, min_size=1, max_size=4).map(".".join)
patterns = st.one_of(paths, paths.map(lambda p: p + ".*"))
actions = st.lists(st.sampled_from(list(Action)), min_size=1, max_size=3)
scopes = st.builds(Scope.of, st.lists(patterns, min_size=1, max_size=6), actions)

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), max_size=40
)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
nonces = st.binary(min_size=limits.NONCE_BYTES, max_size=limits.NONCE_BYTES).map(bytes.hex)
timestamps = st.integers(0, limits.MAX_INT)
small_ts = st.integers(0, 10**13)
days = st.integers(0, limits.MAX_DAYS)

purposes = st.builds(Purpose, code=st.sampled_from(list(PurposeCode)), text=text)
offers = st.builds(Offer, description=text, value_cents=st.integers(0, limits.MAX_VALUE_CENTS))
field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-limits.MAX_INT, limits.MAX_INT),
    text,
    st.lists(text, max_size=5).map(tuple),
)
records = st.builds(FieldRecord, value=field_values, version=timestamps, updated_at=timestamps)


@st.composite
def access_requests(draw: st.DrawFn) -> AccessRequest:
    who = draw(identities)
    msg = AccessRequest(
        request_id=draw(ids),
        requester=who.peer_id,
        vault=draw(peer_ids),
        scope=draw(scopes),
        purpose=draw(purposes),
        duration_days=draw(st.integers(1, limits.MAX_DAYS)),
        retention_days=draw(days),
        offer=draw(offers),
        nonce=draw(nonces),
        ts=draw(timestamps),
        business=draw(st.none() | business_profiles(who)),
    )
    return sign(msg, who) if draw(st.booleans()) else msg


names = st.text(
    st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=limits.MAX_NAME_CHARS
).filter(lambda t: unicodedata.normalize("NFC", t) == t)


@st.composite
def business_profiles(draw: st.DrawFn, who: Identity) -> BusinessProfile:
    """Valid profiles with arbitrary names (any letters, digits, punctuation, symbols)."""
    msg = BusinessProfile(
        peer_id=who.peer_id,
        display_name=draw(names),
        legal_name=draw(names),
        contact_email="privacy@example.org",
        jurisdiction=draw(st.sampled_from(["NL", "DE", "US-CA"])),
        privacy_policy_url="https://example.org/privacy",
        website=draw(st.sampled_from(["", "https://example.org", "https://xn--dspaak-fya.nl"])),
        issued_at=draw(timestamps),
    )
    return sign(msg, who)


@st.composite
def grants(draw: st.DrawFn, request_id: str | None = None) -> Grant:
    vault = draw(identities)
    issued = draw(small_ts)
    msg = Grant(
        grant_id=draw(ids),
        request_id=request_id or draw(ids),
        vault=vault.peer_id,
        requester=draw(peer_ids),
        scope=draw(scopes),
        purpose=draw(purposes),
        issued_at=issued,
        expires_at=issued + draw(st.integers(1, 10**12)),
        retention_days=draw(days),
        offer=draw(offers),
    )
    return sign(msg, vault)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    request_id = draw(ids)
    status = draw(st.sampled_from(list(DecisionStatus)))
    grant = draw(grants(request_id)) if status is DecisionStatus.APPROVED else None
    return Decision(request_id=request_id, status=status, grant=grant, reason=draw(text))


@st.composite
def _reads(draw: st.DrawFn, cls: type[Read] | type[Subscribe]) -> Read | Subscribe:
    who = draw(identities)
    msg = cls(
        grant_id=draw(ids),
        requester=who.peer_id,
        fields=tuple(draw(st.lists(patterns, min_size=1, max_size=5))),
        nonce=draw(nonces),
        ts=draw(timestamps),
    )
    return sign(msg, who)


@st.composite
def updates(draw: st.DrawFn) -> Update:
    deleted = draw(st.booleans())
    return Update(
        grant_id=draw(ids),
        path=draw(paths),
        value=None if deleted else draw(field_values),
        deleted=deleted,
        version=draw(timestamps),
        ts=draw(timestamps),
    )


@st.composite
def revoke_notices(draw: st.DrawFn) -> RevokeNotice:
    vault = draw(identities)
    msg = RevokeNotice(
        grant_id=draw(ids),
        vault=vault.peer_id,
        requester=draw(peer_ids),
        revoked_at=draw(timestamps),
        erase=draw(st.booleans()),
        reason=draw(text),
    )
    return sign(msg, vault)


@st.composite
def deletion_receipts(draw: st.DrawFn) -> DeletionReceipt:
    who = draw(identities)
    msg = DeletionReceipt(
        receipt_id=draw(ids),
        grant_id=draw(ids),
        requester=who.peer_id,
        vault=draw(peer_ids),
        reason=draw(st.sampled_from(list(DeletionReason))),
        deleted_fields=tuple(draw(st.lists(patterns, max_size=5))),
        deleted_at=draw(timestamps),
        key_destroyed=draw(st.booleans()),
    )
    return sign(msg, who)


read_results = st.builds(
    ReadResult, grant_id=ids, values=st.dictionaries(paths, records, max_size=5)
)
awaits = st.builds(AwaitDecision, request_id=ids, wait_ms=st.integers(0, limits.MAX_WAIT_MS))
acks = st.builds(Ack, ref=ids)
errors = st.builds(Error, code=st.sampled_from(list(ErrorCode)), message=text, ref=st.none() | ids)

#: One strategy per message type that travels alone in a frame.
BY_TYPE: dict[str, st.SearchStrategy[Message]] = {
    "access_request": access_requests(),
    "await_decision": awaits,
    "decision": decisions(),
    "read": _reads(Read),
    "read_result": read_results,
    "subscribe": _reads(Subscribe),
    "update": updates(),
    "revoke_notice": revoke_notices(),
    "deletion_receipt": deletion_receipts(),
    "ack": acks,
    "error": errors,
}
messages: st.SearchStrategy[Message] = st.one_of(*BY_TYPE.values())
