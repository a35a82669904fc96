"""'Deny all from unknown businesses' through the API, the dashboard and the CLI (issue 13 §2)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from protocol import DecisionStatus, Identity
from vault.cli.main import app

from .conftest import Running, logged_in
from .helpers import ask

pytestmark = pytest.mark.timeout(60)


async def strangers_and_a_friend(r: Running) -> tuple[list[str], str]:
    """Three requests from unknown businesses, one from a business once granted."""
    node = r.node
    friend = Identity.generate()
    node.grants.approve(await ask(node, friend))
    strangers = [await ask(node, Identity.generate()) for _ in range(3)]
    return strangers, await ask(node, friend)


def statuses(r: Running, ids: list[str]) -> set[DecisionStatus]:
    return {r.node.grants.request(i).status for i in ids}


async def test_the_api_denies_only_unknown_businesses(running: Running) -> None:
    strangers, mine = await strangers_and_a_friend(running)
    async with aiohttp.ClientSession() as s:
        async with s.post(
            running.url + "/api/v1/requests/deny-unknown",
            json={"reason": "not now"},
            headers={"Authorization": f"Bearer {running.token}"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
    assert sorted(x["request_id"] for x in body["requests"]) == sorted(strangers)
    assert statuses(running, strangers) == {DecisionStatus.DENIED}
    assert running.node.grants.request(mine).status is DecisionStatus.PENDING


async def test_the_dashboard_button_needs_csrf(running: Running) -> None:
    strangers, mine = await strangers_and_a_friend(running)
    s, csrf = await logged_in(running)
    url = running.url + "/requests/deny-unknown"
    async with s:
        async with s.get(running.url + "/requests") as resp:
            page = await resp.text()
        assert 'data-testid="deny-unknown"' in page and "3 waiting requests" in page
        async with s.post(url, data={"csrf": "forged"}, allow_redirects=False) as resp:
            assert resp.status == 403
        assert statuses(running, strangers) == {DecisionStatus.PENDING}
        async with s.post(
            url,
            data={"csrf": csrf},
            headers={"Origin": running.url, "Sec-Fetch-Site": "same-origin"},
        ) as resp:
            assert resp.status == 200
            assert "Denied 3 requests from unknown businesses" in await resp.text()
    assert statuses(running, strangers) == {DecisionStatus.DENIED}
    assert running.node.grants.request(mine).status is DecisionStatus.PENDING


async def test_the_cli_command(running: Running, vault_home: Path) -> None:
    strangers, mine = await strangers_and_a_friend(running)
    env = {"KLUIS_HOME": str(vault_home), "COLUMNS": "200"}
    res = await asyncio.to_thread(CliRunner().invoke, app, ["deny-unknown"], env=env)
    assert res.exit_code == 0, res.output
    assert "denied 3 requests from unknown businesses" in res.stdout
    assert statuses(running, strangers) == {DecisionStatus.DENIED}
    res = await asyncio.to_thread(CliRunner().invoke, app, ["deny-unknown", "--json"], env=env)
    assert res.exit_code == 0 and json.loads(res.stdout) == {"requests": []}
    assert running.node.grants.request(mine).status is DecisionStatus.PENDING
