"""The durable outbox: sealed with HPKE, ordered, idempotent, expiring, backing off, crash-safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import (
    Ack,
    Error,
    ErrorCode,
    Identity,
    Message,
    RevokeNotice,
    SealedDelivery,
    Update,
    sign,
)
from protocol.contact import parse_delivery_payload
from tests.conftest import PASSPHRASE, START_MS, ManualClock
from vault.services.outbox import Outbox, delivery_info
from vault.store.hpke import HpkeError, HpkeKeyPair, seal_to
from vault.store.vault import Vault

BIZ = Identity.generate()
KEY = HpkeKeyPair.generate()


def update(version: int, value: str = "Deventer") -> Update:
    return Update(
        grant_id="g1", path="address.home.city", value=value, version=version, ts=START_MS
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vault(tmp_path: Path, clock: ManualClock) -> Iterator[Vault]:
    with Vault.create(tmp_path / "v", PASSPHRASE, clock=clock) as v:
        yield v


def test_hpke_roundtrip_and_context_binding():
    sealed = seal_to(KEY.public_hex(), b"secret", b"ctx")
    assert KEY.open(sealed, b"ctx") == b"secret"
    with pytest.raises(HpkeError):
        KEY.open(sealed, b"other")
    with pytest.raises(HpkeError):
        HpkeKeyPair.generate().open(sealed, b"ctx")
    with pytest.raises(HpkeError):
        seal_to("00" * 10, b"x", b"ctx")
    assert HpkeKeyPair.from_secret_bytes(KEY.secret_bytes()).public_hex() == KEY.public_hex()


def test_enqueue_is_sealed_ordered_and_idempotent(vault: Vault, tmp_path: Path):
    box = Outbox(vault, clock=vault.clock)
    a = box.enqueue(BIZ.peer_id, update(1, "Plaintextville"), KEY.public_hex(), key="u1")
    b = box.enqueue(BIZ.peer_id, update(2), KEY.public_hex(), key="u2")
    again = box.enqueue(BIZ.peer_id, update(1), KEY.public_hex(), key="u1")
    assert again == a and [i.seq for i in box.pending()] == [1, 2]
    assert b"Plaintextville" not in (tmp_path / "v" / "vault.db").read_bytes()
    env = a.envelope(vault.peer_id)
    inner = parse_delivery_payload(KEY.open(bytes.fromhex(env.sealed), env.info()))
    assert isinstance(inner, Update) and inner.value == "Plaintextville"
    assert env.info() == delivery_info(vault.peer_id, BIZ.peer_id, a.delivery_id, 1)
    assert box.cancel(BIZ.peer_id, "u2") and not box.cancel(BIZ.peer_id, "u2")
    assert [i.key for i in box.pending()] == ["u1"]
    assert b.seq == 2


def test_outbox_survives_reopen(tmp_path: Path, clock: ManualClock):
    home = tmp_path / "v"
    with Vault.create(home, PASSPHRASE, clock=clock) as v:
        box = Outbox(v, clock=clock)
        for n in range(5):
            box.enqueue(BIZ.peer_id, update(n), KEY.public_hex(), key=f"u{n}")
        assert box.mark_delivered(box.pending()[0])
    with Vault.open(home, PASSPHRASE, clock=clock) as v:
        box = Outbox(v, clock=clock)
        assert [i.seq for i in box.pending()] == [2, 3, 4, 5]
        assert box.enqueue(BIZ.peer_id, update(9), KEY.public_hex()).seq == 6
        # a delivered key is remembered: not queued again
        assert box.enqueue(BIZ.peer_id, update(0), KEY.public_hex(), key="u0").seq == 0
        assert len(box) == 5


def test_expiry_drops_and_audits(vault: Vault, clock: ManualClock):
    box = Outbox(vault, clock=clock)
    box.enqueue(BIZ.peer_id, update(1), KEY.public_hex(), ttl_ms=1000)
    keep = box.enqueue(BIZ.peer_id, update(2), KEY.public_hex())
    clock.advance(2000)
    assert box.head(BIZ.peer_id, drop_expired=True) == keep
    assert any(e.kind == "outbox.expired" for e in vault.audit.entries())


async def test_flush_in_order_stops_on_failure_and_backs_off(vault: Vault):
    now = [100.0]
    box = Outbox(vault, clock=vault.clock, monotonic=lambda: now[0], base_backoff_s=1.0)
    for n in range(4):
        box.enqueue(BIZ.peer_id, update(n), KEY.public_hex(), key=f"k{n}")
    seen: list[int] = []
    fail_at = {3}

    async def send(peer: str, env: SealedDelivery) -> Message:
        assert env.type == "sealed_delivery"
        if env.seq in fail_at:
            fail_at.discard(env.seq)
            return Error(code=ErrorCode.TIMEOUT)
        seen.append(env.seq)
        return Ack(ref=env.delivery_id)

    def accept(item, reply) -> bool:
        return isinstance(reply, Ack) and reply.ref == item.delivery_id

    result = await box.flush(BIZ.peer_id, send, accept)
    assert (result.delivered, result.failed, seen) == (2, True, [1, 2])
    assert not box.due(BIZ.peer_id)  # backing off for 1 s
    now[0] += 1.0
    assert box.due(BIZ.peer_id)
    result = await box.flush(BIZ.peer_id, send, accept)
    assert seen == [1, 2, 3, 4] and len(box) == 0 and not result.failed


async def test_backoff_doubles_up_to_max_and_kick_resets(vault: Vault):
    now = [0.0]
    box = Outbox(
        vault, clock=vault.clock, monotonic=lambda: now[0], base_backoff_s=1.0, max_backoff_s=4.0
    )
    box.enqueue(BIZ.peer_id, update(1), KEY.public_hex())

    async def down(peer: str, env: SealedDelivery) -> Message:
        raise TimeoutError

    delays = []
    for _ in range(4):
        await box.flush(BIZ.peer_id, down, lambda i, r: True)
        delays.append(box._peer(BIZ.peer_id).retry_at - now[0])
    assert delays == [1.0, 2.0, 4.0, 4.0]
    box.kick(BIZ.peer_id)
    assert box.due(BIZ.peer_id)


def test_revoke_notice_sealed_roundtrip(vault: Vault):
    biz = Identity.generate()
    notice = sign(
        RevokeNotice(
            grant_id="g1", vault=vault.peer_id, requester=biz.peer_id, revoked_at=START_MS
        ),
        vault.identity,
    )
    box = Outbox(vault, clock=vault.clock)
    item = box.enqueue(biz.peer_id, notice, KEY.public_hex())
    env = item.envelope(vault.peer_id)
    assert parse_delivery_payload(KEY.open(bytes.fromhex(env.sealed), env.info())) == notice


# -- kill -9 ----------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from protocol import Ack, Update
    from vault.store.hpke import HpkeKeyPair
    from vault.services.outbox import Outbox
    from vault.store.vault import Vault

    home, keyfile, applied, mode, peer = sys.argv[1:6]
    key = HpkeKeyPair.from_secret_bytes(Path(keyfile).read_bytes())
    vault = Vault.open(Path(home), "correct horse battery")
    box = Outbox(vault)

    def last_applied():
        lines = Path(applied).read_text().split() if Path(applied).exists() else []
        return int(lines[-1]) if lines else 0

    async def send(_peer, env):
        key.open(bytes.fromhex(env.sealed), env.info())
        if env.seq > last_applied():  # the business applies each seq once, durably
            with open(applied, "a") as f:
                f.write(f"{env.seq}\\n"); f.flush(); os.fsync(f.fileno())
        print("applied", env.seq, flush=True)
        return Ack(ref=env.delivery_id)

    async def main():
        if mode == "fill":
            for n in range(1, 10_000):
                u = Update(grant_id="g", path="a.b", value=str(n), version=n, ts=1)
                box.enqueue(peer, u, key.public_hex(), key=f"k{n}")
                print("queued", n, flush=True)
        else:
            await box.flush(peer, send, lambda i, r: isinstance(r, Ack))
            print("drained", len(box), flush=True)
    asyncio.run(main())
    """
)


def _run_until(args: list[str], word: str, count: int) -> list[str]:
    """Start the child, kill -9 it once it printed ``word`` ``count`` times; its output."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if sum(1 for x in lines if x.startswith(word)) >= count:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    proc.stdout.close()
    return lines


@pytest.mark.timeout(90)
def test_kill_9_loses_nothing_and_sends_nothing_twice(tmp_path: Path):
    home = tmp_path / "v"
    Vault.create(home, PASSPHRASE).close()
    keyfile = tmp_path / "biz.key"
    keyfile.write_bytes(KEY.secret_bytes())
    applied = tmp_path / "applied.txt"
    peer = BIZ.peer_id
    base = [str(home), str(keyfile), str(applied)]
    out = _run_until([*base, "fill", peer], "queued", 40)
    acknowledged = [int(x.split()[1]) for x in out if x.startswith("queued")]
    assert len(acknowledged) >= 40
    # kill -9 in the middle of draining
    _run_until([*base, "drain", peer], "applied", 15)
    # restart: drain the rest
    final = _run_until([*base, "drain", peer], "drained", 1)
    assert final[-1] == "drained 0"
    got = [int(x) for x in applied.read_text().split()]
    # nothing lost (every acknowledged enqueue arrived), nothing applied twice, in order
    assert got == sorted(set(got))
    assert set(acknowledged) <= set(got)
    assert got == list(range(1, len(got) + 1))
