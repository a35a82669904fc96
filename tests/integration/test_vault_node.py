"""A real VaultNode: control API security, the one-writer lock, the CLI, and the libp2p story."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from protocol import (
    ACCESS,
    Ack,
    Decision,
    DecisionStatus,
    Error,
    ErrorCode,
    Identity,
    ReadResult,
    RevokeNotice,
    Update,
    dump_message,
    parse_message,
    verify,
)
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from tests.vault.access_helpers import access_request, read, subscribe
from vault.cli.exits import EXIT_ERROR, EXIT_NO_NODE
from vault.cli.main import app
from vault.home.lock import AlreadyRunning
from vault.node.boss import VaultNode
from vault.store.vault import Vault


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    Vault.create(folder, PASSPHRASE).close()
    return folder


@pytest.fixture
async def offline(home: Path) -> AsyncIterator[VaultNode]:
    async with VaultNode.start(home, PASSPHRASE, network=False) as vn:
        yield vn


def api(vn: VaultNode, path: str) -> str:
    return f"{vn.control_url}/api/v1/{path}"


def auth(vn: VaultNode) -> dict[str, str]:
    return {"Authorization": f"Bearer {vn.control_token}"}


async def test_control_api_security(offline: VaultNode, home: Path) -> None:
    vn = offline
    token_file = home / "control.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == vn.control_token
    assert (home / "control.url").read_text().strip() == vn.control_url
    assert vn.control_url is not None and vn.control_url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as http:
        async with http.get(api(vn, "grants")) as r:
            assert r.status == 401
            assert (await r.json())["code"] == "unauthorized"
        async with http.get(
            api(vn, "grants"), headers={"Authorization": "Bearer " + "0" * 64}
        ) as r:
            assert r.status == 401
        async with http.get(api(vn, "grants"), headers={"Authorization": "Basic abc"}) as r:
            assert r.status == 401
        evil = {**auth(vn), "Origin": "http://evil.example"}
        async with http.post(api(vn, "rules"), headers=evil, json={"action": "deny"}) as r:
            assert r.status == 403
        async with http.get(
            api(vn, "grants"), headers={**auth(vn), "Sec-Fetch-Site": "cross-site"}
        ) as r:
            assert r.status == 403
        own = {**auth(vn), "Origin": vn.control_url}
        async with http.get(api(vn, "grants"), headers=own) as r:
            assert r.status == 200 and await r.json() == {"grants": []}
        async with http.post(api(vn, "rules"), headers=auth(vn), data=b"{nope") as r:
            assert r.status == 400 and (await r.json())["code"] == "bad_json"
        async with http.post(api(vn, "rules"), headers=auth(vn), json={"action": "maybe"}) as r:
            assert r.status == 400 and (await r.json())["code"] == "invalid_body"
        async with http.post(api(vn, "requests/nope/approve"), headers=auth(vn), json={}) as r:
            assert r.status == 404
        async with http.post(
            api(vn, "requests/x/approve"), headers=auth(vn), json={"fields": "notalist"}
        ) as r:
            assert r.status == 400
        async with http.get(api(vn, "nothing-here"), headers=auth(vn)) as r:
            assert r.status == 404 and (await r.json())["code"] == "not_found"
        async with http.get(api(vn, "audit?tail=abc"), headers=auth(vn)) as r:
            assert r.status == 400
        # profile through the API
        async with http.put(
            api(vn, "profile/contact.email"), headers=auth(vn), json={"value": "a@example.org"}
        ) as r:
            assert r.status == 200 and (await r.json())["version"] == 1
        async with http.put(
            api(vn, "profile/contact.email"), headers=auth(vn), json={"value": "not an email"}
        ) as r:
            assert r.status == 400
        async with http.put(
            api(vn, "profile/no.such.field"), headers=auth(vn), json={"value": "x"}
        ) as r:
            assert r.status == 404
        async with http.get(api(vn, "profile/contact.email"), headers=auth(vn)) as r:
            assert (await r.json())["value"] == "a@example.org"
        async with http.delete(api(vn, "profile/contact.email"), headers=auth(vn)) as r:
            assert r.status == 200
        async with http.get(api(vn, "profile/contact.email"), headers=auth(vn)) as r:
            assert r.status == 404
        async with http.post(
            api(vn, "rules"),
            headers=auth(vn),
            json={"action": "deny", "purposes": ["dpv:Marketing"]},
        ) as r:
            assert r.status == 201
            rule_id = (await r.json())["rule_id"]
        async with http.get(api(vn, "rules"), headers=auth(vn)) as r:
            assert [x["rule_id"] for x in (await r.json())["rules"]] == [rule_id]
        async with http.delete(api(vn, f"rules/{rule_id}"), headers=auth(vn)) as r:
            assert r.status == 200
        async with http.get(api(vn, "audit?verify=1"), headers=auth(vn)) as r:
            body = await r.json()
            assert body["verify"]["ok"] and body["entries"]
    await vn.close()
    assert not token_file.exists() and not (home / "control.url").exists()


async def test_second_start_is_refused(offline: VaultNode, home: Path) -> None:
    with pytest.raises(AlreadyRunning, match=rf"vault is already running \(pid {os.getpid()}\)"):
        await VaultNode.start(home, PASSPHRASE, network=False)
    env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
    # the CLI's profile commands go through the node's control API (D2: one writer)
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["set", "contact.email", "b@example.org"], env=env
    )
    assert result.exit_code == 0, result.output
    assert offline.vault.profile.get("contact.email") == "b@example.org"
    result = await asyncio.to_thread(CliRunner().invoke, app, ["show"], env=env)
    assert result.exit_code == 0 and "b@example.org" in result.stdout, result.output
    result = await asyncio.to_thread(CliRunner().invoke, app, ["get", "contact.email"], env=env)
    assert result.stdout.strip() == "b@example.org"
    result = await asyncio.to_thread(CliRunner().invoke, app, ["unset", "contact.email"], env=env)
    assert result.exit_code == 0, result.output
    # `kluis id` goes through the running node: the peer id, then its current addresses
    result = await asyncio.to_thread(CliRunner().invoke, app, ["id"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == offline.peer_id and lines[1:] == offline.addrs
    result = await asyncio.to_thread(CliRunner().invoke, app, ["id", "--json"], env=env)
    assert json.loads(result.stdout) == {
        "peer_id": offline.peer_id,
        "addrs": offline.addrs,
        "running": True,
    }


async def test_cli_without_node(home: Path) -> None:
    """D37: `kluis grants` works without a node (one started for the command, no
    network); the dashboard, which only the running node serves, says so."""
    env = {"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["grants", "--json"], env=env)
    assert result.exit_code == 0 and '"grants": []' in result.stdout, result.output
    result = CliRunner().invoke(app, ["dashboard"], env=env)
    assert result.exit_code == EXIT_NO_NODE
    assert "no running node; the dashboard is a page the running node serves" in result.stderr


# -- the libp2p story: request → approve → read → subscribe → revoke --------------------


async def call(node: Any, peer: str, msg: Any, timeout: float = 10.0) -> Any:
    return parse_message(await node.request(peer, ACCESS, dump_message(msg), timeout=timeout))


async def test_end_to_end_over_libp2p(home: Path) -> None:
    from protocol.runtime import Node

    alice = Identity.generate()
    notices: list[bytes] = []

    def on_notice(ctx: Any, payload: bytes) -> bytes:
        notices.append(payload)
        return dump_message(Ack(ref=parse_message(payload).grant_id))  # type: ignore[attr-defined]

    async with VaultNode.start(home, PASSPHRASE, listen=LOOPBACK) as vn:
        vn.vault.profile.set("contact.email", "alice@example.org")
        vn.vault.profile.set("name.given", "Alice")
        assert vn.addrs and all(a.endswith(f"/p2p/{vn.peer_id}") for a in vn.addrs)
        async with Node.start(alice, listen=LOOPBACK, bootstrap=[], mdns=False) as client:
            client.set_frame_handler(ACCESS, on_notice)
            assert await client.connect(vn.addrs[0]) == vn.peer_id
            req = access_request(alice, vn.peer_id, ["contact.email", "name.given"])
            decision = await call(client, vn.peer_id, req)
            assert isinstance(decision, Decision) and decision.status is DecisionStatus.PENDING
            from protocol.messages import AwaitDecision

            waiting = asyncio.ensure_future(
                call(
                    client,
                    vn.peer_id,
                    AwaitDecision(request_id=req.request_id, wait_ms=10_000),
                    timeout=15,
                )
            )
            async with aiohttp.ClientSession() as http:
                async with http.get(api(vn, "requests?status=pending"), headers=auth(vn)) as r:
                    assert [x["request_id"] for x in (await r.json())["requests"]] == [
                        req.request_id
                    ]
                async with http.post(
                    api(vn, f"requests/{req.request_id}/approve"),
                    headers=auth(vn),
                    json={"fields": ["contact.email"], "days": 7},
                ) as r:
                    assert r.status == 200, await r.text()
                decision = await asyncio.wait_for(waiting, 15)
                assert decision.status is DecisionStatus.APPROVED and decision.grant is not None
                grant = decision.grant
                verify(grant, vn.peer_id)
                assert grant.scope.fields == ("contact.email",)

                result = await call(
                    client, vn.peer_id, read(alice, grant.grant_id, ["contact.email"])
                )
                assert isinstance(result, ReadResult)
                assert result.values["contact.email"].value == "alice@example.org"

                stream = await client.open_stream(vn.peer_id, ACCESS)
                await stream.send(dump_message(subscribe(alice, grant.grant_id, ["contact.email"])))
                ack = parse_message(await asyncio.wait_for(stream.receive(), 10))
                assert isinstance(ack, Ack) and ack.ref == grant.grant_id
                async with http.put(
                    api(vn, "profile/contact.email"),
                    headers=auth(vn),
                    json={"value": "new@example.org"},
                ) as r:
                    assert r.status == 200
                update = parse_message(await asyncio.wait_for(stream.receive(), 10))
                assert isinstance(update, Update) and update.value == "new@example.org"

                async with http.post(
                    api(vn, f"grants/{grant.grant_id}/revoke"),
                    headers=auth(vn),
                    json={"reason": "done"},
                ) as r:
                    assert r.status == 200
                    assert (await r.json())["grant"]["status"] == "revoked"
                notice = parse_message(await asyncio.wait_for(stream.receive(), 10))
                assert isinstance(notice, RevokeNotice)
                verify(notice, vn.peer_id)
                await stream.aclose()

                refused = await call(
                    client, vn.peer_id, read(alice, grant.grant_id, ["contact.email"])
                )
                assert isinstance(refused, Error) and refused.code is ErrorCode.REVOKED
                from tests.vault.access_helpers import deletion_receipt

                receipt = deletion_receipt(alice, vn.peer_id, grant.grant_id, ["contact.email"])
                ack = await call(client, vn.peer_id, receipt)
                assert isinstance(ack, Ack) and ack.ref == receipt.receipt_id
                await vn.access.drain()
                async with http.get(api(vn, "grants"), headers=auth(vn)) as r:
                    g = (await r.json())["grants"][0]
                    assert g["notice_delivered"] is True and g["receipts"] == [receipt.receipt_id]

            # a grant with no subscription: the notice goes by request, answered with Ack
            req2 = access_request(alice, vn.peer_id, ["name.given"])
            await call(client, vn.peer_id, req2)
            grant2 = vn.approve(req2.request_id)
            await vn.revoke(grant2.grant_id, wait_delivery=True)
            assert len(notices) == 1
            assert vn.grants.grant(grant2.grant_id).notice_delivered is True
        # the requester is gone: the revocation holds, the notice is recorded undelivered
        req3 = access_request(alice, vn.peer_id, ["name.given"])
        vn.grants.submit(req3)
        grant3 = vn.approve(req3.request_id)
        await vn.revoke(grant3.grant_id, wait_delivery=True)
        assert vn.grants.grant(grant3.grant_id).notice_delivered is False
        kinds = [e.kind for e in vn.vault.audit.entries()]
        for kind in (
            "access.request",
            "access.approve",
            "access.read",
            "access.subscribe",
            "access.push",
            "grant.revoke",
            "grant.notice",
            "grant.deletion",
        ):
            assert kind in kinds, kind


async def test_cli_start_and_owner_commands(home: Path) -> None:
    from protocol.runtime import Node

    env = {**os.environ, "KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
    env.pop("KLUIS_DEBUG", None)
    kluis = [sys.executable, "-m", "vault"]
    proc = subprocess.Popen(
        [*kluis, "start", "--listen", LOOPBACK[0]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        addr = await asyncio.to_thread(_wait_for_addr, proc)

        def cli(*args: str) -> Any:
            return CliRunner().invoke(
                app, list(args), env={"KLUIS_HOME": str(home), "COLUMNS": "200"}
            )

        second = await asyncio.to_thread(
            subprocess.run,
            [*kluis, "start"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == EXIT_ERROR
        assert f"vault is already running (pid {proc.pid})" in second.stderr

        alice = Identity.generate()
        vault_peer = addr.rsplit("/p2p/", 1)[1]
        async with Node.start(alice, listen=LOOPBACK, bootstrap=[], mdns=False) as client:
            await client.connect(addr)
            req = access_request(alice, vault_peer, ["contact.email"])
            assert (await call(client, vault_peer, req)).status is DecisionStatus.PENDING

            out = await asyncio.to_thread(cli, "requests")
            assert out.exit_code == 0 and req.request_id[:8] in out.stdout, out.output
            out = await asyncio.to_thread(cli, "approve", req.request_id, "--days", "3")
            assert out.exit_code == 0 and "approved: grant" in out.stdout, out.output
            grant_id = out.stdout.split("grant ", 1)[1].split()[0]
            out = await asyncio.to_thread(cli, "grants")
            assert grant_id[:8] in out.stdout and "active" in out.stdout, out.output
            await asyncio.to_thread(cli, "set", "contact.email", "c@example.org")
            got = await call(client, vault_peer, read(alice, grant_id, ["contact.email"]))
            assert isinstance(got, ReadResult)
            assert got.values["contact.email"].value == "c@example.org"
            out = await asyncio.to_thread(cli, "revoke", grant_id)
            assert out.exit_code == 0, out.output
            got = await call(client, vault_peer, read(alice, grant_id, ["contact.email"]))
            assert isinstance(got, Error) and got.code is ErrorCode.REVOKED
            out = await asyncio.to_thread(cli, "rules", "add", "deny", "--purpose", "Marketing")
            assert out.exit_code == 0, out.output
            out = await asyncio.to_thread(cli, "rules", "list")
            assert "dpv:Marketing" in out.stdout, out.output
            out = await asyncio.to_thread(cli, "rules")  # alone, as the README writes it
            assert out.exit_code == 0 and "dpv:Marketing" in out.stdout, out.output
    finally:
        proc.terminate()
        try:
            stdout, _ = await asyncio.to_thread(proc.communicate, timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, stdout
    assert "stopped" in stdout
    assert not (home / "control.url").exists()


def _wait_for_addr(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"kluis start exited: {proc.stderr.read() if proc.stderr else ''}")
        if "listening:" in line and "/ip4/127.0.0.1/" in line:
            addr = line.split("listening:", 1)[1].strip()
            # wait for the control line too (written after the node is ready)
            while "control:" not in proc.stdout.readline():
                pass
            return addr
    raise AssertionError("kluis start did not print its address")


async def test_cli_start_dials_bootstrap_peers_from_config(home: Path) -> None:
    """config.toml's [network] bootstrap peers are dialled when `kluis start` runs."""
    from protocol.runtime import Node

    async with Node.start(Identity.generate(), listen=LOOPBACK) as peer:
        (home / "config.toml").write_text(
            f'[network]\nlisten = ["{LOOPBACK[0]}"]\nbootstrap = ["{peer.addrs[0]}"]\n'
        )
        env = {**os.environ, "KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
        env.pop("KLUIS_DEBUG", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "vault", "start"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            addr = await asyncio.to_thread(_wait_for_addr, proc)
            vault_peer = addr.rsplit("/p2p/", 1)[1]
            deadline = time.monotonic() + 15
            while vault_peer not in peer.peers() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert vault_peer in peer.peers(), "the vault never dialled its bootstrap peer"
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.communicate, timeout=20)
        assert proc.returncode == 0


def test_cli_start_refuses_a_bad_config(home: Path) -> None:
    (home / "config.toml").write_text('[network]\nbootstrap = ["/ip4/127.0.0.1/tcp/1"]\n')
    result = CliRunner().invoke(
        app, ["start"], env={"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
    )
    assert result.exit_code == EXIT_ERROR
    assert "needs its /p2p/" in result.stderr
    assert not (home / "control.url").exists()
