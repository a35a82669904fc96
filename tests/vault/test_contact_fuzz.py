"""Fuzz the contact endpoint that runs on a node: CONTACT_GRAMMAR's Connection in front of
ContactService, as ``tests/vault/test_access_fuzz.py`` does for access (issue 13 §8).

Whatever a peer sends, the vault answers with something the grammar lets it send,
nothing escapes, and junk never lands in the inbox.
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

from protocol import (
    CONTACT_GRAMMAR,
    ContactMessage,
    ContactPolicy,
    Error,
    Identity,
    Message,
    State,
    dump_message,
    new_id,
    new_nonce,
    now_ms,
    sign,
)
from tests.protocol.strategies import messages
from vault.services.contact_service import ContactService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.store.vault import Vault

from .access_helpers import access_request
from .conftest import PASSPHRASE
from .serving import ServerStream

BIZ = Identity.generate()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ContactService, str]]:
    home: Path = tmp_path_factory.mktemp("fuzz") / "vault"
    with Vault.create(home, PASSPHRASE) as vault:
        grants = GrantBook(vault)
        svc = ContactService(vault, grants, limiter=RateLimiter(rate=1_000_000, burst=1_000_000))
        req = access_request(
            BIZ,
            vault.peer_id,
            ["contact.email"],
            actions=("read", "contact"),
            contact=ContactPolicy.of([("service", 1000, 1)]),
        )
        grants.submit(req)
        yield svc, grants.approve(req.request_id).grant_id


def honest_message(vault_peer: str, grant_id: str) -> bytes:
    msg = ContactMessage(
        message_id=new_id(),
        grant_id=grant_id,
        requester=BIZ.peer_id,
        vault=vault_peer,
        category="service",
        subject="Your order shipped",
        body="It arrives tomorrow.",
        nonce=new_nonce(),
        ts=now_ms(),
    )
    return dump_message(sign(msg, BIZ))


def _mutate(data: bytes, where: int, bit: int) -> bytes:
    i = where % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


payloads = st.one_of(
    st.binary(max_size=300),
    messages.map(dump_message),
    st.builds(
        lambda kind, body: json.dumps({**body, "type": kind}).encode(),
        st.sampled_from([*CONTACT_GRAMMAR.types, "contact_message", "nope"]),
        st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5),
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    frames=st.lists(payloads, min_size=1, max_size=4),
    honest_first=st.booleans(),
    where=st.integers(0, 10**6),
    bit=st.integers(0, 7),
)
def test_any_contact_frames_get_answers_the_grammar_allows(
    world: tuple[ContactService, str],
    frames: list[bytes],
    honest_first: bool,
    where: int,
    bit: int,
) -> None:
    svc, grant_id = world
    stream = ServerStream(BIZ.peer_id, CONTACT_GRAMMAR)
    honest = honest_message(svc.vault.peer_id, grant_id)
    sent = [honest, _mutate(honest, where, bit), *frames] if honest_first else frames
    before = len(svc.inbox.messages(include_muted=True))
    for n, payload in enumerate(sent):
        if stream.closed:
            break
        reply = stream.feed(svc, payload)  # a reply the grammar forbids raises here
        if inspect.isawaitable(reply):
            reply = asyncio.run(asyncio.wait_for(reply, 5))  # type: ignore[arg-type]
        assert reply is None or isinstance(reply, Message)
        if honest_first and n == 0:
            assert not isinstance(reply, Error), reply  # the stream works before the junk
        if stream.conn.state is State.ERROR:
            assert isinstance(reply, Error) and stream.closed
    after = len(svc.inbox.messages(include_muted=True))
    assert after - before <= (1 if honest_first else 0)  # only the signed honest one lands
