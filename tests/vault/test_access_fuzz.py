"""Fuzz the pair that runs on a node: the access grammar's Connection in front of AccessService.

Whatever a peer sends on one stream, the vault answers with something the
state machine lets it send (a reply to the request in flight, or one ``error``
after a violation), and nothing escapes: no exception, no reply the runtime
would have to drop by resetting the stream.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import ACCESS_GRAMMAR, Error, Identity, Message, ReadResult, State, dump_message
from tests.protocol.strategies import messages
from vault.services.access import AccessService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleBook
from vault.store.vault import Vault

from .access_helpers import access_request, read
from .conftest import PASSPHRASE
from .serving import ServerStream

ALICE = Identity.generate()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AccessService, str]]:
    home: Path = tmp_path_factory.mktemp("fuzz") / "vault"
    with Vault.create(home, PASSPHRASE) as vault:
        vault.profile.set("contact.email", "alice@example.org")
        grants = GrantBook(vault)
        limiter = RateLimiter(rate=1_000_000, burst=1_000_000)
        svc = AccessService(vault, grants, RuleBook(vault), limiter=limiter)
        req = access_request(ALICE, vault.peer_id, ["contact.email"])
        grants.submit(req)
        yield svc, grants.approve(req.request_id).grant_id


def _mutate(data: bytes, where: int, bit: int) -> bytes:
    if not data:
        return data
    i = where % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


payloads = st.one_of(
    st.binary(max_size=300),
    messages.map(dump_message),
    st.builds(
        lambda kind, body: json.dumps({**body, "type": kind}).encode(),
        st.sampled_from([*ACCESS_GRAMMAR.types, "grant", "nope"]),
        st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5),
    ),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    frames=st.lists(payloads, min_size=1, max_size=4),
    honest_first=st.booleans(),
    where=st.integers(0, 10**6),
    bit=st.integers(0, 7),
)
def test_any_frames_get_answers_the_grammar_allows(
    world: tuple[AccessService, str],
    frames: list[bytes],
    honest_first: bool,
    where: int,
    bit: int,
) -> None:
    svc, grant_id = world
    stream = ServerStream(ALICE.peer_id)
    honest = dump_message(read(ALICE, grant_id, ["contact.email"]))
    sent = [honest, _mutate(honest, where, bit), *frames] if honest_first else frames
    for n, payload in enumerate(sent):
        if stream.closed:
            break
        # feed() sends the reply through the stream's Connection: a reply the grammar
        # does not allow would raise LocalProtocolError here and fail the test.
        reply = stream.feed(svc, payload)
        if inspect.isawaitable(reply):
            reply = asyncio.run(_settle(reply))
        assert reply is None or isinstance(reply, Message)
        if honest_first and n == 0:
            assert isinstance(reply, ReadResult)  # the stream works before the junk
        if stream.conn.state is State.ERROR:
            assert isinstance(reply, Error) and stream.closed
        else:
            assert stream.conn.state in (State.IDLE, State.SUBSCRIBED, State.CLOSED)


async def _settle(reply: object) -> object:
    return await asyncio.wait_for(reply, 5)  # type: ignore[arg-type]
