"""Fuzz the negotiate handler that runs on an agent's node, behind the runtime's codec.

Issue 13 §8. A customer agent serves ``/kluis/negotiate`` with
``CustomerAgent._handle`` on :class:`protocol.framing.Frames` streams. Each
example opens a few streams and feeds them frames: raw bytes, well-formed opens
for the live intent, moves and deal frames with random bodies, and bit flips of
valid frames. The handler must never raise, every reply must be a frame the
codec would send, and the agent must still accept an honest open afterwards.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.agreements import DEAL_TYPES, NegotiateOpen, dump_deal
from agents.network import CustomerAgent
from agents.session import MOVE_TYPES
from protocol import Identity
from protocol.framing import NEED_DATA, Frames, encode_frame
from tests.integration.test_agents_network import MemoryCloser, _make, mandate_for, spec

OWNER = Identity(b"\x51" * 32)
INTENT_KEY = Identity(b"\x52" * 32)


class FrameCtx:
    """What the runtime hands the handler for one inbound stream (a PeerContext)."""

    def __init__(self, peer: str) -> None:
        self.remote_peer_id = peer
        self.codec = Frames()
        self.closed = False
        self.pushed: list[bytes] = []

    async def send(self, payload: bytes) -> None:
        self.codec.send(payload)  # raises if we would send what the codec refuses
        self.pushed.append(payload)

    async def close(self) -> None:
        self.closed = True

    def feed(self, payload: bytes) -> bytes | None:
        """One frame through the codec, then the handler; the reply it would write."""
        self.codec.receive_data(encode_frame(payload, max_size=len(payload) + 1))
        event = self.codec.next_event()
        assert event is not NEED_DATA
        return event  # type: ignore[return-value]


def _agent() -> CustomerAgent:
    agent = CustomerAgent(spec(window_ms=60_000), mandate_for(OWNER), MemoryCloser(vault=OWNER))
    agent.key = INTENT_KEY
    agent.intent = _make(INTENT_KEY)
    return agent


def _mutate(data: bytes, where: int, bit: int) -> bytes:
    i = where % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
payloads = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda kind, body: json.dumps({**body, "type": kind}).encode(),
        st.sampled_from(sorted({*DEAL_TYPES, *MOVE_TYPES, "nope"})),
        st.dictionaries(
            st.sampled_from(["session", "turn", "bid", "intent_id", "reason", "x"]),
            _values,
            max_size=4,
        ),
    ),
)


async def _run(agent: CustomerAgent, streams: list[list[bytes]]) -> None:
    for n, frames in enumerate(streams):
        ctx = FrameCtx(Identity.generate().peer_id if n % 2 else "12D3KooWfuzz" + "x" * 40)
        for payload in frames:
            if ctx.closed:
                break
            reply: Any = agent._handle(ctx, ctx.feed(payload))
            if inspect.isawaitable(reply):
                reply = await asyncio.wait_for(reply, 5)
            assert reply is None or isinstance(reply, bytes)
            if reply is not None:
                ctx.codec.send(reply)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    streams=st.lists(st.lists(payloads, min_size=1, max_size=4), min_size=1, max_size=3),
    where=st.integers(0, 10**6),
    bit=st.integers(0, 7),
)
def test_any_negotiate_frames_are_answered_or_refused_never_raised(
    streams: list[list[bytes]], where: int, bit: int
) -> None:
    async def main() -> None:
        agent = _agent()
        assert agent.intent is not None
        opener = dump_deal(NegotiateOpen(session="s-fuzz", intent_id=agent.intent.intent_id))
        await _run(agent, [[_mutate(opener, where, bit)], *streams])
        # the agent still takes an honest open on a fresh stream
        honest = FrameCtx(Identity.generate().peer_id)
        fresh = dump_deal(NegotiateOpen(session="s-honest-open", intent_id=agent.intent.intent_id))
        assert agent._handle(honest, honest.feed(fresh)) is None
        assert not honest.closed and honest in agent._convs

    asyncio.run(main())
