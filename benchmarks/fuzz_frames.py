"""Fuzz frames through the handlers that run: access, contact and negotiate (issue 13 §8).

Run: ``python benchmarks/fuzz_frames.py [--frames 1000000] [--seed 1]``.

Each handler sits behind the codec the runtime gives it: the access and contact
services behind their grammar's server ``Connection`` (``tests/vault/serving.py``
drives it exactly as ``protocol.runtime.Node`` does), the customer agent's
negotiate handler behind ``protocol.framing.Frames``. Frames are drawn from a
seeded generator: random bytes, JSON of every message type with junk bodies,
bit flips and truncations of honest signed frames, and honest frames (replays
after their first use, so the replay guard is exercised too). Streams carry one
to four frames; a stream the handler closed is replaced by a fresh one.

A *crash* is any exception that escapes a handler, or a reply the stream's
codec would refuse to send (the runtime would have to reset the stream). It
must be zero. The baseline, measured in the same run on the same frames, is the
codec alone (decoding each frame with no handler), so the figure to watch is
the ratio: what the handlers cost on top of parsing. The vault lives on tmpfs
when there is one, so the figure is the handlers' and not the disk's: every
refusal is audited durably, and on a disk that costs an fsync per junk frame.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol import (
    ACCESS_GRAMMAR,
    CONTACT_GRAMMAR,
    ContactMessage,
    ContactPolicy,
    Identity,
    Message,
    RemoteProtocolError,
    Role,
    dump_message,
    new_id,
    new_nonce,
    now_ms,
    sign,
)
from protocol.connection import Connection
from protocol.framing import MAX_FRAME_SIZE, Frames, encode_frame
from tests.conftest import PASSPHRASE
from tests.vault.access_helpers import access_request, read, subscribe
from tests.vault.serving import ServerStream
from vault.services.access import AccessService
from vault.services.contact_service import ContactService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleBook
from vault.store.vault import Vault

BIZ = Identity(b"\x61" * 32)
OWNER = Identity(b"\x62" * 32)
JUNK_KEYS = ("grant_id", "requester", "vault", "fields", "nonce", "ts", "sig", "session",
             "turn", "bid", "intent_id", "subject", "body", "category", "x")  # fmt: skip


def _junk_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(7 if depth < 2 else 5)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice([0, -1, 1, 2**53, -(2**63), 10**30, rng.randrange(-1000, 1000)])
    if pick == 3:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000)]))
                       for _ in range(rng.randrange(0, 12)))  # fmt: skip
    if pick == 4:
        return rng.choice(["contact.email", "*", "", "\u202e", "[/bold]", "a" * 300])
    if pick == 5:
        return [_junk_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(JUNK_KEYS): _junk_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


class Generator:
    """Seeded frames for one handler: junk, typed junk, mutated and honest frames."""

    def __init__(self, rng: random.Random, types: list[str], honest: list[bytes]) -> None:
        self.rng, self.types, self.honest = rng, types, honest

    def __call__(self) -> bytes:
        rng = self.rng
        pick = rng.random()
        if pick < 0.25:
            return rng.randbytes(rng.randrange(0, 200))
        if pick < 0.55:
            body = {k: _junk_value(rng) for k in rng.sample(JUNK_KEYS, rng.randrange(0, 6))}
            body["type"] = rng.choice(self.types)
            return json.dumps(body).encode()
        frame = rng.choice(self.honest)
        if pick < 0.80:
            i = rng.randrange(len(frame))
            return frame[:i] + bytes([frame[i] ^ (1 << rng.randrange(8))]) + frame[i + 1 :]
        if pick < 0.90:
            return frame[: rng.randrange(len(frame))]
        return frame


class Target:
    """One handler behind its codec; counts frames and crashes."""

    def __init__(self, name: str, gen: Generator, stream: Callable[[], Any], feed: Any) -> None:
        self.name, self.gen, self.new_stream, self.feed = name, gen, stream, feed
        self.frames = self.crashes = 0
        self.first_crash = ""


def _crash(target: Target, payload: bytes) -> None:
    target.crashes += 1
    if not target.first_crash:
        target.first_crash = f"{payload!r:.200}\n{traceback.format_exc()}"


async def _access_feed(stream: ServerStream, svc: Any, payload: bytes) -> bool:
    reply = stream.feed(svc, payload)
    if inspect.isawaitable(reply):
        reply = await asyncio.wait_for(reply, 5)
    if not (reply is None or isinstance(reply, Message)):
        raise AssertionError(f"reply {reply!r} is not a message")
    return stream.closed


class FrameCtx:
    """The PeerContext a negotiate handler sees, over a Frames codec."""

    def __init__(self, peer: str) -> None:
        self.remote_peer_id, self.codec, self.closed = peer, Frames(), False

    async def send(self, payload: bytes) -> None:
        self.codec.send(payload)

    async def close(self) -> None:
        self.closed = True


async def _negotiate_feed(ctx: FrameCtx, agent: Any, payload: bytes) -> bool:
    ctx.codec.receive_data(encode_frame(payload, max_size=MAX_FRAME_SIZE))
    try:
        event = ctx.codec.next_event()
    except RemoteProtocolError:
        return True  # the runtime answers codec errors itself; no handler call
    reply = agent._handle(ctx, event)
    if inspect.isawaitable(reply):
        reply = await asyncio.wait_for(reply, 5)
    if reply is not None:
        ctx.codec.send(reply)
    return ctx.closed


async def run(frames: int, seed: int) -> int:
    rng = random.Random(seed)
    # tmpfs when there is one: this measures the handlers, not the disk's fsync
    # (every refusal is audited durably; on a disk that dominates, see the report)
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        vault = Vault.create(Path(tmp) / "vault", PASSPHRASE)
        try:
            vault.profile.set("contact.email", "alice@example.org")
            grants = GrantBook(vault)
            limiter = RateLimiter(rate=10**9, burst=10**9)
            access = AccessService(vault, grants, RuleBook(vault), limiter=limiter)
            contact = ContactService(vault, grants, limiter=limiter)
            await access.start()
            req = access_request(BIZ, vault.peer_id, ["contact.email"],
                                 actions=("read", "subscribe", "contact"),
                                 contact=ContactPolicy.of([("service", 1000, 1)]))  # fmt: skip
            grants.submit(req)
            gid = grants.approve(req.request_id).grant_id
            honest_access = [dump_message(read(BIZ, gid, ["contact.email"])) for _ in range(200)]
            honest_access += [dump_message(access_request(BIZ, vault.peer_id)) for _ in range(20)]
            honest_access += [dump_message(subscribe(BIZ, gid, ["contact.email"]))]
            honest_contact = [
                dump_message(sign(ContactMessage(
                    message_id=new_id(), grant_id=gid, requester=BIZ.peer_id,
                    vault=vault.peer_id, category="service", subject="hi", body="hello",
                    nonce=new_nonce(), ts=now_ms()), BIZ))
                for _ in range(100)
            ]  # fmt: skip
            targets = [
                Target("access", Generator(rng, [*ACCESS_GRAMMAR.types, "nope"], honest_access),
                       lambda: ServerStream(BIZ.peer_id), lambda s, p: _access_feed(s, access, p)),
                Target("contact", Generator(rng, [*CONTACT_GRAMMAR.types, "nope"], honest_contact),
                       lambda: ServerStream(BIZ.peer_id, CONTACT_GRAMMAR),
                       lambda s, p: _access_feed(s, contact, p)),
            ]  # fmt: skip
            agent = _negotiate_agent()
            if agent is not None:
                from agents.agreements import DEAL_TYPES, NegotiateOpen, dump_deal
                from agents.session import MOVE_TYPES

                opens = [dump_deal(NegotiateOpen(session=f"s{i}", intent_id=agent.intent.intent_id))
                         for i in range(50)]  # fmt: skip
                targets.append(
                    Target("negotiate", Generator(rng, sorted({*DEAL_TYPES, *MOVE_TYPES}), opens),
                           lambda: FrameCtx(BIZ.peer_id), lambda c, p: _negotiate_feed(c, agent, p))
                )  # fmt: skip

            sample = [targets[i % len(targets)].gen() for i in range(min(frames, 20_000))]
            t0 = time.perf_counter()
            for payload in sample:  # the baseline: the codec alone
                conn = Connection(Role.SERVER, MAX_FRAME_SIZE, grammar=ACCESS_GRAMMAR)
                conn.receive_data(encode_frame(payload, max_size=MAX_FRAME_SIZE))
                try:
                    conn.next_event()
                except RemoteProtocolError:
                    pass
            codec_rate = len(sample) / (time.perf_counter() - t0)

            t0 = time.perf_counter()
            done = 0
            while done < frames:
                for target in targets:
                    stream = target.new_stream()
                    for _ in range(rng.randrange(1, 5)):
                        payload = target.gen()
                        target.frames += 1
                        done += 1
                        try:
                            if await target.feed(stream, payload):
                                break
                        except Exception:
                            _crash(target, payload)
                            break
                    if done >= frames:
                        break
                if agent is not None and len(agent._convs) > 100:
                    agent._convs.clear()  # sessions are bounded per intent; start afresh
                    agent._deciding = False
            elapsed = time.perf_counter() - t0
            await access.aclose()
        finally:
            vault.close()
    crashes = sum(t.crashes for t in targets)
    rate = done / elapsed
    print(f"fuzz_frames: {done} frames, seed {seed}, {elapsed:.1f} s")
    for t in targets:
        print(f"  {t.name:<10} {t.frames:>9} frames  {t.crashes} crashes")
    print(f"  handlers: {rate:,.0f} frames/s; codec alone: {codec_rate:,.0f} frames/s"
          f" (handlers cost {codec_rate / rate:.1f}x the codec)")  # fmt: skip
    print(f"  crashes: {crashes}")
    for t in targets:
        if t.first_crash:
            print(f"--- first crash in {t.name}:\n{t.first_crash}")
    return 1 if crashes else 0


def _negotiate_agent() -> Any:
    """A customer agent with a live intent, as ``CustomerAgent.run`` leaves it."""
    try:
        from agents.network import CustomerAgent
        from tests.integration.test_agents_network import MemoryCloser, _make, mandate_for, spec
    except ImportError as exc:  # agents/ is being reorganised; say so instead of failing
        print(f"negotiate handler skipped: {exc}")
        return None
    key = Identity(b"\x63" * 32)
    agent = CustomerAgent(spec(window_ms=3_600_000), mandate_for(OWNER), MemoryCloser(vault=OWNER),
                          max_sessions=10**6)  # fmt: skip
    agent.key = key
    agent.intent = _make(key, deadline=now_ms() + 3_600_000)
    return agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames in all (10^6)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.frames, args.seed)))


if __name__ == "__main__":
    main()
