"""Contact terms, contact/erasure/delivery messages: validation, signatures, grants."""

from __future__ import annotations

import pytest

from protocol import (
    AccessRequest,
    CategoryCap,
    ContactMessage,
    ContactPolicy,
    DeliveryBatch,
    DeliveryPoll,
    EraseRequest,
    ErasureReceipt,
    Identity,
    MalformedFrame,
    Offer,
    Purpose,
    PurposeCode,
    QuietHours,
    Scope,
    ScopeError,
    SealedDelivery,
    SignatureError,
    UnknownMessage,
    dump_message,
    grant_fits_request,
    make_grant,
    new_id,
    new_nonce,
    parse_contact_frame,
    parse_message,
    sign,
    verify,
    verify_erasure_receipt,
)
from protocol.clock import DAY_MS
from protocol.contact_terms import policy_within
from tests.conftest import START_MS

NOW = START_MS
BIZ = Identity.generate()
VAULT = Identity.generate()
SURVEY_ONCE_A_YEAR = ContactPolicy.of([("survey", 1, 365), ("service", 10, 30)])


def request(contact: ContactPolicy | None = None, actions=("contact", "read")) -> AccessRequest:
    return sign(
        AccessRequest(
            request_id=new_id(),
            requester=BIZ.peer_id,
            vault=VAULT.peer_id,
            scope=Scope.of(["contact.email"], actions),
            purpose=Purpose(code=PurposeCode.CUSTOMER_CARE, text="ask your opinion"),
            duration_days=365,
            retention_days=0,
            offer=Offer(),
            nonce=new_nonce(),
            ts=NOW,
            contact=contact,
        ),
        BIZ,
    )


def test_policy_normalises_and_refuses_unsorted():
    pol = ContactPolicy.of([("survey", 1, 365), ("offer", 2, 30)], ["inbox", "email"])
    assert [c.category for c in pol.caps] == ["offer", "survey"]
    assert pol.channels == ("email", "inbox")
    assert pol.cap_for("service") is None
    with pytest.raises(ValueError):
        ContactPolicy(channels=("inbox",), caps=(pol.caps[1], pol.caps[0]))
    with pytest.raises(ValueError):
        CategoryCap(category="survey", max_messages=0, period_days=365)


def test_quiet_hours_wrap_midnight_and_offset():
    q = QuietHours.parse("22:00-07:00")
    day = NOW - NOW % DAY_MS
    assert q.contains(day + 23 * 3_600_000)
    assert q.contains(day + 3 * 3_600_000)
    assert not q.contains(day + 12 * 3_600_000)
    local = QuietHours.parse("22:00-07:00", utc_offset_minutes=120)  # 21:00 UTC = 23:00 local
    assert local.contains(day + 21 * 3_600_000)
    with pytest.raises(ValueError):
        QuietHours(start_minute=60, end_minute=60)


def test_policy_within_only_narrows():
    asked = SURVEY_ONCE_A_YEAR
    assert policy_within(ContactPolicy.of([("survey", 1, 730)]), asked)
    assert not policy_within(ContactPolicy.of([("survey", 2, 365)]), asked)
    assert not policy_within(ContactPolicy.of([("survey", 1, 100)]), asked)  # faster rate
    assert not policy_within(ContactPolicy.of([("offer", 1, 365)]), asked)
    assert not policy_within(ContactPolicy.of([("survey", 1, 365)], ["email"]), asked)


def test_grant_carries_terms_and_owner_may_only_narrow():
    req = request(SURVEY_ONCE_A_YEAR)
    grant = make_grant(req, VAULT, now_ms=NOW)
    assert grant.contact == SURVEY_ONCE_A_YEAR
    verify(grant)
    assert grant_fits_request(grant, req)
    tighter = ContactPolicy.of([("survey", 1, 730)])
    assert make_grant(req, VAULT, now_ms=NOW, contact=tighter).contact == tighter
    with pytest.raises(ScopeError):
        make_grant(req, VAULT, now_ms=NOW, contact=ContactPolicy.of([("offer", 5, 1)]))
    with pytest.raises(ScopeError):
        make_grant(req, VAULT, now_ms=NOW, actions=["read"], contact=tighter)
    assert make_grant(req, VAULT, now_ms=NOW, actions=["read"]).contact is None


def test_optional_fields_are_omitted_so_old_signatures_hold():
    plain = request(None, actions=("read",))
    data = plain.model_dump(mode="json")
    assert "contact" not in data and "hpke_key" not in data
    back = parse_message(dump_message(plain))
    verify(back)
    grant = make_grant(plain, VAULT, now_ms=NOW)
    assert "contact" not in grant.model_dump(mode="json")
    with_terms = parse_message(dump_message(request(SURVEY_ONCE_A_YEAR)))
    assert isinstance(with_terms, AccessRequest) and with_terms.contact == SURVEY_ONCE_A_YEAR
    verify(with_terms)


def contact_message(**over) -> ContactMessage:
    fields = dict(
        message_id=new_id(),
        grant_id=new_id(),
        requester=BIZ.peer_id,
        vault=VAULT.peer_id,
        category="survey",
        subject="How did we do?",
        body="One question.",
        nonce=new_nonce(),
        ts=NOW,
    )
    fields.update(over)
    return sign(ContactMessage(**fields), BIZ)


def test_contact_message_roundtrip_and_signature():
    msg = contact_message(mailing_id="spring-2025")
    back = parse_contact_frame(dump_message(msg))
    assert back == msg
    verify(back, BIZ.peer_id)
    with pytest.raises(SignatureError):
        verify(back, VAULT.peer_id)
    tampered = back.model_copy(update={"subject": "Buy now"})
    with pytest.raises(SignatureError):
        verify(tampered)


def test_contact_frame_rejects_bad_input():
    with pytest.raises(UnknownMessage):
        parse_contact_frame(b'{"type":"nope"}')
    raw = dump_message(contact_message()).replace(b'"survey"', b'"spam"')
    with pytest.raises(MalformedFrame):
        parse_contact_frame(raw)
    with pytest.raises(MalformedFrame):
        parse_contact_frame(
            dump_message(contact_message()).replace(b'"subject"', b'"x":1,"subject"')
        )


def test_erasure_receipt_must_answer_the_request_in_full():
    g1, g2 = new_id(), new_id()
    req = sign(
        EraseRequest(
            erasure_id=new_id(),
            vault=VAULT.peer_id,
            requester=BIZ.peer_id,
            grant_ids=(g1, g2),
            requested_at=NOW,
        ),
        VAULT,
    )

    def receipt(grants, signer=BIZ, erasure_id=req.erasure_id):
        return sign(
            ErasureReceipt(
                erasure_id=erasure_id,
                requester=signer.peer_id,
                vault=VAULT.peer_id,
                grant_ids=grants,
                deleted_fields=("contact.email",),
                deleted_at=NOW + 1,
                keys_destroyed=True,
            ),
            signer,
        )

    verify_erasure_receipt(receipt((g1, g2)), req)
    with pytest.raises(SignatureError):
        verify_erasure_receipt(receipt((g1,)), req)
    with pytest.raises(SignatureError):
        verify_erasure_receipt(receipt((g1, g2), signer=Identity.generate()), req)
    with pytest.raises(SignatureError):
        verify_erasure_receipt(receipt((g1, g2), erasure_id=new_id()), req)
    assert parse_contact_frame(dump_message(req)) == req


def test_sealed_delivery_and_poll_models():
    d = SealedDelivery(
        delivery_id=new_id(),
        vault=VAULT.peer_id,
        requester=BIZ.peer_id,
        seq=1,
        created_at=NOW,
        expires_at=NOW + 1,
        sealed="ab",
    )
    assert parse_contact_frame(dump_message(d)) == d
    assert VAULT.peer_id.encode() in d.info()
    with pytest.raises(ValueError):
        d.model_copy(update={"seq": 0}).model_validate(d.model_dump() | {"seq": 0})
    with pytest.raises(ValueError):
        SealedDelivery.model_validate(d.model_dump() | {"expires_at": NOW - 1})
    poll = DeliveryPoll(requester=BIZ.peer_id, acked=(d.delivery_id,))
    assert parse_contact_frame(dump_message(poll)) == poll
    batch = DeliveryBatch(deliveries=(d,))
    assert parse_contact_frame(dump_message(batch)) == batch
    with pytest.raises(ValueError):
        DeliveryBatch(deliveries=())
