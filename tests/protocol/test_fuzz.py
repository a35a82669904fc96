"""Fuzz: whatever a peer sends, the receiving side parses it or raises RemoteProtocolError.

Nothing else may escape (no ValueError, KeyError, UnicodeError, RecursionError...),
and on error the connection changes in one way only: it enters ERROR.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    NEED_DATA,
    PEER_CLOSED,
    Connection,
    Message,
    RemoteProtocolError,
    Role,
    State,
    parse_message,
)
from protocol.framing import encode_frame
from protocol.messages import MESSAGE_TYPES, dump_message

from .conn_helpers import PATHS, pair_in
from .strategies import messages

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
roles = st.sampled_from(list(Role))
states = st.sampled_from(list(PATHS))

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
)
json_ish = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)
keys = st.sampled_from(
    [
        "type",
        "ref",
        "request_id",
        "grant_id",
        "requester",
        "vault",
        "scope",
        "fields",
        "actions",
        "purpose",
        "code",
        "text",
        "values",
        "value",
        "path",
        "nonce",
        "ts",
        "sig",
        "status",
        "grant",
        "deleted",
        "version",
        "offer",
        "message",
    ]
)
typed_objects = st.builds(
    lambda kind, body: {**body, "type": kind},
    st.sampled_from([*MESSAGE_TYPES, "grant", "nope", ""]),
    st.dictionaries(keys, json_ish, max_size=8),
)


def _drain(conn: Connection) -> list[Message]:
    """Pull events until NEED_DATA; enforce the one rule on every call."""
    out: list[Message] = []
    for _ in range(1000):
        before = (conn.state, conn.ref)
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            assert conn.state is State.ERROR
            assert conn.error is exc
            assert conn.ref == before[1]  # nothing else changed
            return out
        if event is NEED_DATA or event is PEER_CLOSED:
            return out
        assert isinstance(event, Message)
        out.append(event)
    raise AssertionError("next_event did not settle")


def _feed(conn: Connection, chunks: list[bytes]) -> None:
    for chunk in chunks:
        try:
            conn.receive_data(chunk)
        except RemoteProtocolError:
            assert conn.state is State.ERROR
            return
        _drain(conn)


@FUZZ
@given(role=roles, state=states, chunks=st.lists(st.binary(min_size=1, max_size=64), max_size=8))
def test_arbitrary_bytes(role: Role, state: State, chunks: list[bytes]) -> None:
    client, server = pair_in(state)
    _feed(client if role is Role.CLIENT else server, chunks)


@FUZZ
@given(role=roles, state=states, obj=json_ish | typed_objects)
def test_arbitrary_json_frames(role: Role, state: State, obj: Any) -> None:
    client, server = pair_in(state)
    try:
        payload = json.dumps(obj).encode()
    except (ValueError, TypeError):
        return
    _feed(client if role is Role.CLIENT else server, [encode_frame(payload)])


def _mutate(data: bytes, how: int, where: int, bit: int) -> bytes:
    if not data:
        return data
    i = where % len(data)
    if how == 0:  # flip one bit
        return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]
    if how == 1:  # truncate
        return data[:i]
    if how == 2:  # drop one byte
        return data[:i] + data[i + 1 :]
    return data[:i] + data[i : i + 1] * 2 + data[i + 1 :]  # duplicate one byte


@FUZZ
@given(
    role=roles,
    state=states,
    msg=messages,
    how=st.integers(0, 3),
    where=st.integers(0, 10**6),
    bit=st.integers(0, 7),
    reframe=st.booleans(),
)
def test_mutated_valid_frames(
    role: Role, state: State, msg: Message, how: int, where: int, bit: int, reframe: bool
) -> None:
    client, server = pair_in(state)
    payload = dump_message(msg)
    # mutate the payload and frame it correctly, or mutate the whole frame
    data = (
        encode_frame(_mutate(payload, how, where, bit))
        if reframe
        else _mutate(encode_frame(payload), how, where, bit)
    )
    _feed(client if role is Role.CLIENT else server, [data, b""])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_ish.map(lambda o: json.dumps(o).encode()))
def test_parse_message_only_raises_remote_protocol_errors(data: bytes) -> None:
    try:
        parse_message(data)
    except RemoteProtocolError:
        pass
