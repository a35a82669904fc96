"""Contact signals at the business (D43): counted once, only for our own messages, bounded.

A real business store (SQLite) and real HPKE sealing: each signal arrives the
way a vault sends it, inside a :class:`~protocol.SealedDelivery` sealed to the
business's announced key, through :meth:`DeliveryEndpoint.receive`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    AccessDenied,
    Ack,
    ContactCategory,
    ContactSignal,
    ErrorCode,
    Identity,
    RateLimited,
    SealedDelivery,
    SignatureError,
    dump_message,
    new_id,
    sign,
)
from vault.requester import Requester
from vault.requester._yield import MAX_MAILINGS, SIGNAL_BURST, view
from vault.store.hpke import seal_to


@pytest.fixture
async def biz(tmp_path: Path) -> AsyncIterator[Requester]:
    async with await Requester.ephemeral(tmp_path, network=False, retention_interval=None) as r:
        r.yields._mono = lambda: 0.0  # no refill: the rate limit is exact
        yield r


class FakeVault:
    """A vault's identity and its delivery sequence (the sealing is real)."""

    def __init__(self) -> None:
        self.identity = Identity.generate()
        self.peer_id = self.identity.peer_id
        self.seq = 0

    def signal(self, biz: Requester, kind: str, **fields: Any) -> ContactSignal:
        return sign(
            ContactSignal(
                signal_id=new_id(), vault=self.peer_id, requester=biz.peer_id, kind=kind,
                ts=biz.now(), **fields,
            ),
            self.identity,
        )  # fmt: skip

    def deliver(self, biz: Requester, inner: Any) -> Any:
        self.seq += 1
        delivery_id = new_id()
        info = (
            f"kluis-deliver-v1\x00{self.peer_id}\x00{biz.peer_id}\x00{delivery_id}\x00{self.seq}"
        ).encode()
        sealed = seal_to(biz.delivery.public_hex, dump_message(inner), info)
        env = SealedDelivery(
            delivery_id=delivery_id, vault=self.peer_id, requester=biz.peer_id, seq=self.seq,
            created_at=biz.now(), sealed=sealed.hex(),
        )  # fmt: skip
        return biz.delivery.receive(self.peer_id, env)


def only(biz: Requester) -> dict[str, Any]:
    [row] = biz.yields.mailings()
    return view(row)


async def test_reads_are_not_shared_until_a_vault_shares_them(biz: Requester):
    alice = FakeVault()
    biz.yields.sent("spring", "m1", alice.peer_id, "offer")
    biz.yields.sent("spring", "m2", alice.peer_id, "offer")
    assert only(biz)["read"] is None  # "not shared", never a false 0
    alice.deliver(biz, alice.signal(biz, "sharing", shares_reads=True))
    alice.deliver(biz, alice.signal(biz, "read", message_id="m1", mailing_id="spring"))
    alice.deliver(biz, alice.signal(biz, "read", message_id="m1", mailing_id="spring"))  # again
    row = only(biz)
    assert (row["sent"], row["read"], row["read_base"]) == (2, 1, 1)
    biz.yields.sent("spring", "m3", alice.peer_id, "offer")  # sent while she shares: in the base
    assert only(biz)["read_base"] == 2


async def test_a_mute_counts_on_the_mailing_of_the_message_it_names(biz: Requester):
    alice = FakeVault()
    biz.yields.sent("spring", "m1", alice.peer_id, "offer")
    alice.deliver(biz, alice.signal(biz, "mute", category=ContactCategory.OFFER, message_id="m1"))
    alice.deliver(biz, alice.signal(biz, "mute", category=ContactCategory.OFFER, message_id="m1"))
    assert only(biz)["muted"] == 1
    state = biz.yields.vault_signals(alice.peer_id)
    assert state.mutes("offer") and not state.mutes("service")
    alice.deliver(biz, alice.signal(biz, "mute"))  # the whole business, no message named
    assert biz.yields.vault_signals(alice.peer_id).mutes("service")
    alice.deliver(biz, alice.signal(biz, "unmute"))
    alice.deliver(biz, alice.signal(biz, "unmute", category=ContactCategory.OFFER))
    assert not biz.yields.vault_signals(alice.peer_id).mutes("offer")
    assert only(biz)["muted"] == 1  # a mute that happened stays in the mailing's yield


async def test_a_signal_for_a_message_we_never_sent_counts_nothing(biz: Requester):
    """Acknowledged (so the vault's queue moves on) and ignored, audited; nothing counted."""
    alice, bob = FakeVault(), FakeVault()
    biz.yields.sent("spring", "m1", bob.peer_id, "offer")  # sent to Bob, not Alice
    for mid in ("never-sent", "m1"):
        reply = alice.deliver(biz, alice.signal(biz, "read", message_id=mid))
        assert isinstance(reply, Ack)
    alice.deliver(biz, alice.signal(biz, "mute", message_id="m1"))
    row = only(biz)
    assert (row["read"], row["muted"]) == (None, 0)
    assert biz.yields.ignored == 3
    kinds = [e.kind for e in biz.vault.audit.entries()]
    assert kinds.count("requester.contact_signal_ignored") == 3


async def test_a_forged_signal_is_refused(biz: Requester):
    alice, mallory = FakeVault(), FakeVault()
    biz.yields.sent("spring", "m1", alice.peer_id, "offer")
    # Mallory's signature, Alice's name on it
    forged = mallory.signal(biz, "read", message_id="m1").model_copy(
        update={"vault": alice.peer_id}
    )
    with pytest.raises(SignatureError):
        alice.deliver(biz, forged)
    assert biz.delivery.last_seq(alice.peer_id) == 0  # a refused delivery is not applied
    # Mallory's own, well-signed signal names Alice as the vault: not from its vault
    mallory.seq = 0
    with pytest.raises(AccessDenied) as exc:
        mallory.deliver(biz, alice.signal(biz, "read", message_id="m1"))
    assert exc.value.code is ErrorCode.WRONG_PEER
    tampered = alice.signal(biz, "read", message_id="m1").model_copy(update={"message_id": "m2"})
    with pytest.raises(SignatureError):
        alice.deliver(biz, tampered)
    assert only(biz)["read"] is None


async def test_a_vault_that_floods_signals_is_rate_limited(biz: Requester):
    alice, bob = FakeVault(), FakeVault()
    biz.yields.sent("spring", "m1", alice.peer_id, "offer")
    biz.yields.sent("spring", "m2", bob.peer_id, "offer")
    applied = 0
    refused = 0
    for _ in range(SIGNAL_BURST + 50):
        try:
            alice.deliver(biz, alice.signal(biz, "read", message_id="m1"))
            applied += 1
        except RateLimited:
            alice.seq -= 1  # the vault keeps it queued and retries the same seq later
            refused += 1
    assert (applied, refused) == (SIGNAL_BURST, 50)
    assert only(biz)["read"] == 1  # a flood of reads of one message counts once
    # another vault's budget is its own
    bob.deliver(biz, bob.signal(biz, "read", message_id="m2"))
    assert only(biz)["read"] == 2


async def test_mailings_are_bounded_and_a_retry_is_counted_once(biz: Requester):
    alice = FakeVault()
    vault = alice.peer_id
    biz.yields.sent("m", "same", vault, "offer")
    biz.yields.sent("m", "same", vault, "offer")  # the idempotent retry of one message
    assert only(biz)["sent"] == 1
    for i in range(MAX_MAILINGS + 3):
        biz.yields.sent(f"mailing-{i}", f"msg-{i}", vault, "offer")
    names = [m.mailing_id for m in biz.yields.mailings()]
    assert len(names) == MAX_MAILINGS and "m" not in names and "mailing-0" not in names
    assert f"mailing-{MAX_MAILINGS + 2}" in names
    # a read of a message of a dropped mailing does not bring the mailing back
    alice.deliver(biz, alice.signal(biz, "read", message_id="msg-0"))
    alice.deliver(biz, alice.signal(biz, "mute", message_id="msg-1"))
    names = [m.mailing_id for m in biz.yields.mailings()]
    assert len(names) == MAX_MAILINGS and "mailing-0" not in names and "mailing-1" not in names


def test_signal_fields_must_fit_their_kind():
    alice, biz = Identity.generate(), Identity.generate()
    base = {"signal_id": "s", "vault": alice.peer_id, "requester": biz.peer_id, "ts": 1}
    for bad in (
        {"kind": "read"},  # a read names its message
        {"kind": "sharing"},  # sharing says which way
        {"kind": "read", "message_id": "m", "shares_reads": True},
        {"kind": "unmute", "message_id": "m"},
        {"kind": "read", "message_id": "m", "category": "offer"},
    ):
        with pytest.raises(ValueError):
            ContactSignal(**base, **bad)
    assert ContactSignal(**base, kind="mute").category is None


async def test_old_sent_records_are_pruned(tmp_path: Path):
    from tests.conftest import ManualClock
    from vault.requester._yield import KEEP_SENT_MS

    clock = ManualClock()
    async with await Requester.ephemeral(
        tmp_path, network=False, retention_interval=None, clock=clock
    ) as biz:
        alice = FakeVault()
        biz.yields.sent("spring", "old", alice.peer_id, "offer")
        assert biz.yields.prune_due() == 0
        clock.advance(KEEP_SENT_MS + 1)
        biz.yields.sent("spring", "new", alice.peer_id, "offer")
        assert biz.yields.prune_due() == 1
        assert biz.yields.prune_due() == 0
        alice.deliver(biz, alice.signal(biz, "read", message_id="old"))  # forgotten: ignored
        alice.deliver(biz, alice.signal(biz, "read", message_id="new"))
        assert (only(biz)["sent"], only(biz)["read"]) == (2, 1)
