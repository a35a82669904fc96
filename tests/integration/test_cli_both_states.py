"""Every owner command works with and without a running node, alike (D37), through the real CLI.

The same script of commands runs twice on a vault holding two access requests:
once with a real :class:`VaultNode` running (control API on 127.0.0.1, libp2p on
loopback), once with none, where each command starts a node without network
for its own duration (:mod:`vault.cli.local`). Both must give the same answers;
only what needs the running node (the dashboard it serves, a domain check in
its background) says so, in one line, exit 4. Also: a passphrase given while
the node runs is checked, without a KDF when it is right (D39).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from protocol import Identity
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from tests.vault.access_helpers import access_request
from vault.cli.exits import EXIT_ERROR, EXIT_NO_NODE, EXIT_OK
from vault.cli.main import app
from vault.home.lock import running_pid
from vault.node.boss import VaultNode
from vault.services.grantbook import GrantBook
from vault.store.vault import Vault

BUSINESS = Identity.generate()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    with Vault.create(folder, PASSPHRASE) as vault:
        vault.profile.set("contact.email", "ada@example.org")
        vault.profile.set("name.given", "Ada")
        book = GrantBook(vault)
        for _ in range(2):
            book.submit(access_request(BUSINESS, vault.peer_id))
    return folder


def invoke(home: Path, *args: str, passphrase: str | None = PASSPHRASE) -> Result:
    env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": passphrase, "KLUIS_DEBUG": None}
    return CliRunner().invoke(app, list(args), env=env)


def ok_json(result: Result) -> Any:
    assert result.exit_code == EXIT_OK, result.output
    return json.loads(result.stdout)


def one_line(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


Cli = Callable[..., Result]


def script(cli: Cli, export: Path) -> dict[str, Any]:
    """The owner's commands, in order; returns what a comparison between states needs."""
    pending = ok_json(cli("requests", "--json"))["requests"]
    assert len(pending) == 2 and {r["status"] for r in pending} == {"pending"}
    first, second = sorted(r["request_id"] for r in pending)
    approved = ok_json(cli("approve", first[:10], "--fields", "contact.email", "--json"))
    grant_id = approved["grant"]["grant_id"]
    assert approved["grant"]["fields"] == ["contact.email"]
    assert ok_json(cli("deny", second, "--reason", "no", "--json"))["request"]["status"] == "denied"
    assert ok_json(cli("requests", "--json"))["requests"] == []
    grants = ok_json(cli("grants", "--json"))["grants"]
    assert [(g["grant_id"], g["status"]) for g in grants] == [(grant_id, "active")]
    rule = ok_json(cli("rules", "add", "deny", "--purpose", "Marketing", "--json"))
    assert [r["rule_id"] for r in ok_json(cli("rules", "--json"))["rules"]] == [rule["rule_id"]]
    assert [r["rule_id"] for r in ok_json(cli("rules", "list", "--json"))["rules"]] == [
        rule["rule_id"]
    ]
    assert cli("rules", "remove", rule["rule_id"][:8]).exit_code == EXIT_OK
    assert ok_json(cli("rules", "--json"))["rules"] == []
    revoked = cli("revoke", grant_id[:10], "--reason", "done")
    assert revoked.exit_code == EXIT_OK and f"revoked: {grant_id}" in revoked.stdout
    grants = ok_json(cli("grants", "--json"))["grants"]
    assert [g["status"] for g in grants] == ["revoked"]
    receipts = ok_json(cli("receipts", "--json"))["receipts"]
    kinds = sorted(r["kind"] for r in receipts)
    one = ok_json(cli("receipts", "--id", receipts[0]["receipt_id"][:8], "--kantara"))
    assert one  # the Kantara rendering, signed
    assert cli("receipts", "--export", str(export)).exit_code == EXIT_OK
    checked = cli("receipts", "verify", str(export))
    assert checked.exit_code == EXIT_OK and "FAILED" not in checked.stdout, checked.output
    assert ok_json(cli("deny-unknown", "--json"))["requests"] == []
    businesses = ok_json(cli("businesses", "--json"))["businesses"]
    assert [b["peer_id"] for b in businesses] == [BUSINESS.peer_id]
    shown = ok_json(cli("businesses", "show", BUSINESS.peer_id, "--json"))
    assert shown["peer_id"] == BUSINESS.peer_id
    assert cli("businesses", "petname", BUSINESS.peer_id, "Shop").exit_code == EXIT_OK
    return {"receipt kinds": kinds, "revoke output": revoked.stdout}


def test_without_a_running_node(home: Path, tmp_path: Path) -> None:
    seen = script(lambda *args: invoke(home, *args), tmp_path / "receipts.json")
    assert seen["receipt kinds"] == ["grant", "revocation"]
    assert "the business is told when it next asks" in seen["revoke output"]
    # what needs the running node says so, in one line, exit 4
    one_line(invoke(home, "dashboard"), EXIT_NO_NODE, "the dashboard is a page the running node")
    one_line(
        invoke(home, "businesses", "verify", BUSINESS.peer_id),
        EXIT_NO_NODE,
        "the domain check runs in the running node",
    )
    one_line(invoke(home, "deals"), EXIT_NO_NODE, "deals wait in the running node")
    # each command's node is gone: no control files, no lock, the vault opens here
    assert not (home / "control.url").exists() and not (home / "control.token").exists()
    assert running_pid(home) is None
    one_line(invoke(home, "grants", passphrase="not it"), EXIT_ERROR, "wrong passphrase")


@pytest.fixture
async def node(home: Path) -> AsyncIterator[VaultNode]:
    async with VaultNode.start(home, PASSPHRASE, listen=list(LOOPBACK)) as vn:
        yield vn


async def test_with_a_running_node(node: VaultNode, home: Path, tmp_path: Path) -> None:
    def cli(*args: str) -> Result:
        return invoke(home, *args)

    seen = await asyncio.to_thread(script, cli, tmp_path / "receipts.json")
    assert seen["receipt kinds"] == ["grant", "revocation"]
    assert "told when it next asks" not in seen["revoke output"]
    link = await asyncio.to_thread(invoke, home, "dashboard", "--json")
    assert ok_json(link)["url"].startswith(node.control_url or "?")


async def test_a_given_passphrase_is_checked_by_the_node_without_a_kdf_when_right(
    node: VaultNode, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D39: the right passphrase is confirmed from memory; a wrong one runs the KDF
    (what a guess costs against the keyfile) and is refused in one line."""
    runs: list[str] = []
    real = Vault.unlock_keyring

    def counting(paths: Any, passphrase: str, **kw: Any) -> Any:
        runs.append(passphrase)
        return real(paths, passphrase, **kw)

    monkeypatch.setattr(Vault, "unlock_keyring", staticmethod(counting))
    right = await asyncio.to_thread(invoke, home, "grants", "--json")
    assert right.exit_code == EXIT_OK and runs == []
    wrong = await asyncio.to_thread(invoke, home, "grants", "--json", passphrase="not it")
    one_line(wrong, EXIT_ERROR, "wrong passphrase")
    assert runs == ["not it"]
    none = await asyncio.to_thread(invoke, home, "grants", "--json", passphrase=None)
    assert none.exit_code == EXIT_OK and runs == ["not it"]  # none given: nothing checked


def test_is_passphrase_follows_a_change(home: Path) -> None:
    with Vault.open(home, PASSPHRASE) as vault:
        assert vault.is_passphrase(PASSPHRASE)
        assert not vault.is_passphrase(PASSPHRASE + " ")
        vault.change_passphrase("a brand new passphrase")
        assert vault.is_passphrase("a brand new passphrase")
        assert not vault.is_passphrase(PASSPHRASE)
