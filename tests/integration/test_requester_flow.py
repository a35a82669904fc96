"""The requester SDK and ``kluis business`` against a real VaultNode on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from protocol import (
    ACCESS,
    DeletionReason,
    Error,
    ErrorCode,
    Read,
    dump_message,
    new_nonce,
    parse_message,
    sign,
    verify,
)
from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, eventually
from vault.cli.exits import EXIT_ERROR
from vault.cli.main import app
from vault.node.boss import VaultNode
from vault.requester import AccessDenied, GrantHandle, Offer, Requester, Update

FIELDS = ["contact.email", "address.home.*"]

pytestmark = pytest.mark.timeout(60)


async def granted(
    biz: Requester, vn: VaultNode, asked: list[str] = FIELDS, **approve: object
) -> GrantHandle:
    pending = await biz.request(
        vn.addrs[0],
        fields=asked,
        purpose="ServiceProvision",
        purpose_text="deliver your bike",
        days=30,
        retention_days=0,
        offer=Offer(description="10% off", value_cents=500),
    )
    vn.approve(pending.request_id, **approve)  # type: ignore[arg-type]
    return await pending.decision(timeout=10)


def receipt_recorded(vn: VaultNode, grant_id: str) -> bool:
    return len(vn.grants.receipts(grant_id)) == 1


# -- the full flow ------------------------------------------------------------------------------


async def test_full_flow_with_revocation_while_subscribed(vn: VaultNode, biz: Requester):
    pending = await biz.request(
        vn.addrs[0],
        fields=FIELDS,
        purpose="ServiceProvision",
        purpose_text="deliver your bike",
        days=30,
        offer=Offer(description="10% off", value_cents=500),
    )
    waiting = asyncio.create_task(pending.decision(timeout=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # long-polling
    vn.approve(pending.request_id)
    grant = await asyncio.wait_for(waiting, 15)
    verify(grant.grant, vn.peer_id)
    assert grant.grant.requester == biz.peer_id and grant.fields == tuple(sorted(FIELDS))

    data = await biz.read(grant)
    assert data == {
        "contact.email": "alice@example.org",
        "address.home.city": "Zwolle",
        "address.home.street": "Melkmarkt 1",
    }
    records = await biz.read_records(grant, ["contact.email"])
    assert records["contact.email"].version == 1
    assert biz.local_copy(grant) == data

    updates: list[Update] = []

    async def follow() -> None:
        async for update in biz.subscribe(grant):
            updates.append(update)

    follower = asyncio.create_task(follow())
    await eventually(lambda: vn.access.subscriptions(grant.grant_id) == 1)
    vn.vault.profile.set("address.home.city", "Deventer")
    vn.vault.profile.set("name.given", "Alicia")  # outside the grant: never pushed
    await eventually(lambda: len(updates) == 1)
    assert updates[0].path == "address.home.city" and updates[0].value == "Deventer"
    assert biz.local_copy(grant)["address.home.city"] == "Deventer"

    await vn.revoke(grant.grant_id, reason="done")
    await asyncio.wait_for(follower, 10)  # ends cleanly on the notice
    info = biz.grant_info(grant)
    assert info.status == "revoked" and info.data_deleted and biz.local_copy(grant) == {}
    assert info.receipt_acked  # the subscription path waits for the receipt's Ack
    [receipt] = vn.grants.receipts(grant.grant_id)
    verify(receipt, biz.peer_id)
    assert receipt.reason is DeletionReason.REVOKED and receipt.key_destroyed
    await vn.access.drain()
    assert vn.grants.grant(grant.grant_id).notice_delivered is True
    kinds = [e.kind for e in vn.vault.audit.entries()]
    assert "grant.deletion" in kinds

    with pytest.raises(AccessDenied) as err:
        await biz.read(grant)
    assert err.value.code is ErrorCode.REVOKED
    reads = [e for e in vn.vault.audit.entries() if e.kind in ("access.read", "access.refused")]
    assert not any(e.kind == "access.refused" for e in reads)  # the refusal was local


async def test_denial_raises_access_denied(vn: VaultNode, biz: Requester):
    pending = await biz.request(vn.addrs[0], fields=["contact.email"], purpose="Marketing")
    vn.deny(pending.request_id, "not for marketing")
    with pytest.raises(AccessDenied) as err:
        await pending.decision(timeout=10)
    assert err.value.code is ErrorCode.DENIED
    assert biz.grants() == []


async def test_revocation_delivered_by_request(vn: VaultNode, biz: Requester):
    grant = await granted(biz, vn)
    await biz.read(grant)
    await vn.revoke(grant.grant_id, wait_delivery=True)
    assert vn.grants.grant(grant.grant_id).notice_delivered is True
    # the notice was obeyed before it was acknowledged
    assert biz.grant_info(grant).status == "revoked" and biz.local_copy(grant) == {}
    await biz.drain()
    await eventually(lambda: receipt_recorded(vn, grant.grant_id))
    assert biz.grant_info(grant).receipt_acked
    with pytest.raises(AccessDenied) as err:
        await biz.read(grant)
    assert err.value.code is ErrorCode.REVOKED


async def test_revocation_while_offline_is_applied_on_the_next_read(vn: VaultNode, tmp_path: Path):
    home = tmp_path / "biz"
    async with Requester.create(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as biz:
        grant = await granted(biz, vn)
        assert await biz.read(grant)
    await vn.revoke(grant.grant_id, wait_delivery=True)  # nobody there to tell
    assert vn.grants.grant(grant.grant_id).notice_delivered is False

    async with Requester.open(
        home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as biz:
        assert biz.grant_info(grant.grant_id).status == "active"  # it cannot know yet
        assert biz.local_copy(grant.grant_id)
        with pytest.raises(AccessDenied) as err:
            await biz.read(grant.grant_id)
        assert err.value.code is ErrorCode.REVOKED
        assert biz.local_copy(grant.grant_id) == {}
        assert biz.grant_info(grant.grant_id).status == "revoked"
        await biz.drain()
        await eventually(lambda: receipt_recorded(vn, grant.grant_id))
        assert biz.grant_info(grant.grant_id).receipt_acked


async def test_out_of_scope_read_changes_nothing(vn: VaultNode, biz: Requester):
    grant = await granted(biz, vn, ["contact.email", "name.given"], fields=["contact.email"])
    assert grant.fields == ("contact.email",)  # the owner narrowed it
    await biz.read(grant)
    before = biz.local_records(grant)
    with pytest.raises(AccessDenied) as err:
        await biz.read(grant, ["contact.email", "name.given"])
    assert err.value.code is ErrorCode.OUT_OF_SCOPE
    assert biz.local_records(grant) == before
    assert biz.grant_info(grant).status == "active"
    # the vault refuses it too, had the SDK's local check been skipped
    raw = sign(
        Read(
            grant_id=grant.grant_id,
            requester=biz.peer_id,
            fields=("name.given",),
            nonce=new_nonce(),
            ts=biz.now(),
        ),
        biz.identity,
    )
    reply = parse_message(await biz.node.request(vn.peer_id, ACCESS, dump_message(raw)))
    assert isinstance(reply, Error) and reply.code is ErrorCode.OUT_OF_SCOPE


# -- kluis business ------------------------------------------------------------------------------


async def test_business_cli(vn: VaultNode, tmp_path: Path):
    env = {
        "KLUIS_BUSINESS_HOME": str(tmp_path / "biz-cli"),
        "KLUIS_BUSINESS_PASSPHRASE": BIZ_PASSPHRASE,
        "KLUIS_BUSINESS_LISTEN": LOOPBACK[0],
        "KLUIS_DEBUG": None,
    }

    async def cli(*args: str) -> Result:
        return await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["business", *args],
            env=env,  # type: ignore[arg-type]
        )

    out = await cli("init")
    assert out.exit_code == 0 and "identity: 12D3KooW" in out.stdout, out.output
    out = await cli("id")
    biz_peer = out.stdout.strip()
    assert biz_peer.startswith("12D3KooW")

    out = await cli(
        "request", vn.addrs[0], "--fields", "contact.email,address.home.*",
        "--purpose", "ServiceProvision", "--purpose-text", "deliver your bike",
        "--days", "7", "--offer", "10% off", "--offer-cents", "500",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    request_id = out.stdout.strip().splitlines()[0]
    state = vn.grants.request(request_id)
    assert state.request.requester == biz_peer and state.request.offer.value_cents == 500
    vn.approve(request_id)

    out = await cli("wait", request_id, "--timeout", "10")
    assert out.exit_code == 0 and "approved: grant " in out.stdout, out.output
    grant_id = out.stdout.split("grant ", 1)[1].split()[0]

    out = await cli("read", grant_id, "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {
        "contact.email": "alice@example.org",
        "address.home.city": "Zwolle",
        "address.home.street": "Melkmarkt 1",
    }
    out = await cli("grants")
    assert out.exit_code == 0 and grant_id[:8] in out.stdout and "active" in out.stdout, out.output

    # --wait, answered by a denial: one line on stderr, exit 2
    task = asyncio.ensure_future(
        cli("request", vn.addrs[0], "--fields", "name.given", "--purpose", "Marketing",
            "--wait", "15")
    )  # fmt: skip
    await eventually(lambda: len(vn.grants.requests("pending")) == 1, 20)
    vn.deny(vn.grants.requests("pending")[0].request_id)
    out = await task
    assert out.exit_code == EXIT_ERROR, out.output
    assert out.stderr.strip().startswith("error:") and len(out.stderr.strip().splitlines()) == 1

    # revoked while no business process runs: the next read is refused and deletes
    await vn.revoke(grant_id, wait_delivery=True)
    out = await cli("read", grant_id)
    assert out.exit_code == EXIT_ERROR and "revoked" in out.stderr, out.output
    out = await cli("grants", "--json")
    [row] = json.loads(out.stdout)["grants"]
    assert row["status"] == "revoked" and row["data_deleted"]
    assert len(vn.grants.receipts(grant_id)) == 1


async def test_a_business_that_reopens_twelve_times_leaves_the_vault_no_connection(
    vn: VaultNode, tmp_path: Path
):
    """Open, use, close a Requester 12 times in one process under one identity.

    Before the fix in ``protocol/runtime/_swarm_fix.py`` each closed Requester left
    its connection ESTABLISHED at the vault, which refused the 9th with
    "Established per peer limit exceeded: 8 >= 8".
    """
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None):
        pass
    peer_id, pinged = "", 0
    for _ in range(12):
        async with Requester.open(
            home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
        ) as biz:
            peer_id = biz.peer_id
            node = biz.link.node  # requests are rate-limited per peer: a ping is the use
            assert await node.connect(vn.addrs[0]) == vn.peer_id
            assert await node.ping(vn.peer_id) >= 0.0
            pinged += 1
            assert peer_id in vn.node.peers()
        await eventually(lambda: peer_id not in vn.node.peers(), timeout=5)
    assert pinged == 12  # the 9th and later were served like the first
