"""Real libp2p nodes on 127.0.0.1 speaking a grammar: the state machine is what runs.

A stream served or opened by grammar goes through an h11-style Connection on
each side: handlers get and return messages, replies are checked against the
request in flight, and a protocol violation ends that one stream with a typed
error while the node serves everyone else.
"""

from __future__ import annotations

import asyncio

import pytest

from protocol import (
    ACCESS,
    ACCESS_GRAMMAR,
    CONTACT,
    CONTACT_GRAMMAR,
    Ack,
    ConnectionBroken,
    Error,
    ErrorCode,
    LocalProtocolError,
    Message,
    Read,
    ReadResult,
    RemoteProtocolError,
    Subscribe,
    UnexpectedMessage,
    Update,
    dump_message,
    parse_message,
)
from protocol.runtime import EndOfStream, Node, PeerContext
from protocol.signing import Identity

from ..conn_helpers import NONCE
from .conftest import NodeFactory

pytestmark = pytest.mark.timeout(30)


def a_read(client: Node, grant_id: str = "g1") -> Read:
    return Read(grant_id=grant_id, requester=client.peer_id, fields=("a",), nonce=NONCE, ts=1)


def answer_reads(ctx: PeerContext, msg: Message) -> Message:
    """A server that answers every read with its (empty) result, and refuses the rest."""
    if isinstance(msg, Read):
        return ReadResult(grant_id=msg.grant_id, values={})
    return Error(code=ErrorCode.UNEXPECTED_MESSAGE, message="not here", ref=None)


async def test_requests_and_replies_are_messages(pair: tuple[Node, Node]) -> None:
    server, client = pair
    seen: list[Message] = []

    def handler(ctx: PeerContext, msg: Message) -> Message:
        seen.append(msg)
        assert ctx.frame_size == len(dump_message(msg))
        return answer_reads(ctx, msg)

    server.set_frame_handler(ACCESS_GRAMMAR, handler)
    for grant_id in ("g1", "g2", "g3"):  # one pooled stream carries them all
        reply = await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client, grant_id))
        assert reply == ReadResult(grant_id=grant_id, values={})
    assert [m.grant_id for m in seen] == ["g1", "g2", "g3"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"{not json", ErrorCode.MALFORMED),
        (b'{"type": "teleport"}', ErrorCode.UNKNOWN_MESSAGE),
        (
            b'{"type": "ack", "ref": "r1"}',
            ErrorCode.UNEXPECTED_MESSAGE,
        ),  # a reply, sent as a request
    ],
)
async def test_a_violation_poisons_that_stream_only(
    make_node: NodeFactory, frame: bytes, code: ErrorCode
) -> None:
    server = await make_node()
    hostile = await make_node()
    honest = await make_node()
    hooked: list[tuple[str, ErrorCode]] = []

    def on_error(ctx: PeerContext, exc: RemoteProtocolError) -> Error:
        hooked.append((ctx.remote_peer_id, exc.code))
        return Error(code=exc.code, message=exc.message)

    server.set_frame_handler(ACCESS_GRAMMAR, answer_reads, on_protocol_error=on_error)
    await hostile.connect(server.addrs[0])
    await honest.connect(server.addrs[0])
    # the hostile peer opens two streams and speaks raw frames on one of them
    spare = await hostile.open_stream(server.peer_id, ACCESS_GRAMMAR)
    bad = await hostile.open_stream(server.peer_id, ACCESS)
    await bad.send(frame)
    reply = parse_message(await asyncio.wait_for(bad.receive(), 5))
    assert isinstance(reply, Error) and reply.code is code
    with pytest.raises(EndOfStream):  # then that stream is closed
        await asyncio.wait_for(bad.receive(), 5)
    await bad.aclose()
    assert hooked == [(hostile.peer_id, code)]
    # its other stream, an honest peer, and a new stream of the same peer are served
    await spare.send(a_read(hostile, "spare"))
    assert await asyncio.wait_for(spare.receive(), 5) == ReadResult(grant_id="spare", values={})
    await spare.aclose()
    ok = await honest.request(server.peer_id, ACCESS_GRAMMAR, a_read(honest))
    assert isinstance(ok, ReadResult)
    again = await hostile.request(server.peer_id, ACCESS_GRAMMAR, a_read(hostile))
    assert isinstance(again, ReadResult)


async def test_without_a_hook_the_peer_still_gets_a_typed_error(pair: tuple[Node, Node]) -> None:
    server, client = pair
    server.set_frame_handler(CONTACT_GRAMMAR, lambda ctx, msg: Ack(ref="never"))
    stream = await client.open_stream(server.peer_id, CONTACT)
    await stream.send(b'{"type": "read"}')  # not a message of /kluis/contact
    reply = parse_message(await asyncio.wait_for(stream.receive(), 5))
    assert isinstance(reply, Error) and reply.code is ErrorCode.UNKNOWN_MESSAGE
    await stream.aclose()


async def test_a_reply_the_grammar_forbids_is_never_sent(pair: tuple[Node, Node]) -> None:
    server, client = pair
    calls = 0

    def wrong(ctx: PeerContext, msg: Message) -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return Ack(ref="x")  # a read is answered by read_result or error, never ack
        return answer_reads(ctx, msg)

    server.set_frame_handler(ACCESS_GRAMMAR, wrong)
    with pytest.raises(ConnectionBroken):  # the server reset the stream instead
        await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client))
    reply = await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client))
    assert isinstance(reply, ReadResult)  # and kept serving


async def test_the_client_refuses_a_reply_to_another_request(pair: tuple[Node, Node]) -> None:
    server, client = pair
    replies = [ReadResult(grant_id="someone-else", values={}), None]

    def raw(ctx: PeerContext, payload: bytes) -> bytes:
        msg = parse_message(payload)
        planted = replies.pop(0)
        return dump_message(planted or ReadResult(grant_id=msg.grant_id, values={}))  # type: ignore[attr-defined]

    server.set_frame_handler(ACCESS, raw)  # a server that does not check what it sends
    with pytest.raises(UnexpectedMessage):
        await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client))
    # the out-of-step stream was dropped; the next request opens a fresh one
    assert await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client)) == ReadResult(
        grant_id="g1", values={}
    )


async def test_a_request_we_may_not_send_is_refused_locally(pair: tuple[Node, Node]) -> None:
    server, client = pair
    server.set_frame_handler(ACCESS_GRAMMAR, answer_reads)
    with pytest.raises(LocalProtocolError):
        await client.request(server.peer_id, ACCESS_GRAMMAR, Ack(ref="x"))
    assert isinstance(
        await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client)), ReadResult
    )


async def test_subscription_push_goes_through_the_state_machine(pair: tuple[Node, Node]) -> None:
    server, client = pair
    pushed = asyncio.Event()
    early: list[type[BaseException]] = []

    async def subscribe(ctx: PeerContext, msg: Message) -> None:
        assert isinstance(msg, Subscribe)
        try:
            await ctx.send(Ack(ref="another-grant"))  # not an answer to this subscribe
        except LocalProtocolError as exc:
            early.append(type(exc))
        await ctx.send(Error(code=ErrorCode.INTERNAL, ref=msg.grant_id))
        pushed.set()

    server.set_frame_handler(ACCESS_GRAMMAR, subscribe)
    stream = await client.open_stream(server.peer_id, ACCESS_GRAMMAR)
    sub = Subscribe(grant_id="g1", requester=client.peer_id, fields=("a",), nonce=NONCE, ts=1)
    await stream.send(sub)
    await asyncio.wait_for(pushed.wait(), 5)
    assert early == [LocalProtocolError]
    # the refused ack put the server's side in ERROR: only the error went out
    reply = await asyncio.wait_for(stream.receive(), 5)
    assert isinstance(reply, Error) and reply.ref == "g1"
    await stream.aclose()


async def test_updates_follow_the_ack_on_a_subscription(pair: tuple[Node, Node]) -> None:
    server, client = pair

    async def subscribe(ctx: PeerContext, msg: Message) -> None:
        assert isinstance(msg, Subscribe)
        await ctx.send(Ack(ref=msg.grant_id))
        for version in (1, 2):
            await ctx.send(
                Update(grant_id=msg.grant_id, path="a", value=str(version), version=version, ts=1)
            )

    server.set_frame_handler(ACCESS_GRAMMAR, subscribe)
    stream = await client.open_stream(server.peer_id, ACCESS_GRAMMAR)
    await stream.send(
        Subscribe(grant_id="g1", requester=client.peer_id, fields=("a",), nonce=NONCE, ts=1)
    )
    got = [await asyncio.wait_for(stream.receive(), 5) for _ in range(3)]
    assert [m.type for m in got] == ["ack", "update", "update"]
    with pytest.raises(LocalProtocolError):  # a subscribed client sends nothing more
        await stream.send(a_read(client))
    await stream.reset()


async def test_raw_frames_still_speak_bytes_beside_grammars(pair: tuple[Node, Node]) -> None:
    server, client = pair
    server.set_frame_handler("/kluis-test/raw/1.0.0", lambda ctx, payload: payload[::-1])
    server.set_frame_handler(ACCESS_GRAMMAR, answer_reads)
    assert await client.request(server.peer_id, "/kluis-test/raw/1.0.0", b"abc") == b"cba"
    assert isinstance(
        await client.request(server.peer_id, ACCESS_GRAMMAR, a_read(client)), ReadResult
    )
    raw_reply = parse_message(
        await client.request(server.peer_id, ACCESS, dump_message(a_read(client, "raw")))
    )
    assert raw_reply == ReadResult(grant_id="raw", values={})


async def test_node_start_is_an_async_context_manager(make_node: NodeFactory) -> None:
    server = await make_node()
    async with Node.start(Identity.generate(), listen=["/ip4/127.0.0.1/tcp/0"]) as node:
        await node.connect(server.addrs[0])
        assert server.peer_id in node.peers()
    assert node.closed
