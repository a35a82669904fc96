from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from agents import (
    AcceptMove,
    Bid,
    CounterMove,
    Deadline,
    Domain,
    EndMove,
    IllegalMove,
    InvalidBid,
    ManualClock,
    NegotiationSession,
    OfferMove,
    RefuseMove,
    SessionState,
    Side,
    UnexpectedMove,
    dump_move,
    parse_move,
    render_transition_table,
)
from agents.session import FINAL_STATES, TRANSITIONS, Mover
from protocol import (
    LocalProtocolError,
    MalformedFrame,
    UnexpectedMessage,
    UnknownMessage,
    canonical_loads,
)

KINDS = ("offer", "counter", "refuse", "accept", "end")


def pair(
    domain: Domain,
    deadline: Deadline | None = None,
    clock: ManualClock | None = None,
) -> tuple[NegotiationSession, NegotiationSession]:
    kw: dict[str, Any] = {"session_id": "s1"}
    if clock is not None:
        kw["clock"] = clock
    d = deadline or Deadline(rounds=10)
    return (
        NegotiationSession(domain, Side.INITIATOR, d, **kw),
        NegotiationSession(domain, Side.RESPONDER, d, **kw),
    )


def bid1(domain: Domain) -> Bid:
    return domain.bid(price=3000, months=24, data="1GB", shared={"contact.email"})


def bid2(domain: Domain) -> Bid:
    return domain.bid(price=1500, months=12, data="5GB", shared={"contact.email"})


def relay(src: NegotiationSession, dst: NegotiationSession, move: Any) -> None:
    dst.receive(dump_move(move))  # through the wire encoding, as over libp2p


def test_offer_accept(domain: Domain) -> None:
    a, b = pair(domain)
    assert a.my_turn and not b.my_turn
    relay(a, b, a.offer(bid1(domain)))
    assert a.state is b.state is SessionState.OFFERED
    assert b.my_turn and b.on_table == bid1(domain)
    relay(b, a, b.accept())
    assert a.state is b.state is SessionState.AGREED
    assert a.agreement == b.agreement == bid1(domain)
    assert a.turn == b.turn == 2 and a.is_final


def test_counter_chain_then_accept(domain: Domain) -> None:
    a, b = pair(domain)
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.counter(bid2(domain)))
    relay(a, b, a.counter(bid1(domain)))
    relay(b, a, b.counter(bid2(domain)))
    assert a.view().their_bids == (bid2(domain), bid2(domain))
    assert b.view().my_bids == (bid2(domain), bid2(domain))
    relay(a, b, a.accept())
    assert b.agreement == bid2(domain) and b.ended_by is Side.INITIATOR


@pytest.mark.parametrize("who", [Side.INITIATOR, Side.RESPONDER])
@pytest.mark.parametrize("after_offer", [False, True])
def test_either_side_may_end(domain: Domain, who: Side, after_offer: bool) -> None:
    a, b = pair(domain)
    if after_offer:
        relay(a, b, a.offer(bid1(domain)))
    me, peer = (a, b) if who is Side.INITIATOR else (b, a)
    relay(me, peer, me.end("not interested"))
    assert me.state is peer.state is SessionState.ENDED
    assert peer.reason == "not interested" and peer.ended_by is who
    assert peer.agreement is None


def _state(domain: Domain, state: SessionState) -> tuple[NegotiationSession, NegotiationSession]:
    a, b = pair(domain)
    if state is SessionState.OFFERED:
        relay(a, b, a.offer(bid1(domain)))
    elif state is SessionState.REFUSED:
        relay(a, b, a.offer(bid1(domain)))
        relay(b, a, b.refuse())
    elif state is SessionState.AGREED:
        relay(a, b, a.offer(bid1(domain)))
        relay(b, a, b.accept())
    elif state is SessionState.ENDED:
        relay(a, b, a.end())
    elif state is SessionState.TIMED_OUT:
        a, b = pair(domain, Deadline(rounds=1))
        relay(a, b, a.offer(bid1(domain)))
        relay(b, a, b.counter(bid2(domain)))
    elif state is SessionState.BROKEN:
        a.peer_lost()
        b.peer_lost()
    assert a.state is b.state is state
    return a, b


def _move(kind: str, s: NegotiationSession, domain: Domain) -> Any:
    wire = domain.bid_to_wire(s.on_table or bid1(domain))
    if kind == "offer":
        return OfferMove(session="s1", turn=s.turn, bid=wire)
    if kind == "counter":
        return CounterMove(session="s1", turn=s.turn, bid=domain.bid_to_wire(bid2(domain)))
    if kind == "accept":
        return AcceptMove(session="s1", turn=s.turn, bid=wire)
    if kind == "refuse":
        return RefuseMove(session="s1", turn=s.turn)
    return EndMove(session="s1", turn=s.turn)


@pytest.mark.parametrize(
    ("state", "side", "direction", "kind"),
    list(itertools.product(SessionState, Side, ("send", "receive"), KINDS)),
)
def test_every_transition_matches_the_table(
    domain: Domain, state: SessionState, side: Side, direction: str, kind: str
) -> None:
    a, b = _state(domain, state)
    me = a if side is Side.INITIATOR else b
    mover_side = me.side if direction == "send" else me.side.other
    mover = Mover.TO_MOVE if me.side_to_move is mover_side else Mover.OTHER
    expected = TRANSITIONS.get((state, mover, kind))
    move = _move(kind, me, domain)
    before = (me.state, me.turn)
    if expected is None:
        err = IllegalMove if direction == "send" else UnexpectedMove
        base = LocalProtocolError if direction == "send" else UnexpectedMessage
        with pytest.raises(err) as info:
            (me.send if direction == "send" else me.receive)(move)
        assert isinstance(info.value, base)
        assert (me.state, me.turn) == before  # a refused move changes nothing
    else:
        (me.send if direction == "send" else me.receive)(move)
        assert me.state is expected


def test_refuse_without_counter_hands_the_move_back(domain: Domain) -> None:
    """A refusal takes the bid off the table; its author bids again with ``offer``."""
    a, b = pair(domain)
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.refuse())
    assert a.state is b.state is SessionState.REFUSED
    assert a.on_table is b.on_table is None
    assert a.my_turn and not b.my_turn and a.turn == b.turn == 2
    with pytest.raises(IllegalMove):
        b.offer(bid2(domain))  # not the refuser's turn
    with pytest.raises(IllegalMove):
        a.accept()  # nothing on the table
    relay(a, b, a.propose(bid2(domain)))  # propose() offers on an empty table
    assert b.state is SessionState.OFFERED and b.on_table == bid2(domain)
    assert b.view().their_bids == (bid1(domain), bid2(domain))
    relay(b, a, b.accept())
    assert a.agreement == bid2(domain)


def test_a_refusal_in_the_last_slot_times_out(domain: Domain) -> None:
    a, b = pair(domain, Deadline(rounds=1))
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.refuse())
    assert a.state is b.state is SessionState.TIMED_OUT


def test_wrong_turn_session_and_bid_are_refused(domain: Domain) -> None:
    a, b = pair(domain)
    wire = domain.bid_to_wire(bid1(domain))
    with pytest.raises(UnexpectedMove):
        b.receive(OfferMove(session="s1", turn=1, bid=wire))
    with pytest.raises(UnexpectedMove):
        b.receive(OfferMove(session="other", turn=0, bid=wire))
    relay(a, b, a.offer(bid1(domain)))
    with pytest.raises(UnexpectedMove):  # accepts a bid that is not on the table
        a.receive(AcceptMove(session="s1", turn=1, bid=domain.bid_to_wire(bid2(domain))))
    with pytest.raises(UnexpectedMove):  # a replayed move
        b.receive(OfferMove(session="s1", turn=0, bid=wire))
    bad = {**wire, "price": 1001}
    with pytest.raises(InvalidBid):
        a.receive(CounterMove(session="s1", turn=1, bid=bad))
    with pytest.raises(IllegalMove):
        b.counter(Bid({"price": 1}))
    assert b.state is SessionState.OFFERED and b.turn == 1


def test_stale_end_is_accepted_but_future_end_is_not(domain: Domain) -> None:
    a, b = pair(domain)
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.counter(bid2(domain)))
    with pytest.raises(UnexpectedMove):
        b.receive(EndMove(session="s1", turn=9))
    b.receive(EndMove(session="s1", turn=1))  # crossed our counter in flight
    assert b.state is SessionState.ENDED


def test_rounds_deadline(domain: Domain) -> None:
    a, b = pair(domain, Deadline(rounds=2))
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.counter(bid2(domain)))
    relay(a, b, a.counter(bid1(domain)))
    assert b.view().moves_left == 1  # last chance: only accepting can close a deal
    relay(b, a, b.counter(bid2(domain)))  # the 4th move uses the last slot
    assert a.state is b.state is SessionState.TIMED_OUT
    with pytest.raises(IllegalMove):
        a.accept()


def test_accept_on_the_last_move(domain: Domain) -> None:
    a, b = pair(domain, Deadline(rounds=1))
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.accept())
    assert a.state is SessionState.AGREED


def test_time_deadline_with_injected_clock(domain: Domain) -> None:
    clock = ManualClock(1_000)
    a, b = pair(domain, Deadline(ms=500), clock)
    relay(a, b, a.offer(bid1(domain)))
    clock.advance(250)
    assert b.progress == pytest.approx(0.5)
    assert not b.check_deadline()
    clock.advance(250)
    with pytest.raises(IllegalMove):
        b.counter(bid2(domain))
    assert b.state is SessionState.TIMED_OUT
    with pytest.raises(UnexpectedMove):
        a.receive(CounterMove(session="s1", turn=1, bid=domain.bid_to_wire(bid2(domain))))
    assert a.state is SessionState.TIMED_OUT


def test_peer_vanishing_mid_session(domain: Domain) -> None:
    a, b = pair(domain)
    relay(a, b, a.offer(bid1(domain)))
    relay(b, a, b.counter(bid2(domain)))
    a.peer_lost()
    assert a.state is SessionState.BROKEN and a.agreement is None
    with pytest.raises(IllegalMove):
        a.accept()
    with pytest.raises(UnexpectedMove):
        a.receive(EndMove(session="s1", turn=2))
    # a finished session stays finished
    c, d = pair(domain)
    relay(c, d, c.offer(bid1(domain)))
    relay(d, c, d.accept())
    c.peer_lost()
    assert c.state is SessionState.AGREED


def test_move_wire_format(domain: Domain) -> None:
    move = CounterMove(session="s1", turn=3, bid=domain.bid_to_wire(bid1(domain)))
    raw = dump_move(move)
    decoded = canonical_loads(raw)
    assert decoded["type"] == "negotiate_counter" and decoded["bid"]["shared"] == ["contact.email"]
    assert parse_move(raw) == move
    for m in (
        OfferMove(session="s", turn=0, bid={"a": 1}),
        AcceptMove(session="s", turn=5, bid={"a": "x"}),
        EndMove(session="s", turn=2, reason="no"),
        RefuseMove(session="s", turn=4),
    ):
        assert parse_move(dump_move(m)) == m
    with pytest.raises(Exception):  # frozen
        move.turn = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b'{"type":"negotiate_offer","session":"s","turn":0,"bid":{"a":1.5}}', MalformedFrame),
        (b'{"type":"negotiate_offer","session":"s","turn":0,"bid":{"a":null}}', MalformedFrame),
        (b'{"type":"negotiate_offer","session":"s","turn":0,"bid":{"a":{"b":1}}}', MalformedFrame),
        (b'{"type":"negotiate_refuse","session":"s","turn":0,"bid":{"a":1}}', MalformedFrame),
        (b'{"type":"negotiate_offer","session":"s","turn":"0","bid":{"a":1}}', MalformedFrame),
        (b'{"type":"negotiate_offer","session":"s","turn":0,"bid":{}}', MalformedFrame),
        (b'{"type":"negotiate_end","session":"s","turn":0,"x":1}', MalformedFrame),
        (b'{"type":"negotiate_end","session":"s s","turn":0}', MalformedFrame),
        (b'{"type":"negotiate_end","session":"s","turn":-1}', MalformedFrame),
        (b'{"type":"negotiate_end","session":"s","turn":0,"reason":"\\u0000"}', MalformedFrame),
        (b'{"type":"negotiate_haggle","session":"s","turn":0}', UnknownMessage),
        (b'{"session":"s"}', MalformedFrame),
        (b"[1]", MalformedFrame),
        (b"\xff", MalformedFrame),
    ],
)
def test_bad_frames_are_typed_errors(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_move(payload)


def test_receive_accepts_bytes_and_dicts(domain: Domain) -> None:
    a, b = pair(domain)
    move = a.offer(bid1(domain))
    b.receive(json.loads(dump_move(move)))
    assert b.state is SessionState.OFFERED


def test_transition_table_renders_every_row() -> None:
    text = render_transition_table()
    for (state, _who, kind), nxt in TRANSITIONS.items():
        assert f"`{state.value}`" in text and f"`{kind}`" in text and f"`{nxt.value}`" in text
    for final in FINAL_STATES:
        assert final.value in text
    assert "peer_lost()" in text and "deadline" in text
