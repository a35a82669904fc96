"""``kluis business start``: the business node over real libp2p nodes on 127.0.0.1.

The node answers revocations and erasures at once (no command has to run),
holds subscriptions across a vault restart, sends contact messages through its
API, and the CLI's commands are its clients while it runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol import ErrorCode
from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, PASSPHRASE, eventually
from vault.business import BusinessNode
from vault.business.spec import BUSINESS_OPERATIONS
from vault.cli.client import ApiProblem, ControlClient
from vault.cli.main import app
from vault.node.boss import VaultNode
from vault.requester import Requester

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def biz_home(tmp_path: Path) -> Path:
    home = tmp_path / "biz"
    async with Requester.create(home, BIZ_PASSPHRASE, network=False, retention_interval=None):
        pass
    return home


@pytest.fixture
async def bn(biz_home: Path) -> AsyncIterator[BusinessNode]:
    async with await BusinessNode.start(
        biz_home, BIZ_PASSPHRASE, listen=LOOPBACK, retention_interval=None
    ) as node:
        yield node


def client_of(bn: BusinessNode) -> ControlClient:
    return ControlClient.from_home(bn.home)


async def call(client: ControlClient, method: str, path: str, body: object = None) -> object:
    """The synchronous client in a thread, so the node's loop keeps serving."""
    return await asyncio.to_thread(client.call, method, path, body)


async def granted(bn: BusinessNode, vn: VaultNode, **extra: object) -> str:
    client = client_of(bn)
    sent = await call(client, "POST", "requests", {
        "vault": vn.addrs[0], "fields": ["contact.email", "address.home.*"],
        "purpose": "ServiceProvision", "purpose_text": "deliver your bike", **extra,
    })  # fmt: skip
    assert isinstance(sent, dict) and sent["status"] == "pending"
    vn.approve(sent["request_id"])
    grant = await call(client, "POST", f"requests/{sent['request_id']}/wait", {"timeout": 10})
    assert isinstance(grant, dict) and grant["status"] == "active"
    return str(grant["grant_id"])


def receipt_at_vault(vn: VaultNode, grant_id: str) -> bool:
    return len(vn.grants.receipts(grant_id)) == 1


async def test_revocation_is_answered_at_once_with_a_receipt(bn: BusinessNode, vn: VaultNode):
    """The owner revokes; the node deletes the copy and the vault holds the signed receipt."""
    grant_id = await granted(bn, vn)
    client = client_of(bn)
    copy = await call(client, "POST", f"grants/{grant_id}/read", {})
    assert isinstance(copy, dict) and copy["values"]["contact.email"] == "alice@example.org"
    await eventually(lambda: bn.holder.held() == [grant_id])
    started = time.perf_counter()
    await vn.revoke(grant_id)
    await eventually(lambda: receipt_at_vault(vn, grant_id))
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"\nrevoke -> deletion receipt at the vault: {elapsed_ms:.0f} ms")
    [receipt] = vn.grants.receipts(grant_id)
    assert receipt.requester == bn.peer_id and receipt.grant_id == grant_id
    assert bn.biz.local_copy(grant_id) == {}
    with pytest.raises(ApiProblem) as exc:
        await call(client, "GET", f"grants/{grant_id}/copy")
    assert exc.value.code is ErrorCode.REVOKED and exc.value.status == 403
    receipts = await call(client, "GET", "receipts")
    assert isinstance(receipts, dict)
    assert [r["grant_id"] for r in receipts["receipts"]] == [grant_id]


async def test_erasure_is_answered_at_once(bn: BusinessNode, vn: VaultNode):
    grant_id = await granted(bn, vn)
    await call(client_of(bn), "POST", f"grants/{grant_id}/read", {})
    started = time.perf_counter()
    rec = vn.delivery.erase(bn.peer_id)
    await eventually(lambda: vn.erasures.get(rec.erasure_id).receipt is not None)
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"\nerase -> erasure receipt at the vault: {elapsed_ms:.0f} ms")
    erasures = await call(client_of(bn), "GET", "erasures")
    assert isinstance(erasures, dict)
    assert [r["erasure_id"] for r in erasures["receipts"]] == [rec.erasure_id]
    assert bn.biz.local_copy(grant_id) == {}


async def test_subscription_is_held_across_a_vault_restart(bn: BusinessNode, vault_home: Path):
    """The vault goes away and comes back on the same address; updates flow again."""
    vn = await VaultNode.start(vault_home, PASSPHRASE, listen=LOOPBACK, control_port=None)
    try:
        grant_id = await granted(bn, vn)
        addr = vn.addrs[0]
        await eventually(lambda: bn.holder.held() == [grant_id])
        vn.vault.profile.set("contact.email", "alice@new.example")
        await eventually(lambda: bn.biz.local_copy(grant_id).get("contact.email")
                         == "alice@new.example")  # fmt: skip
        listen = ["/".join(addr.split("/")[:5])]
    finally:
        await vn.close()
    async with await VaultNode.start(
        vault_home, PASSPHRASE, listen=listen, control_port=None
    ) as again:
        again.vault.profile.set("contact.email", "alice@back.example")
        await eventually(
            lambda: bn.biz.local_copy(grant_id).get("contact.email") == "alice@back.example",
            timeout=60,
        )
    kinds = [a.kind for _, a in bn.holder.numbered() if a.grant_id == grant_id]
    assert kinds.count("update") >= 2


async def test_contact_from_the_api_within_terms(bn: BusinessNode, vn: VaultNode):
    client = client_of(bn)
    grant_id = await granted(bn, vn, actions=["contact"], contact=[["survey", 1, 365]])
    sent = await call(
        client,
        "POST",
        f"grants/{grant_id}/contact",
        {"category": "survey", "subject": "How did we do?", "mailing_id": "m1"},
    )
    assert isinstance(sent, dict)
    assert [m.message_id for m in vn.inbox.messages()] == [sent["message_id"]]
    with pytest.raises(ApiProblem) as exc:
        await call(
            client,
            "POST",
            f"grants/{grant_id}/contact",
            {"category": "survey", "subject": "Again?", "mailing_id": "m1"},
        )
    assert exc.value.code is ErrorCode.CAP_EXCEEDED
    [row] = bn.biz.yields.mailings()
    assert row.mailing_id == "m1" and row.sent == 1 and row.refused == {"cap_exceeded": 1}
    listed = await call(client, "GET", "mailings")
    assert isinstance(listed, dict)
    [view] = listed["mailings"]
    assert (view["sent"], view["refused"]) == (1, {"cap_exceeded": 1})
    assert (view["read"], view["muted"], view["blocked"]) == (None, 0, 0)  # reads not shared


async def test_cli_commands_are_clients_of_the_running_node(
    bn: BusinessNode, vn: VaultNode, monkeypatch: pytest.MonkeyPatch
):
    """While the node holds the store's lock, every command goes through its API."""
    monkeypatch.setenv("KLUIS_BUSINESS_HOME", str(bn.home))
    monkeypatch.delenv("KLUIS_BUSINESS_PASSPHRASE", raising=False)  # no unlock: the node has it
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["business", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert (await asyncio.to_thread(cli, "id")).strip() == bn.peer_id
    request_id = (await asyncio.to_thread(
        cli, "request", vn.addrs[0], "--fields", "contact.email", "--purpose", "ServiceProvision"
    )).strip()  # fmt: skip
    vn.approve(request_id)
    assert "approved: grant" in await asyncio.to_thread(cli, "wait", request_id)
    rows = json.loads(await asyncio.to_thread(cli, "grants", "--json"))["grants"]
    [grant] = rows
    out = await asyncio.to_thread(cli, "read", grant["grant_id"], "--json")
    assert json.loads(out) == {"contact.email": "alice@example.org"}
    await asyncio.to_thread(cli, "profile", "set", "--display-name", "De Spaak",
                            "--legal-name", "De Spaak B.V.", "--contact-email",
                            "privacy@despaak.nl", "--jurisdiction", "NL",
                            "--privacy-policy-url", "https://despaak.nl/privacy")  # fmt: skip
    assert "display name: De Spaak" in await asyncio.to_thread(cli, "profile", "show")
    assert bn.peer_id in await asyncio.to_thread(cli, "profile", "well-known")
    # the business's own name for the vault, set through the node's API
    said = await asyncio.to_thread(cli, "petname", vn.peer_id, "Alice in Zwolle")
    assert "is now called Alice in Zwolle" in said
    from vault.business.views import relationships

    assert [r.petname for r in relationships(bn)] == ["Alice in Zwolle"]


async def test_openapi_matches_the_router_and_the_token_is_required(bn: BusinessNode):
    client = client_of(bn)
    doc = await call(client, "GET", "openapi.json")
    assert isinstance(doc, dict)
    assert doc["info"]["title"] == "kluis business control API"
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert documented == {(op.method, "/api/v1" + op.path) for op in BUSINESS_OPERATIONS}
    deals = doc["paths"]["/api/v1/deals"]["get"]["responses"]["200"]["content"]
    assert "DealList" in json.dumps(deals)
    stranger = ControlClient(client.url, "0" * 64)
    with pytest.raises(ApiProblem) as exc:
        await call(stranger, "GET", "status")
    assert exc.value.status == 401
    with pytest.raises(ApiProblem) as exc:
        await call(client, "POST", "requests", {"vault": "x", "fields": []})
    assert exc.value.status == 400 and exc.value.code is ErrorCode.INVALID_BODY
    with pytest.raises(ApiProblem) as exc:
        await call(client, "GET", "activity?after=%C2%B2")
    assert exc.value.code is ErrorCode.BAD_QUERY
    with pytest.raises(ApiProblem) as exc:
        await call(client, "GET", "activity?colour=red")
    assert exc.value.code is ErrorCode.BAD_QUERY
    with pytest.raises(ApiProblem) as exc:
        await call(client, "POST", "grants/g1/contact", {"category": "spam", "subject": "x"})
    assert exc.value.code is ErrorCode.INVALID_BODY
    with pytest.raises(ApiProblem) as exc:
        await call(client, "POST", "grants/nope/read", {})
    assert exc.value.status == 404
