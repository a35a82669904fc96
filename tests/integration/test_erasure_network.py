"""Erasure over libp2p: the business deletes, destroys keys and answers with a signed receipt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from protocol import ContactPolicy
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.cli.exits import EXIT_ERROR
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.store.vault import Vault

SCHWAB = ContactPolicy.of([("survey", 1, 365), ("service", 5, 30)])

pytestmark = pytest.mark.timeout(60)


async def _read_then_erase(vn: VaultNode, biz: Requester) -> tuple[Any, Any]:
    """Grant and read contact.email, ask the business to erase, wait for its signed receipt."""
    vn.vault.profile.set("contact.email", "alice@example.org")
    pending = await biz.request(vn.addrs[0], fields=["contact.email"], purpose="ServiceProvision")
    vn.approve(pending.request_id)
    grant = await pending.decision(timeout=10)
    assert await biz.read(grant) == {"contact.email": "alice@example.org"}
    rec = vn.delivery.erase(biz.peer_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while vn.erasures.get(rec.erasure_id).receipt is None:
        assert loop.time() < deadline, "no erasure receipt"
        await asyncio.sleep(0.05)
    return grant, rec


async def test_erasure_of_an_online_business_is_confirmed(vn: VaultNode, biz: Requester):
    grant, rec = await _read_then_erase(vn, biz)
    assert biz.local_copy(grant) == {}
    assert [r.erasure_id for r in biz.erasure_receipts()] == [rec.erasure_id]


async def test_receipts_export_holds_consent_and_erasure_receipts(tmp_path: Path, biz: Requester):
    """`kluis receipts --export` (through the running node): every receipt, each verifiable."""
    import json

    from typer.testing import CliRunner

    from protocol.receipts import ConsentReceipt, verify_receipt
    from vault.cli.main import app
    from vault.services.erasure import verify_export

    home = tmp_path / "vault"
    Vault.create(home, PASSPHRASE).close()
    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK, control_port=0) as vn:
        await _read_then_erase(vn, biz)
        out = tmp_path / "receipts.json"

        def cli(*args: str) -> object:
            return CliRunner().invoke(app, list(args), env={"KLUIS_HOME": str(home)})

        res = await asyncio.to_thread(cli, "receipts", "--export", str(out))
        assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
        again = await asyncio.to_thread(cli, "receipts", "--export", str(out))
        assert again.exit_code == EXIT_ERROR and "exists already" in again.output  # type: ignore[attr-defined]
    doc = json.loads(out.read_text())
    assert doc["format"] == "kluis-receipts-v1" and doc["vault"] == vn.peer_id
    kinds = sorted(r["kind"] for r in doc["consent_receipts"])
    assert kinds == ["deletion", "erasure", "grant"]  # the business signed the deletion
    for raw in doc["consent_receipts"]:
        verify_receipt(ConsentReceipt.model_validate(raw), vn.peer_id)
    [erasure] = doc["erasures"]
    assert erasure["status"] == "confirmed" and erasure["receipt"]["requester"] == biz.peer_id
    assert verify_export(erasure)
    erasure["receipt"]["keys_destroyed"] = False  # an altered receipt no longer verifies
    assert not verify_export(erasure)
