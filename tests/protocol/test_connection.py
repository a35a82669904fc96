"""The h11-style state machine: valid flows, every invalid transition, sticky ERROR."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import (
    NEED_DATA,
    PEER_CLOSED,
    Connection,
    Error,
    ErrorCode,
    FrameTooLarge,
    Grant,
    LocalProtocolError,
    MalformedFrame,
    ReadResult,
    RemoteProtocolError,
    Role,
    State,
    UnexpectedMessage,
    UnknownMessage,
    render_state_table,
)
from protocol.connection import REPLY_REF, REQUESTS, RESPONSES, TRANSITIONS
from protocol.framing import encode_frame, encode_uvarint
from protocol.messages import MESSAGE_TYPES

from .conn_helpers import PATHS, REF, deliver, pair_in, samples

ROOT = Path(__file__).resolve().parents[2]
MSGS = samples()


def exchange(client: Connection, server: Connection, kind: str, sender: Role) -> None:
    src, dst = (client, server) if sender is Role.CLIENT else (server, client)
    assert deliver(src.send(MSGS[kind]), dst) == [MSGS[kind]]


@pytest.mark.parametrize("request_kind", sorted(REQUESTS))
def test_every_request_and_reply(request_kind: str) -> None:
    for reply, after in RESPONSES[REQUESTS[request_kind]].items():
        client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
        exchange(client, server, request_kind, Role.CLIENT)
        assert client.state is server.state is REQUESTS[request_kind]
        assert client.ref == server.ref == REF
        exchange(client, server, reply, Role.SERVER)
        assert client.state is server.state is after


def test_access_flow_with_long_poll() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    exchange(client, server, "access_request", Role.CLIENT)
    exchange(client, server, "decision", Role.SERVER)  # pending
    exchange(client, server, "await_decision", Role.CLIENT)
    exchange(client, server, "decision", Role.SERVER)
    exchange(client, server, "read", Role.CLIENT)
    exchange(client, server, "read_result", Role.SERVER)
    assert client.state is State.IDLE and client.ref is None


def test_subscription_until_revoked() -> None:
    client, server = pair_in(State.SUBSCRIBED)
    for _ in range(3):
        exchange(client, server, "update", Role.SERVER)
    assert client.state is State.SUBSCRIBED
    exchange(client, server, "revoke_notice", Role.SERVER)
    assert client.state is server.state is State.CLOSED
    assert deliver(b"", client) == [PEER_CLOSED]


def test_several_frames_in_one_read() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    exchange(client, server, "subscribe", Role.CLIENT)
    data = b"".join(server.send(MSGS[k]) for k in ("ack", "update", "update", "revoke_notice"))
    assert [e.type for e in deliver(data, client)] == ["ack", "update", "update", "revoke_notice"]  # type: ignore[attr-defined]


def test_clean_close_between_frames() -> None:
    _client, server = pair_in(State.IDLE)
    assert server.next_event() is NEED_DATA
    assert deliver(b"", server) == [PEER_CLOSED]
    assert server.state is State.CLOSED
    assert server.next_event() is PEER_CLOSED


def _all_invalid() -> list[tuple[State, Role, str]]:
    return [
        (state, sender, kind)
        for state in PATHS
        for sender in Role
        for kind in sorted(MESSAGE_TYPES)
        if (state, sender, kind) not in TRANSITIONS
    ]


@pytest.mark.parametrize(("state", "sender", "kind"), _all_invalid())
def test_every_invalid_transition(state: State, sender: Role, kind: str) -> None:
    client, server = pair_in(state)
    src, dst = (client, server) if sender is Role.CLIENT else (server, client)
    with pytest.raises(LocalProtocolError):
        src.send(MSGS[kind])
    assert src.state is State.ERROR
    # the peer that receives it anyway refuses it
    raw = encode_frame(MSGS[kind].model_dump_json().encode())
    with pytest.raises(UnexpectedMessage):
        deliver(raw, dst)
    assert dst.state is State.ERROR


def test_every_transition_is_exercised_by_the_table_tests() -> None:
    # each row of TRANSITIONS is reachable from one of PATHS' states
    assert {state for state, _, _ in TRANSITIONS} <= set(PATHS)


@pytest.mark.parametrize("reply", sorted({r for m in RESPONSES.values() for r in m} - {"error"}))
def test_reply_for_another_request_is_refused(reply: str) -> None:
    state = next(s for s, m in RESPONSES.items() if reply in m and s is not State.IDLE)
    client, server = pair_in(state)
    other = samples("other")[reply]
    with pytest.raises(LocalProtocolError):
        server.send(other)
    with pytest.raises(UnexpectedMessage):
        deliver(encode_frame(other.model_dump_json().encode()), client)
    assert REPLY_REF[reply]


def test_error_without_ref_is_accepted_as_a_reply() -> None:
    client, server = pair_in(State.AWAIT_READ_RESULT)
    err = Error(code=ErrorCode.OUT_OF_SCOPE, message="no")
    assert deliver(server.send(err), client) == [err]
    assert client.state is State.IDLE


def test_error_state_is_sticky() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"\x05{oops")
    with pytest.raises(MalformedFrame) as first:
        server.next_event()
    assert server.state is State.ERROR and server.error is first.value
    with pytest.raises(MalformedFrame) as again:
        server.next_event()
    assert again.value is first.value
    with pytest.raises(MalformedFrame):
        server.receive_data(b"more")
    with pytest.raises(LocalProtocolError):
        server.send(MSGS["decision"])
    # ...but a typed error reply can still go out, any number of times
    reply = server.send(Error(code=first.value.code, message=first.value.message))
    client = Connection(Role.CLIENT)
    [event] = deliver(reply, client)
    assert isinstance(event, Error) and event.code is ErrorCode.MALFORMED
    assert client.state is State.CLOSED
    assert server.state is State.ERROR


def test_unknown_message_errors() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(UnknownMessage):
        deliver(encode_frame(b'{"type":"teleport"}'), server)
    assert server.state is State.ERROR


def test_oversized_incoming_frame() -> None:
    server = Connection(Role.SERVER, max_frame_size=100)
    with pytest.raises(FrameTooLarge):
        deliver(encode_uvarint(101), server)
    assert server.state is State.ERROR


def test_oversized_outgoing_message_is_a_local_error() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER, max_frame_size=200)
    server.receive_data(client.send(MSGS["read"]))
    server.next_event()
    big = ReadResult(
        grant_id=REF,
        values={f"f{i}": {"value": "x" * 100, "version": 1, "updated_at": 1} for i in range(5)},  # type: ignore[misc]
    )
    with pytest.raises(LocalProtocolError):
        server.send(big)
    assert server.state is State.ERROR
    server.send(Error(code=ErrorCode.FRAME_TOO_LARGE, ref=REF))


def test_eof_inside_a_frame() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(encode_frame(b'{"type":"ack","ref":"r"}')[:-3])
    assert server.next_event() is NEED_DATA
    with pytest.raises(MalformedFrame):
        deliver(b"", server)
    assert server.state is State.ERROR


def test_data_after_eof_is_a_local_error() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"x")


def test_send_after_close() -> None:
    client = Connection(Role.CLIENT)
    client.close()
    assert client.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        client.send(MSGS["read"])


def test_only_frame_messages_can_be_sent() -> None:
    grant_fields = {
        "grant_id": "g",
        "request_id": "r",
        "vault": MSGS["revoke_notice"].vault,  # type: ignore[attr-defined]
        "requester": MSGS["read"].requester,  # type: ignore[attr-defined]
        "scope": MSGS["access_request"].scope,  # type: ignore[attr-defined]
        "purpose": MSGS["access_request"].purpose,  # type: ignore[attr-defined]
        "issued_at": 1,
        "expires_at": 2,
        "retention_days": 0,
        "offer": MSGS["access_request"].offer,  # type: ignore[attr-defined]
    }
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER).send(Grant(**grant_fields))


def test_errors_are_remote_protocol_errors() -> None:
    for exc in (UnexpectedMessage, UnknownMessage, MalformedFrame, FrameTooLarge):
        assert issubclass(exc, RemoteProtocolError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)


def test_docs_contain_the_current_state_table() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert render_state_table() in doc, "regenerate: python -m protocol.connection > table"
