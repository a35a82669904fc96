"""Every grammar the runtime runs: valid flows, every invalid step, correlation, fuzz, docs.

The access grammar has its own, older tests (``test_connection.py``,
``test_fuzz.py``); here the same rules are held for the contact and delivery
grammars, and for any grammar by its tables alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    ACCESS_GRAMMAR,
    CONTACT_GRAMMAR,
    DELIVERY_GRAMMAR,
    NEED_DATA,
    PEER_CLOSED,
    Ack,
    Connection,
    ContactMessage,
    DeliveryBatch,
    DeliveryPoll,
    ErasureReceipt,
    Error,
    ErrorCode,
    Grammar,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    Role,
    SealedDelivery,
    State,
    UnexpectedMessage,
    UnknownMessage,
    render_state_table,
)
from protocol.framing import encode_frame

from .conn_helpers import deliver
from .conn_helpers import samples as access_samples
from .strategies import IDENTITIES

ROOT = Path(__file__).resolve().parents[2]
BIZ, VAULT, _ = IDENTITIES
REF = "r1"


def _samples(ref: str = REF) -> dict[str, Message]:
    """One valid message of every type the contact and delivery grammars carry."""
    sealed = SealedDelivery(
        delivery_id=ref,
        vault=VAULT.peer_id,
        requester=BIZ.peer_id,
        seq=1,
        created_at=1,
        sealed="ab" * 40,
    )
    return {
        "contact_message": ContactMessage(
            message_id=ref,
            grant_id="g1",
            requester=BIZ.peer_id,
            vault=VAULT.peer_id,
            category="service",
            subject="Your order",
            body="shipped",
            nonce="cd" * 16,
            ts=1,
        ),
        "delivery_poll": DeliveryPoll(requester=BIZ.peer_id),
        "delivery_batch": DeliveryBatch(deliveries=(sealed,)),
        "sealed_delivery": sealed,
        "erasure_receipt": ErasureReceipt(
            erasure_id=ref,
            requester=BIZ.peer_id,
            vault=VAULT.peer_id,
            grant_ids=("g1",),
            deleted_fields=("contact.email",),
            deleted_at=1,
            keys_destroyed=True,
        ),
        "ack": Ack(ref=ref),
        "error": Error(code=ErrorCode.DENIED, message="no", ref=ref),
    }


GRAMMARS = [ACCESS_GRAMMAR, CONTACT_GRAMMAR, DELIVERY_GRAMMAR]
IDS = [g.protocol_id.split("/")[2] for g in GRAMMARS]


def samples(grammar: Grammar, ref: str = REF) -> dict[str, Message]:
    if grammar is ACCESS_GRAMMAR:
        return access_samples(ref)
    return _samples(ref)


def paths(grammar: Grammar) -> dict[State, list[tuple[Role, str]]]:
    """How to reach each state of ``grammar`` from IDLE (breadth first over its tables)."""
    out: dict[State, list[tuple[Role, str]]] = {State.IDLE: []}
    frontier = [State.IDLE]
    while frontier:
        nxt = []
        for state in frontier:
            for (at, sender, kind), after in grammar.transitions.items():
                if at is state and after not in out:
                    out[after] = [*out[state], (sender, kind)]
                    nxt.append(after)
        frontier = nxt
    return out


def pair_in(grammar: Grammar, state: State) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, grammar=grammar)
    server = Connection(Role.SERVER, grammar=grammar)
    msgs = samples(grammar)
    for sender, kind in paths(grammar)[state]:
        src, dst = (client, server) if sender is Role.CLIENT else (server, client)
        assert deliver(src.send(msgs[kind]), dst) == [msgs[kind]]
    assert client.state is state and server.state is state
    return client, server


@pytest.mark.parametrize("grammar", GRAMMARS, ids=IDS)
def test_every_request_and_reply(grammar: Grammar) -> None:
    msgs = samples(grammar)
    for request, awaiting in grammar.requests.items():
        for reply, after in grammar.responses[awaiting].items():
            client, server = pair_in(grammar, State.IDLE)
            assert deliver(client.send(msgs[request]), server) == [msgs[request]]
            assert deliver(server.send(msgs[reply]), client) == [msgs[reply]]
            assert client.state is server.state is after


@pytest.mark.parametrize("grammar", GRAMMARS, ids=IDS)
def test_every_invalid_step_is_refused_both_ways(grammar: Grammar) -> None:
    msgs = samples(grammar)
    checked = 0
    for state in paths(grammar):
        for sender in Role:
            for kind in sorted(grammar.types):
                if (state, sender, kind) in grammar.transitions:
                    continue
                client, server = pair_in(grammar, state)
                src, dst = (client, server) if sender is Role.CLIENT else (server, client)
                with pytest.raises(LocalProtocolError):
                    src.send(msgs[kind])
                assert src.state is State.ERROR
                with pytest.raises(UnexpectedMessage):
                    deliver(encode_frame(msgs[kind].model_dump_json().encode()), dst)
                assert dst.state is State.ERROR
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("grammar", [CONTACT_GRAMMAR, DELIVERY_GRAMMAR], ids=IDS[1:])
def test_a_message_of_another_protocol_is_unknown_here(grammar: Grammar) -> None:
    server = Connection(Role.SERVER, grammar=grammar)
    read = access_samples()["read"]
    with pytest.raises(UnknownMessage):
        deliver(encode_frame(read.model_dump_json().encode()), server)
    assert server.state is State.ERROR


def test_correlated_replies_must_echo_the_request() -> None:
    for grammar, request in (
        (CONTACT_GRAMMAR, "contact_message"),
        (DELIVERY_GRAMMAR, "sealed_delivery"),
        (DELIVERY_GRAMMAR, "erasure_receipt"),
    ):
        client, server = pair_in(grammar, State.IDLE)
        deliver(client.send(_samples()[request]), server)
        other = Ack(ref="other")
        with pytest.raises(LocalProtocolError):
            server.send(other)
        with pytest.raises(UnexpectedMessage):
            deliver(encode_frame(other.model_dump_json().encode()), client)


def test_a_poll_is_not_correlated() -> None:
    client, server = pair_in(DELIVERY_GRAMMAR, State.IDLE)
    deliver(client.send(_samples()["delivery_poll"]), server)
    assert client.ref is None
    empty = Ack(ref="poll")  # what a vault with an empty queue answers
    assert deliver(server.send(empty), client) == [empty]
    assert client.idle and server.idle


def test_an_erasure_receipt_answers_a_sealed_delivery_whatever_its_id() -> None:
    client, server = pair_in(DELIVERY_GRAMMAR, State.IDLE)
    deliver(client.send(_samples("d1")["sealed_delivery"]), server)
    receipt = _samples("e9")["erasure_receipt"]
    assert deliver(server.send(receipt), client) == [receipt]


def test_idle_means_in_step_and_nothing_buffered() -> None:
    client, server = pair_in(CONTACT_GRAMMAR, State.IDLE)
    assert client.idle and server.idle
    client.send(_samples()["contact_message"])
    assert not client.idle  # awaiting the ack
    frame = encode_frame(b'{"type":"ack","ref":"r1"}')
    client.receive_data(frame[:3])
    assert client.next_event() is NEED_DATA and not client.idle
    client.receive_data(frame[3:])
    assert isinstance(client.next_event(), Ack) and client.idle
    client.receive_data(b"")
    assert client.next_event() is PEER_CLOSED and not client.idle


def test_grammar_tables_name_a_model_for_every_message() -> None:
    with pytest.raises(ValueError, match="no model"):
        Grammar(
            "/kluis/test/1.0.0",
            requests={"ping": State.AWAIT_ACK},
            responses={State.AWAIT_ACK: {"ack": State.IDLE}},
            request_ref={},
            reply_ref={},
            types={"ack": Ack},
        )


@pytest.mark.parametrize(("grammar", "section"), [(CONTACT_GRAMMAR, 13), (DELIVERY_GRAMMAR, 14)])
def test_docs_contain_the_current_tables(grammar: Grammar, section: int) -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    body = doc.split(f"\n## {section}.", 1)[1].split("\n## ", 1)[0]
    name = grammar.protocol_id.split("/")[2]
    assert render_state_table(grammar) in body, (
        f"regenerate: python -m protocol.connection {name} > table"
    )


# -- fuzz: whatever a peer sends, the receiving side parses it or raises a remote error --

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
grammars = st.sampled_from(GRAMMARS)
json_ish = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def _drain(conn: Connection) -> None:
    for _ in range(1000):
        before = conn.ref
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            assert conn.state is State.ERROR and conn.error is exc and conn.ref == before
            return
        if event is NEED_DATA or event is PEER_CLOSED:
            return
        assert isinstance(event, Message) and event.type in conn.grammar.types
    raise AssertionError("next_event did not settle")  # pragma: no cover


@FUZZ
@given(
    grammar=grammars,
    role=st.sampled_from(list(Role)),
    which=st.integers(0, 100),
    chunks=st.lists(st.binary(min_size=1, max_size=64), max_size=8),
)
def test_arbitrary_bytes(grammar: Grammar, role: Role, which: int, chunks: list[bytes]) -> None:
    reachable = list(paths(grammar))
    client, server = pair_in(grammar, reachable[which % len(reachable)])
    conn = client if role is Role.CLIENT else server
    for chunk in [*chunks, b""]:
        try:
            conn.receive_data(chunk)
        except RemoteProtocolError:
            assert conn.state is State.ERROR
            return
        _drain(conn)


@FUZZ
@given(
    grammar=grammars,
    role=st.sampled_from(list(Role)),
    which=st.integers(0, 100),
    kind=st.sampled_from(sorted({k for g in GRAMMARS for k in g.types} | {"grant", "nope", ""})),
    body=st.dictionaries(st.text(max_size=12), json_ish, max_size=8),
)
def test_arbitrary_json_frames(
    grammar: Grammar, role: Role, which: int, kind: str, body: dict[str, Any]
) -> None:
    reachable = list(paths(grammar))
    client, server = pair_in(grammar, reachable[which % len(reachable)])
    conn = client if role is Role.CLIENT else server
    conn.receive_data(encode_frame(json.dumps({**body, "type": kind}).encode()))
    _drain(conn)
