"""Contact yield per mailing across real libp2p nodes (D43): sent, read, muted, blocked.

A business node and a vault node on 127.0.0.1. The business sends through its
control API; the owner reads, shares reads, mutes and blocks on the vault; the
vault's signals travel sealed in its outbox; the business's book counts them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from protocol import ContactSignal, ErrorCode, Identity, new_id, sign
from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, eventually
from vault.api.contact_routes import set_prefs
from vault.api.models import PrefsBody
from vault.business import BusinessNode
from vault.business.views import relationships
from vault.cli.client import ApiProblem, ControlClient
from vault.cli.main import app
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.requester._yield import SIGNAL_BURST

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def bn(tmp_path: Path) -> AsyncIterator[BusinessNode]:
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    async with await BusinessNode.start(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as node:
        yield node


async def call(bn: BusinessNode, method: str, path: str, body: object = None) -> Any:
    client = ControlClient.from_home(bn.home)
    return await asyncio.to_thread(client.call, method, path, body)


async def contact_grant(bn: BusinessNode, vn: VaultNode) -> str:
    sent = await call(bn, "POST", "requests", {
        "vault": vn.addrs[0], "fields": ["contact.email"], "purpose": "Marketing",
        "actions": ["contact"], "contact": [["offer", 5, 30], ["service", 5, 30]],
    })  # fmt: skip
    vn.approve(sent["request_id"])
    grant = await call(bn, "POST", f"requests/{sent['request_id']}/wait", {"timeout": 10})
    return str(grant["grant_id"])


async def send(bn: BusinessNode, grant_id: str, category: str, mailing: str) -> str:
    body = {"category": category, "subject": f"{mailing}!", "mailing_id": mailing}
    return str((await call(bn, "POST", f"grants/{grant_id}/contact", body))["message_id"])


async def mailing(bn: BusinessNode, name: str) -> dict[str, Any]:
    rows = (await call(bn, "GET", "mailings"))["mailings"]
    return next(m for m in rows if m["mailing_id"] == name)


def prefs(vn: VaultNode, peer: str, **body: Any) -> None:
    set_prefs(vn.contact.contacts, peer, PrefsBody(**body))


async def test_sent_read_muted_blocked_per_mailing(
    bn: BusinessNode, vn: VaultNode, monkeypatch: pytest.MonkeyPatch
):
    grant_id = await contact_grant(bn, vn)
    first = await send(bn, grant_id, "offer", "spring")
    second = await send(bn, grant_id, "offer", "spring")
    spring = await mailing(bn, "spring")
    assert (spring["sent"], spring["read"], spring["muted"], spring["blocked"]) == (2, None, 0, 0)

    # the owner reads: the business is not told (reads are shared only by choice)
    vn.inbox.mark_read(first)
    assert vn.signals.queued == []

    # the owner shares reads with this business, then reads the second message
    prefs(vn, bn.peer_id, share_reads=True)
    vn.inbox.mark_read(second)
    assert [k for _, k in vn.signals.queued] == ["sharing", "read"]
    await eventually(lambda: bn.biz.yields.vault_signals(vn.peer_id).shares_reads is True)
    await eventually(lambda: any(m.read for m in bn.biz.yields.mailings()), timeout=30)
    spring = await mailing(bn, "spring")
    assert (spring["read"], spring["read_base"]) == (1, 1)  # the first read stays private

    # the owner mutes offers: told by default, put on the mailing of the last offer
    prefs(vn, bn.peer_id, muted_categories=["offer"])
    await eventually(lambda: bn.biz.yields.vault_signals(vn.peer_id).mutes("offer"), timeout=30)
    assert not bn.biz.yields.vault_signals(vn.peer_id).mutes("service")
    assert (await mailing(bn, "spring"))["muted"] == 1
    [rel] = relationships(bn)  # the dashboard shows what she told
    assert rel.told == "muted offer messages; shares reads"
    # told of the mute, the business stops sending offers to her (counted, not sent)
    with pytest.raises(ApiProblem) as exc:
        await send(bn, grant_id, "offer", "spring")
    assert exc.value.code is ErrorCode.CATEGORY_REFUSED and "muted" in exc.value.message
    spring = await mailing(bn, "spring")
    assert (spring["sent"], spring["refused"]) == (2, {"muted": 1})
    assert len(vn.inbox.messages(include_muted=True)) == 2

    # the owner blocks: the next message is refused, counted as blocked on its mailing
    prefs(vn, bn.peer_id, blocked=True)
    with pytest.raises(ApiProblem) as exc:
        await send(bn, grant_id, "service", "orders")
    assert exc.value.code is ErrorCode.BLOCKED
    orders = await mailing(bn, "orders")
    assert (orders["sent"], orders["blocked"], orders["read"]) == (0, 1, None)

    # the CLI is the node's client: the same figures
    monkeypatch.setenv("KLUIS_BUSINESS_HOME", str(bn.home))
    monkeypatch.delenv("KLUIS_BUSINESS_PASSPHRASE", raising=False)
    runner = CliRunner()

    def cli(*args: str) -> Any:  # in a thread, so that the node's loop keeps serving
        return asyncio.to_thread(runner.invoke, app, ["business", *args], catch_exceptions=False)

    result = await cli("mailings", "--json")
    assert result.exit_code == 0, result.output
    shown = {m["mailing_id"]: m for m in json.loads(result.stdout)["mailings"]}
    assert shown["spring"]["read"] == 1 and shown["spring"]["muted"] == 1
    assert shown["orders"]["blocked"] == 1
    table = (await cli("mailings")).stdout
    assert "1 of 1 shared" in table and "not shared" in table


async def test_an_owner_who_does_not_share_mutes_tells_nothing(bn: BusinessNode, vn: VaultNode):
    grant_id = await contact_grant(bn, vn)
    mid = await send(bn, grant_id, "offer", "summer")
    prefs(vn, bn.peer_id, share_mutes=False)
    prefs(vn, bn.peer_id, muted=True)
    vn.inbox.mark_read(mid)
    assert vn.signals.queued == []  # neither the mute nor the read
    assert vn.inbox.messages() == []  # muted for the owner all the same
    # the business still sends (and is accepted): it was not told
    await send(bn, grant_id, "offer", "summer")
    summer = await mailing(bn, "summer")
    assert (summer["sent"], summer["muted"], summer["read"]) == (2, 0, None)
    assert bn.biz.yields.vault_signals(vn.peer_id).muted is False


async def test_signals_queued_while_the_business_is_offline_arrive_when_it_returns(
    tmp_path: Path, vn: VaultNode
):
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    async with await BusinessNode.start(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as bn:
        grant_id = await contact_grant(bn, vn)
        mid = await send(bn, grant_id, "offer", "autumn")
        peer = bn.peer_id
    prefs(vn, peer, share_reads=True)  # the business is gone: queued, sealed
    vn.inbox.mark_read(mid)
    assert len(vn.outbox.pending(peer)) == 2
    async with await BusinessNode.start(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as again:  # it polls the vault at start
        await eventually(lambda: any(m.read for m in again.biz.yields.mailings()), timeout=30)
        [autumn] = again.biz.yields.mailings()
        assert (autumn.sent, autumn.read, autumn.read_base) == (1, 1, 1)
    await eventually(lambda: vn.outbox.pending(peer) == [])


async def test_a_forged_signal_and_a_flood_over_the_network(bn: BusinessNode, vn: VaultNode):
    """A forged signal is refused and dropped without holding up the revocation behind it;
    a flood of reads is rate-limited at the business and counts once."""
    grant_id = await contact_grant(bn, vn)
    mid = await send(bn, grant_id, "offer", "winter")
    mallory = Identity.generate()
    forged = sign(
        ContactSignal(
            signal_id=new_id(), vault=mallory.peer_id, requester=bn.peer_id, kind="read",
            message_id=mid, ts=vn.grants.now(),
        ),
        mallory,
    ).model_copy(update={"vault": vn.peer_id})  # fmt: skip
    assert vn.delivery.enqueue(bn.peer_id, forged, key="forged") is not None
    await vn.revoke(grant_id)
    await eventually(lambda: bn.biz.grant_info(grant_id).status == "revoked", timeout=30)

    def refused() -> bool:
        return any(e.kind == "contact.signal_refused" for e in vn.vault.audit.entries())

    await eventually(refused, timeout=30)  # the business refused it: the vault dropped it
    await eventually(lambda: vn.outbox.pending(bn.peer_id) == [], timeout=30)  # nothing stuck
    assert (await mailing(bn, "winter"))["read"] is None

    prefs(vn, bn.peer_id, share_reads=True)
    await eventually(lambda: bn.biz.yields.vault_signals(vn.peer_id).shares_reads is True)
    flood = 100
    for _ in range(flood):
        signal = sign(
            ContactSignal(
                signal_id=new_id(), vault=vn.peer_id, requester=bn.peer_id, kind="read",
                message_id=mid, mailing_id="winter", ts=vn.grants.now(),
            ),
            vn.vault.identity,
        )  # fmt: skip
        vn.delivery.enqueue(bn.peer_id, signal, key=signal.signal_id)
    # the business takes its burst, then refuses with rate_limited: the vault keeps the rest
    await eventually(lambda: len(vn.outbox.pending(bn.peer_id)) <= flood - SIGNAL_BURST + 5)
    assert len(vn.outbox.pending(bn.peer_id)) >= flood - SIGNAL_BURST - 20
    winter = await mailing(bn, "winter")
    assert (winter["read"], winter["read_base"]) == (1, 1)  # a hundred reads of one message: one
