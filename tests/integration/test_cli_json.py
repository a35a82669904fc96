"""``--json`` and id prefixes on the commands, through the real CLI (issue 14 §4).

A business (``kluis business …``) asks a running vault node; the owner decides
with ``kluis approve/deny/revoke --json``; each answer parses as JSON and names
the same ids the other side sees.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from protocol.listen import LOOPBACK
from tests.conftest import BIZ_PASSPHRASE, PASSPHRASE
from vault.cli.main import app
from vault.node.boss import VaultNode


@pytest.fixture
async def node(vault_home: Path) -> AsyncIterator[VaultNode]:
    async with VaultNode.start(vault_home, PASSPHRASE, listen=list(LOOPBACK)) as vn:
        yield vn


async def test_json_answers_on_both_sides(
    node: VaultNode, vault_home: Path, tmp_path: Path
) -> None:
    owner_env = {"KLUIS_HOME": str(vault_home), "KLUIS_PASSPHRASE": PASSPHRASE, "KLUIS_DEBUG": None}
    biz_env = {
        "KLUIS_BUSINESS_HOME": str(tmp_path / "biz"),
        "KLUIS_BUSINESS_PASSPHRASE": BIZ_PASSPHRASE,
        "KLUIS_BUSINESS_LISTEN": LOOPBACK[0],
        "KLUIS_DEBUG": None,
    }

    async def run(env: dict[str, Any], *args: str) -> Any:
        result: Result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output)
        return json.loads(result.stdout)

    async def owner(*args: str) -> Any:
        return await run(owner_env, *args, "--json")

    async def business(*args: str) -> Any:
        return await run(biz_env, "business", *args, "--json")

    assert (
        await asyncio.to_thread(CliRunner().invoke, app, ["business", "init"], env=biz_env)
    ).exit_code == 0
    biz_peer = (await business("id"))["peer_id"]
    assert biz_peer.startswith("12D3KooW")

    asked = await business(
        "request", node.addrs[0], "--fields", "contact.email", "--purpose", "ServiceProvision"
    )
    request_id = asked["request_id"]
    assert node.grants.request(request_id).request.requester == biz_peer
    approved = await owner("approve", request_id[:6], "--days", "3")  # a unique prefix
    grant_id = approved["grant"]["grant_id"]
    assert approved["grant"]["fields"] == ["contact.email"]
    waited = await business("wait", request_id, "--timeout", "10")
    assert waited["status"] == "approved" and waited["grant_id"] == grant_id
    assert waited["fields"] == ["contact.email"]

    second = (await business(
        "request", node.addrs[0], "--fields", "name.given", "--purpose", "Marketing"
    ))["request_id"]  # fmt: skip
    denied = await owner("deny", second, "--reason", "no thanks")
    assert json.dumps(denied)  # an object, whatever the node answers
    assert node.grants.request(second).status.value == "denied"

    rule = await owner("rules", "add", "deny", "--fields", "name.given")
    assert rule["action"] == "deny" and rule["fields"] == ["name.given"]
    await owner("rules", "remove", rule["rule_id"][:5])
    assert (await owner("rules", "list"))["rules"] == []

    link = await owner("dashboard")
    assert link["url"].startswith("http://127.0.0.1:")

    [unused] = (await owner("grants"))["grants"]
    assert unused["reads"] == 0 and unused["last_access"] is None
    assert (await business("read", grant_id)) == {"contact.email": "alice@example.org"}
    assert (await business("read", grant_id)) == {"contact.email": "alice@example.org"}
    [used] = (await owner("grants"))["grants"]
    assert used["reads"] == 2 and used["last_access"] >= used["issued_at"]

    table = await asyncio.to_thread(
        CliRunner().invoke, app, ["grants"], env={**owner_env, "COLUMNS": "80"}
    )
    assert table.exit_code == 0, table.output
    assert grant_id[:8] in table.stdout and grant_id not in table.stdout
    for heading in ("business", "fields", "reads", "last read", "status"):
        assert heading in table.stdout, table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80

    await owner("revoke", grant_id[:8], "--reason", "done")
    assert node.grants.grant(grant_id).revoked
