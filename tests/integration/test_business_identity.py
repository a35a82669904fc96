"""A business that says who it is: profile over libp2p, domain check, CLI labels, receipts.

Real libp2p nodes, a real HTTPS server on 127.0.0.1 with a throwaway CA posing as
``despaak.nl``, the real CLI against the running node's control API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from protocol.business import well_known_document
from vault.cli.exits import EXIT_ERROR
from vault.cli.main import app
from vault.node.boss import VaultNode
from vault.requester import Requester
from vault.services.domain_check import DomainVerifier
from vault.store.vault import Vault

from ..vault.https_helpers import https_server

PASSPHRASE = "correct horse battery"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]
PROFILE: dict[str, Any] = {
    "display_name": "Fietsenwinkel De Spaak",
    "legal_name": "De Spaak Fietsen B.V.",
    "contact_email": "privacy@despaak.nl",
    "jurisdiction": "NL",
    "privacy_policy_url": "https://despaak.nl/privacy",
    "website": "https://despaak.nl",
    "phone": "+31201234567",
    "address": {"street": "Spaakstraat 1", "locality": "Amsterdam", "country": "NL"},
}

pytestmark = pytest.mark.timeout(90)


async def _until(check: Any, what: str, seconds: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def test_the_owner_sees_who_asks_and_every_receipt_verifies(tmp_path: Path) -> None:
    home = tmp_path / "vault"
    Vault.create(home, PASSPHRASE).close()

    def cli(*args: str) -> Any:
        env = {"KLUIS_HOME": str(home), "COLUMNS": "300"}  # tables: one row per line
        return CliRunner().invoke(app, list(args), env=env)

    async with https_server() as srv:
        verifier = DomainVerifier(
            lambda: int(asyncio.get_running_loop().time() * 1000) + 10**12,
            ssl_context=srv.client_ssl,
            resolver=srv.resolver(),
        )
        async with (
            await VaultNode.start(
                home, PASSPHRASE, listen=LOOPBACK, control_port=0, domain_verifier=verifier
            ) as vn,
            await Requester.ephemeral(
                tmp_path / "biz", listen=LOOPBACK, retention_interval=None
            ) as biz,
        ):
            srv.publish("despaak.nl", biz.profile.well_known())
            biz.profile.set(**PROFILE)
            vn.vault.profile.set("contact.email", "alice@example.org")
            pending = await biz.request(vn.addrs[0], ["contact.email"], "ServiceProvision")
            await _until(
                lambda: vn.businesses.label(biz.peer_id).verification == "verified",
                "the background domain check did not land",
            )
            res = await asyncio.to_thread(cli, "requests", "--json")
            [req] = json.loads(res.stdout)["requests"]
            assert req["business"]["text"] == "Fietsenwinkel De Spaak (verified: despaak.nl)"
            res = await asyncio.to_thread(cli, "requests")
            assert "Fietsenwinkel De Spaak (verified: despaak.nl)" in res.stdout.replace("\n", "")

            # petname, then a changed profile is flagged until seen
            res = await asyncio.to_thread(cli, "businesses", "petname", biz.peer_id, "bikes")
            assert res.exit_code == 0, res.output
            assert res.stdout.startswith("bikes · Fietsenwinkel De Spaak (verified: despaak.nl)")
            biz.profile.set(privacy_policy_url="https://despaak.nl/privacy-2026")
            vn.approve(pending.request_id)
            grant = await pending.decision(timeout=10)
            assert vn.businesses.changed(biz.peer_id) is False  # no new request yet
            await biz.request(vn.addrs[0], ["contact.email"], "Marketing")
            assert vn.businesses.changed(biz.peer_id) is True
            res = await asyncio.to_thread(cli, "businesses", "show", biz.peer_id)
            assert "privacy-2026" in res.stdout and "[profile changed]" in res.stdout
            res = await asyncio.to_thread(cli, "businesses", "seen", biz.peer_id)
            assert "[profile changed]" not in res.stdout

            # a .well-known naming another peer: unverified after a re-check
            srv.publish("despaak.nl", well_known_document(vn.peer_id))
            res = await asyncio.to_thread(cli, "businesses", "verify", biz.peer_id)
            assert "bikes · Fietsenwinkel De Spaak (unverified)" in res.stdout
            assert "names another peer" in res.stdout

            # receipts carry the controller fields; revoke, then export and verify
            await vn.revoke(grant.grant_id, wait_delivery=True)
            await _until(lambda: vn.grants.grant(grant.grant_id).receipts, "no deletion receipt")
            out = tmp_path / "receipts.json"
            res = await asyncio.to_thread(cli, "receipts", "--export", str(out))
            assert res.exit_code == 0, res.output
            rid = json.loads(out.read_text())["consent_receipts"][0]["receipt_id"]
            res = await asyncio.to_thread(cli, "receipts", "--id", rid, "--kantara")
            kantara = json.loads(res.stdout)
            [ctl] = kantara["piiControllers"]
            assert ctl["piiController"] == "De Spaak Fietsen B.V."
            assert ctl["email"] == "privacy@despaak.nl"
            assert kantara["policyUrl"] == "https://despaak.nl/privacy"  # the profile at consent
            assert kantara["jurisdiction"] == "NL"
            assert ctl["address"]["addressLocality"] == "Amsterdam"
            assert kantara["kluis"]["missing"] == []

    doc = json.loads(out.read_text())
    kinds = sorted(r["kind"] for r in doc["consent_receipts"])
    assert kinds == ["deletion", "grant", "revocation"]
    assert len(doc["kantara"]) == len(doc["iso27560"]) == 3
    withdrawn = [k for k in doc["kantara"] if k["kluis"]["kind"] != "grant"]
    assert {k["services"][0]["purposes"][0]["consentType"] for k in withdrawn} == {"WITHDRAWN"}

    res = cli("receipts", "verify", str(out))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert sum(line.startswith("ok") for line in lines) == 9 and lines[-1] == "9 of 9 verified"

    doc["kantara"][1]["policyUrl"] = "https://evil.example/privacy"
    doc["consent_receipts"][0]["retention_days"] = 365
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    res = cli("receipts", "verify", str(tampered))
    assert res.exit_code == 1
    assert sum(line.startswith("FAIL") for line in res.stdout.splitlines()) == 2, res.stdout
    assert res.stdout.splitlines()[-1] == "7 of 9 verified, 2 FAILED"
    res = cli("receipts", "verify", str(tmp_path / "missing.json"))
    assert res.exit_code == EXIT_ERROR and "cannot read" in res.output
