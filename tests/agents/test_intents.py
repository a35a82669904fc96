"""Intents and agreements, network-free: model, validation, signatures, unlinkability."""

from __future__ import annotations

import json

import pytest

from agents import TermLimit
from agents.agreements import (
    Agreement,
    DealDeclined,
    NegotiateOpen,
    dump_deal,
    parse_deal,
)
from agents.intents import (
    MAX_INTENT_BYTES,
    IntentExpired,
    domain_from_spec,
    domain_to_spec,
    intent_topic,
    intent_validator,
    make_intent,
    parse_intent,
)
from protocol import (
    Identity,
    MalformedFrame,
    PurposeCode,
    SignatureError,
    UnknownMessage,
    canonical_dumps,
    canonical_loads,
    new_id,
)

from .conftest import phone_domain

NOW = 1_800_000_000_000


def _intent(key: Identity | None = None, **kw):
    key = key or Identity.generate()
    args = dict(
        category="phone",
        domain=phone_domain(),
        purpose="dpv:ServiceProvision",
        duration_days=30,
        negotiate_addrs=[f"/ip4/127.0.0.1/tcp/4001/p2p/{key.peer_id}"],
        deadline=NOW + 5_000,
        wanted="a phone contract",
        constraints={"months": TermLimit(high=12)},
        fields_issue="shared",
        price_issue="price",
        may_share=["contact.email", "address.city"],
    )
    args.update(kw)
    return key, make_intent(key, **args)


def test_domain_round_trips_through_its_wire_spec() -> None:
    d = phone_domain()
    assert domain_from_spec(domain_to_spec(d)) == d


def test_intent_round_trip_and_signature() -> None:
    key, intent = _intent()
    data = intent.to_bytes()
    assert len(data) < MAX_INTENT_BYTES
    back = parse_intent(data, now_ms=NOW, publisher=key.peer_id)
    assert back == intent
    assert back.signer == back.negotiate_peer == key.peer_id
    assert back.to_domain() == phone_domain()
    assert intent.topic == intent_topic("phone") == "/kluis/intents/1/phone"


@pytest.mark.parametrize(
    "change",
    [
        {"wanted": "something else"},
        {"deadline": NOW + 6_000},
        {"may_share": ["contact.email", "contact.phone"]},
        {"negotiate_addrs": ["/ip4/10.0.0.1/tcp/1"]},
    ],
)
def test_a_changed_intent_fails_its_signature(change: dict) -> None:
    _, intent = _intent()
    raw = {**canonical_loads(intent.to_bytes()), **change}
    with pytest.raises(SignatureError):
        parse_intent(canonical_dumps(raw), now_ms=NOW)


def test_an_intent_signed_by_another_key_is_refused() -> None:
    _, intent = _intent()
    other = Identity.generate()
    raw = canonical_loads(intent.to_bytes())
    raw["signer"] = raw["negotiate_peer"] = other.peer_id
    with pytest.raises(SignatureError):
        parse_intent(canonical_dumps(raw), now_ms=NOW)


def test_signer_must_be_the_publisher_and_the_negotiating_peer() -> None:
    _, intent = _intent()
    with pytest.raises(SignatureError):
        parse_intent(intent.to_bytes(), now_ms=NOW, publisher=Identity.generate().peer_id)
    raw = canonical_loads(intent.to_bytes())
    raw["negotiate_peer"] = Identity.generate().peer_id
    with pytest.raises(SignatureError):
        parse_intent(canonical_dumps(raw), now_ms=NOW)


def test_expired_oversized_and_malformed_intents_are_refused() -> None:
    _, intent = _intent()
    with pytest.raises(IntentExpired):
        parse_intent(intent.to_bytes(), now_ms=NOW + 5_000)
    with pytest.raises(MalformedFrame):
        parse_intent(b"x" * (MAX_INTENT_BYTES + 1), now_ms=NOW)
    with pytest.raises(MalformedFrame):
        parse_intent(b'{"type":"intent"}', now_ms=NOW)
    with pytest.raises(MalformedFrame):
        parse_intent(b"[1,2]", now_ms=NOW)
    raw = canonical_loads(intent.to_bytes())
    raw["extra"] = 1
    with pytest.raises(MalformedFrame):
        parse_intent(canonical_dumps(raw), now_ms=NOW)
    with pytest.raises(MalformedFrame):
        intent_topic("no spaces allowed")


def test_validator_drops_bad_intents_without_raising() -> None:
    key, intent = _intent()
    check = intent_validator(lambda: NOW)
    assert check(intent.to_bytes(), key.peer_id)
    assert not check(intent.to_bytes(), Identity.generate().peer_id)
    assert not check(b"\xff garbage", key.peer_id)
    assert not intent_validator(lambda: NOW + 10_000)(intent.to_bytes(), key.peer_id)


def test_two_intents_of_one_vault_are_unlinkable() -> None:
    """Same owner, same wishes: different signers, nothing identifying in common."""
    vault = Identity.generate()
    key_a, a = _intent(Identity.generate())
    key_b, b = _intent(Identity.generate())
    assert a.signer != b.signer and key_a.peer_id != key_b.peer_id
    ja, jb = a.model_dump(mode="json"), b.model_dump(mode="json")
    for name in ("intent_id", "nonce", "signer", "negotiate_peer", "negotiate_addrs", "sig"):
        assert ja[name] != jb[name], name
    for data in (a.to_bytes(), b.to_bytes()):
        assert vault.peer_id.encode() not in data
        assert vault.public_bytes.hex().encode() not in data
    # no field value (other than what the owner chose to ask for) repeats
    identifying = {"intent_id", "nonce", "signer", "negotiate_peer", "negotiate_addrs", "sig"}
    assert not ({json.dumps(ja[k]) for k in identifying} & {json.dumps(jb[k]) for k in identifying})


# -- agreements -------------------------------------------------------------------------


def _agreement(business: Identity, vault: Identity) -> Agreement:
    return Agreement(
        agreement_id=new_id(),
        intent_id=new_id(),
        session="s1",
        category="phone",
        domain="phone",
        bid={"price": 2000, "months": 12, "data": "5GB", "shared": ["contact.email"]},
        fields=["contact.email"],
        purpose=PurposeCode.SERVICE_PROVISION,
        duration_days=30,
        value_cents=2000,
        business=business.peer_id,
        vault=vault.peer_id,
        vault_addrs=[f"/ip4/127.0.0.1/tcp/1/p2p/{vault.peer_id}"],
        created_at=NOW,
    )


def test_agreement_needs_both_signatures() -> None:
    biz, vault = Identity.generate(), Identity.generate()
    draft = _agreement(biz, vault)
    with pytest.raises(SignatureError):
        draft.verify()
    half = draft.sign_business(biz)
    half.verify_business()
    with pytest.raises(SignatureError):
        half.verify()
    full = half.sign_vault(vault)
    full.verify()
    assert full.signed and full.same_terms(draft)
    assert Agreement.from_json(full.to_bytes()) == full
    with pytest.raises(SignatureError):
        draft.sign_business(vault)
    with pytest.raises(SignatureError):
        draft.sign_vault(biz)
    tampered = full.model_copy(update={"value_cents": 1})
    with pytest.raises(SignatureError):
        tampered.verify()


def test_deal_frames_round_trip_and_refuse_junk() -> None:
    frame = NegotiateOpen(session="s1", intent_id="abc")
    assert parse_deal(dump_deal(frame)) == frame
    declined = DealDeclined(session="s1", reason="another offer was chosen")
    assert parse_deal(dump_deal(declined)) == declined
    with pytest.raises(UnknownMessage):
        parse_deal(b'{"type":"nope","session":"s1"}')
    with pytest.raises(MalformedFrame):
        parse_deal(b'{"type":"deal_award","session":"s1"}')
