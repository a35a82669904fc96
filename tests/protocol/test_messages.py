"""Every message round-trips; bad input fails with a typed error and never echoes values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import (
    AccessRequest,
    Ack,
    Decision,
    DecisionStatus,
    Error,
    ErrorCode,
    Grant,
    LocalProtocolError,
    MalformedFrame,
    Message,
    Offer,
    Purpose,
    PurposeCode,
    Read,
    Scope,
    SignatureError,
    Signed,
    UnknownMessage,
    Update,
    dump_message,
    error_from_exception,
    new_id,
    new_nonce,
    parse_message,
    sign,
    verify,
)
from protocol.messages import MESSAGE_TYPES

from .strategies import BY_TYPE, IDENTITIES

REQUESTER, VAULT, OTHER = IDENTITIES


def request(**over: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "request_id": new_id(),
        "requester": REQUESTER.peer_id,
        "vault": VAULT.peer_id,
        "scope": Scope.of(["contact.email", "address.*"], ["read", "subscribe"]),
        "purpose": Purpose(code=PurposeCode.DELIVERY_OF_GOODS, text="ship your order"),
        "duration_days": 30,
        "retention_days": 7,
        "offer": Offer(description="free shipping", value_cents=495),
        "nonce": new_nonce(),
        "ts": 1_700_000_000_000,
    }
    fields.update(over)
    return AccessRequest(**fields)


def as_dict(msg: Message) -> dict[str, Any]:
    return json.loads(dump_message(msg))


def test_every_type_has_a_strategy() -> None:
    assert set(BY_TYPE) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("kind", sorted(BY_TYPE))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_message_round_trips(kind: str, data: st.DataObject) -> None:
    msg = data.draw(BY_TYPE[kind])
    assert msg.type == kind
    data = dump_message(msg)
    back = parse_message(data)
    assert back == msg
    assert type(back) is type(msg)
    assert dump_message(back) == data
    if isinstance(back, Signed) and back.sig:
        verify(back)
    if isinstance(back, Decision) and back.grant is not None:
        verify(back.grant)


def test_whitespace_and_key_order_do_not_matter() -> None:
    msg = sign(request(), REQUESTER)
    loose = json.dumps(dict(reversed(list(as_dict(msg).items()))), indent=2).encode()
    back = parse_message(loose)
    assert back == msg
    verify(back, REQUESTER.peer_id)


def test_unknown_type() -> None:
    with pytest.raises(UnknownMessage):
        parse_message(b'{"type":"teleport"}')


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b'"ack"',
        b"{}",
        b'{"type":5}',
        b'{"type":null}',
        b'{"type":"ack"}',  # missing ref
        b'{"type":"ack","ref":"x","extra":1}',  # extra key
        b'{"type":"ack","ref":7}',  # wrong type
        b'{"type":"ack","ref":"has space"}',
        b'{"type":"ack","ref":1.5}',  # float
        b'{"type":"ack","ref":"a","ref":"b"}',  # duplicate key
        b'{"type":"error","code":"nope!","message":""}',
        b'{"type":"error","code":"protocol_error","message":"bell\\u0007"}',
        b'{"type":"error","code":"protocol_error","message":"\\ud800"}',
        b'{"type":"update","grant_id":"g","path":"a","value":"x","deleted":true,"version":1,"ts":1}',
        b'{"type":"update","grant_id":"g","path":"A","value":null,"deleted":false,"version":1,"ts":1}',
        b'{"type":"update","grant_id":"g","path":"a","value":1,"deleted":0,"version":1,"ts":1}',
        b'{"type":"update","grant_id":"g","path":"a","value":1,"deleted":false,"version":"1","ts":1}',
        b'{"type":"update","grant_id":"g","path":"a","value":9007199254740992,"deleted":false,"version":1,"ts":1}',
        b'{"type":"update","grant_id":"g","path":"a","value":{"x":1},"deleted":false,"version":1,"ts":1}',
        b'{"type":"update","grant_id":"g","path":"a","value":[1],"deleted":false,"version":1,"ts":1}',
        b'{"type":"update","grant_id":"g","path":"a","value":null,"deleted":false,"version":-1,"ts":1}',
        b'{"type":"decision","request_id":"r","status":"approved"}',
        b'{"type":"decision","request_id":"r","status":"maybe"}',
        b'{"type":"read_result","grant_id":"g","values":'
        b'{"Bad Key":{"value":1,"version":1,"updated_at":1}}}',
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(MalformedFrame):
        parse_message(data)


def test_validation_errors_never_echo_values() -> None:
    secret = "hunter2-secret-value"
    data = json.dumps(
        {
            "type": "update",
            "grant_id": "g",
            "path": "a",
            "value": {"nested": secret},
            "deleted": False,
            "version": 1,
            "ts": 1,
        }
    ).encode()
    with pytest.raises(MalformedFrame) as info:
        parse_message(data)
    assert secret not in info.value.message
    assert "value" in info.value.message


def test_strict_on_the_wire_lenient_in_python() -> None:
    msg = as_dict(request())
    msg["duration_days"] = "30"
    with pytest.raises(MalformedFrame):
        parse_message(json.dumps(msg).encode())
    # Python callers may pass lists and enum values
    assert Read(
        grant_id="g", requester=REQUESTER.peer_id, fields=["a.b"], nonce=new_nonce(), ts=1
    ).fields == ("a.b",)


def test_models_are_frozen() -> None:
    msg = Ack(ref="r")
    with pytest.raises(ValidationError):
        msg.ref = "other"  # type: ignore[misc]


def test_bad_peer_id_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        request(requester="1" * 52)
    with pytest.raises(ValidationError):
        request(requester="QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")


def test_unsorted_scope_is_refused_on_the_wire() -> None:
    msg = as_dict(request())
    msg["scope"]["fields"] = ["contact.email", "address.*"]
    with pytest.raises(MalformedFrame):
        parse_message(json.dumps(msg).encode())


def test_decision_invariants() -> None:
    with pytest.raises(ValidationError):
        Decision(request_id="r", status=DecisionStatus.APPROVED)
    with pytest.raises(ValidationError):
        Grant(
            grant_id="g",
            request_id="r",
            vault=VAULT.peer_id,
            requester=REQUESTER.peer_id,
            scope=Scope.of(["a"]),
            purpose=Purpose(code=PurposeCode.MARKETING),
            issued_at=10,
            expires_at=10,
            retention_days=0,
            offer=Offer(),
        )


def test_unknown_error_code_reads_as_protocol_error() -> None:
    msg = parse_message(b'{"type":"error","code":"from_the_future","message":"x","ref":null}')
    assert isinstance(msg, Error) and msg.code is ErrorCode.PROTOCOL


# ------------------------------------------------------------------ signatures


def test_sign_and_verify() -> None:
    msg = sign(request(), REQUESTER)
    verify(msg)
    verify(msg, REQUESTER.peer_id)
    back = parse_message(dump_message(msg))
    assert isinstance(back, AccessRequest)
    verify(back, REQUESTER.peer_id)


def test_only_the_named_signer_may_sign() -> None:
    with pytest.raises(LocalProtocolError):
        sign(request(), VAULT)


def test_verify_refuses_another_authenticated_peer() -> None:
    msg = sign(request(), REQUESTER)
    with pytest.raises(SignatureError):
        verify(msg, OTHER.peer_id)


def test_unsigned_does_not_verify() -> None:
    with pytest.raises(SignatureError):
        verify(request())


@pytest.mark.parametrize(
    "change",
    [
        {"duration_days": 31},
        {"scope": Scope.of(["contact.email", "address.*", "contact.phone"], ["read", "subscribe"])},
        {"offer": Offer(description="free shipping", value_cents=1)},
        {"ts": 1},
    ],
)
def test_tampered_signed_message(change: dict[str, Any]) -> None:
    msg = sign(request(), REQUESTER)
    with pytest.raises(SignatureError):
        verify(msg.model_copy(update=change))


def test_claiming_another_requester_breaks_the_signature() -> None:
    msg = sign(request(), REQUESTER)
    forged = msg.model_copy(update={"requester": OTHER.peer_id})
    with pytest.raises(SignatureError):
        verify(forged, OTHER.peer_id)


def test_signature_is_bound_to_the_type() -> None:
    # A signature over one kind of object never verifies as another: "type" is signed.
    read = sign(
        Read(grant_id="g", requester=REQUESTER.peer_id, fields=("a",), nonce="0" * 32, ts=1),
        REQUESTER,
    )
    body = as_dict(read)
    body["type"] = "subscribe"
    sub = parse_message(json.dumps(body).encode())
    assert isinstance(sub, Signed)
    with pytest.raises(SignatureError):
        verify(sub)


def test_update_with_deleted_value_is_refused() -> None:
    with pytest.raises(ValidationError):
        Update(grant_id="g", path="a", value="x", deleted=True, version=1, ts=1)


def test_error_from_exception_is_bounded_and_clean() -> None:
    exc = MalformedFrame("bad\x00thing " + "x" * 1000)
    err = error_from_exception(exc, ref="not a valid ref!")
    assert err.code is ErrorCode.MALFORMED
    assert "\x00" not in err.message and len(err.message) <= 280
    assert err.ref is None
    assert parse_message(dump_message(err)) == err
