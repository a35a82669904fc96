"""The attack catalogue, each against real nodes on 127.0.0.1.

Every attack is refused with a typed Error, written to the audit log, and the
vault keeps serving an honest peer afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    ACCESS,
    Error,
    ErrorCode,
    Grant,
    Identity,
    ReadResult,
    dump_message,
    now_ms,
    parse_message,
)
from protocol.clock import DAY_MS
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from tests.vault.access_helpers import access_request, read
from vault.node.boss import VaultNode
from vault.services.ratelimit import RateLimiter
from vault.store.vault import Vault


class OffsetClock:
    """Wall time plus an offset the test moves (expiry without waiting)."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_ms() + self.offset


@dataclass
class World:
    vn: VaultNode
    clock: OffsetClock
    alice: Identity
    alice_node: Any
    mallory: Identity
    mallory_node: Any
    grant: Grant

    async def send(self, node: Any, payload: bytes | Any) -> Any:
        raw = payload if isinstance(payload, bytes) else dump_message(payload)
        return parse_message(await node.request(self.vn.peer_id, ACCESS, raw, timeout=10))

    async def honest_read_ok(self) -> None:
        reply = await self.send(
            self.alice_node, read(self.alice, self.grant.grant_id, ["contact.email"])
        )
        assert isinstance(reply, ReadResult), reply
        assert reply.values["contact.email"].value == "alice@example.org"

    async def refused(self, node: Any, payload: bytes | Any, code: ErrorCode) -> Error:
        before = [g.to_json() for g in self.vn.grants.grants()]
        seq = len(self.vn.vault.audit)
        reply = await self.send(node, payload)
        assert isinstance(reply, Error), reply
        assert reply.code is code, reply
        self.vn.access.strangers.flush_all(self.vn.grants.now())  # counted per window
        refusals = [e for e in self.vn.vault.audit.entries(seq + 1) if e.kind == "access.refused"]
        assert refusals and refusals[-1].details["code"] == code.value
        assert [g.to_json() for g in self.vn.grants.grants()] == before
        await self.honest_read_ok()
        return reply


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    from protocol.runtime import Node

    home = tmp_path / "home"
    Vault.create(home, PASSPHRASE).close()
    clock = OffsetClock()
    alice, mallory = Identity.generate(), Identity.generate()
    vn = await VaultNode.start(
        home,
        PASSPHRASE,
        listen=LOOPBACK,
        clock=clock,
        limiter=RateLimiter(rate=5, burst=20),
        control_port=None,
    )
    try:
        vn.vault.profile.set("contact.email", "alice@example.org")
        vn.vault.profile.set("name.given", "Alice")
        async with (
            Node.start(alice, listen=LOOPBACK, bootstrap=[], mdns=False) as a_node,
            Node.start(mallory, listen=LOOPBACK, bootstrap=[], mdns=False) as m_node,
        ):
            await a_node.connect(vn.addrs[0])
            await m_node.connect(vn.addrs[0])
            req = access_request(alice, vn.peer_id, ["contact.email", "name.given"])
            w = World(vn, clock, alice, a_node, mallory, m_node, Grant.model_construct())
            await w.send(a_node, req)
            w.grant = vn.approve(req.request_id, fields=["contact.email"])
            await w.honest_read_ok()
            yield w
    finally:
        await vn.close()


async def test_field_outside_scope(world: World) -> None:
    w = world
    await w.refused(
        w.alice_node, read(w.alice, w.grant.grant_id, ["name.given"]), ErrorCode.OUT_OF_SCOPE
    )
    err = await w.refused(
        w.alice_node,
        read(w.alice, w.grant.grant_id, ["contact.email", "name.given"]),
        ErrorCode.OUT_OF_SCOPE,
    )
    assert "Alice" not in err.message


async def test_revoked_grant(world: World) -> None:
    w = world
    req = access_request(w.alice, w.vn.peer_id, ["name.given"])
    await w.send(w.alice_node, req)
    other = w.vn.approve(req.request_id)
    await w.vn.revoke(other.grant_id)
    await w.refused(w.alice_node, read(w.alice, other.grant_id, ["name.given"]), ErrorCode.REVOKED)


async def test_expired_grant(world: World) -> None:
    w = world
    req = access_request(w.alice, w.vn.peer_id, ["name.given"], days=1)
    await w.send(w.alice_node, req)
    short = w.vn.approve(req.request_id)
    w.clock.offset = DAY_MS + 1
    try:
        reply = await w.send(w.alice_node, read(w.alice, short.grant_id, ["name.given"]))
        assert isinstance(reply, Error) and reply.code is ErrorCode.EXPIRED
    finally:
        w.clock.offset = 0
    refusal = w.vn.vault.audit.tail(1)[0]
    assert refusal.kind == "access.refused" and refusal.details["code"] == "expired"
    await w.honest_read_ok()


async def test_grant_presented_by_another_peer(world: World) -> None:
    w = world
    await w.refused(
        w.mallory_node, read(w.mallory, w.grant.grant_id, ["contact.email"]), ErrorCode.WRONG_PEER
    )
    # Alice's own signed read, relayed by Mallory: the Noise peer is not the signer
    await w.refused(
        w.mallory_node, read(w.alice, w.grant.grant_id, ["contact.email"]), ErrorCode.WRONG_PEER
    )


async def test_forged_or_altered_signature(world: World) -> None:
    w = world
    msg = read(w.alice, w.grant.grant_id, ["contact.email"])
    await w.refused(
        w.alice_node, msg.model_copy(update={"sig": "ab" * 64}), ErrorCode.BAD_SIGNATURE
    )
    altered = read(w.alice, w.grant.grant_id, ["contact.email"]).model_copy(
        update={"fields": ("name.given",)}
    )
    await w.refused(w.alice_node, altered, ErrorCode.BAD_SIGNATURE)


async def test_replayed_request(world: World) -> None:
    w = world
    msg = read(w.alice, w.grant.grant_id, ["contact.email"])
    assert isinstance(await w.send(w.alice_node, msg), ReadResult)
    await w.refused(w.alice_node, msg, ErrorCode.REPLAY)
    stale = read(w.alice, w.grant.grant_id, ["contact.email"], ts=now_ms() - 600_000)
    await w.refused(w.alice_node, stale, ErrorCode.REPLAY)


async def test_malformed_frame(world: World) -> None:
    w = world
    await w.refused(w.mallory_node, b"\xff{not json", ErrorCode.MALFORMED)
    await w.refused(w.mallory_node, b'{"type": "read", "grant_id": 1}', ErrorCode.MALFORMED)


async def test_unknown_message_type(world: World) -> None:
    w = world
    await w.refused(w.mallory_node, b'{"type": "teleport"}', ErrorCode.UNKNOWN_MESSAGE)


async def test_flood_from_one_peer(world: World) -> None:
    w = world
    junk = b'{"type": "teleport"}'

    async def flood() -> list[Any]:
        return [await w.send(w.mallory_node, junk) for _ in range(120)]

    async def honest() -> int:
        ok = 0
        for _ in range(10):
            await w.honest_read_ok()
            ok += 1
            await asyncio.sleep(0.01)
        return ok

    replies, ok = await asyncio.gather(flood(), honest())
    assert ok == 10
    codes = {r.code for r in replies}
    assert ErrorCode.RATE_LIMITED in codes
    w.vn.access.strangers.flush_all(w.vn.grants.now())  # mallory is a stranger: one count
    audited = [
        e for e in w.vn.vault.audit.entries() if e.details.get("codes", {}).get("rate_limited")
    ]
    assert audited


async def test_oversized_frame(world: World) -> None:
    from protocol.runtime import Node

    w = world
    big = Identity.generate()
    async with Node.start(big, listen=LOOPBACK, max_frame_size=1 << 20) as node:
        await node.connect(w.vn.addrs[0])
        payload = b'{"type": "read", "pad": "' + b"x" * 100_000 + b'"}'
        reply = parse_message(await node.request(w.vn.peer_id, ACCESS, payload, timeout=10))
        assert isinstance(reply, Error) and reply.code is ErrorCode.FRAME_TOO_LARGE
        w.vn.access.strangers.flush_all(w.vn.grants.now())
        refusal = [e for e in w.vn.vault.audit.tail(3) if e.kind == "access.refused"][-1]
        assert refusal.details["code"] == "frame_too_large"
        assert refusal.details["peer"] == big.peer_id
    await w.honest_read_ok()
