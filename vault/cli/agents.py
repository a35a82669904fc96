"""``kluis intent send``, ``deals``, ``confirm``, ``agreements``, ``agents tournament``.

With a running node (``kluis start``) every command goes through its control API
(routes in :mod:`vault.api.agent_routes`). Without one, ``intent send`` unlocks the
vault, starts the node for the negotiation window, closes the deal (if any) and
stops; ``agreements`` reads the store directly; ``deals``/``confirm`` need the
running node, since a deal awaiting confirmation lives in its agent.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import typer

from vault._exceptions import VaultError
from vault.cli.client import NoRunningNode, node_client
from vault.cli.console import inert, stderr, stdout
from vault.cli.options import HomeOpt, JsonOpt, PassFileOpt, open_vault, read_passphrase
from vault.home.paths import resolve_home

__all__ = ["agents_app", "intent_app", "register"]

intent_app = typer.Typer(help="Cast intents: what you want, negotiated by your agent.")
agents_app = typer.Typer(help="Preference agents: strategies and their tournament.")

POLL_S = 0.5

#: Outcomes that are errors (the control API's ``error`` says why), not results
#: like ``no_deal``: ``intent send`` exits non-zero on them.
FAILED = frozenset({"failed", "cancelled"})


def _print_outcome(entry: dict[str, Any]) -> None:
    out = stdout()
    status = entry.get("status")
    name = entry.get("intent_id") or entry.get("ref") or "?"
    out.print(f"intent {name}: {status}", markup=False)
    if entry.get("sessions") is not None:
        out.print(f"  sessions:  {entry['sessions']}", markup=False)
    if entry.get("agreement_id"):
        out.print(f"  agreement: {entry['agreement_id']}", markup=False)
        out.print(f"  business:  {entry['business']}", markup=False)
        out.print(f"  value:     {entry['value_cents'] / 100:.2f}", markup=False)
        out.print(f"  grant:     {entry['grant_id']}", markup=False)


def send(
    file: Annotated[Path, typer.Argument(help="The intent, TOML or JSON.", show_default=False)],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option("--bootstrap", help="Peer multiaddr to reach the businesses (repeatable)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the outcome.")] = True,
    peer_timeout: Annotated[
        float, typer.Option("--peer-timeout", help="Seconds to wait for a listening business.")
    ] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Publish an intent and let the agent negotiate it (until the intent's window closes)."""
    from vault.services.agent_service import read_intent_file

    raw = read_intent_file(file)
    client = node_client(home, passphrase_file)
    if client is not None:
        entry = client.post("agents/intents", raw)
        if wait:
            window = float(raw.get("window_seconds", 5))
            deadline = time.monotonic() + window + 60
            with stderr().status("Negotiating…"):
                while entry.get("status") == "negotiating" and time.monotonic() < deadline:
                    time.sleep(POLL_S)
                    listing = client.get("agents/intents")["intents"]
                    entry = next((e for e in listing if e["ref"] == entry["ref"]), entry)
    else:
        if not wait:
            raise VaultError("--no-wait needs a running node (`kluis start`)")
        import asyncio

        from protocol import Identity
        from vault.services.agent_service import parse_intent_config

        parse_intent_config(raw, Identity.generate())  # a bad file fails before the unlock
        entry = asyncio.run(
            _send_offline(home, passphrase_file, raw, bootstrap or [], peer_timeout)
        )
    failed = entry.get("status") in FAILED
    if as_json:
        sys.stdout.write(json.dumps(entry, indent=2) + "\n")
    elif entry.get("status") == "negotiating":
        stdout().print(f"intent {entry['ref']} sent; negotiating", markup=False)
    elif not failed:
        _print_outcome(entry)
    if failed:  # the reason, on stderr, and exit 3 (EXIT_ERROR): a script must see it
        name = entry.get("intent_id") or entry.get("ref") or "?"
        why = entry.get("error") or "no reason given"
        raise VaultError(f"intent {name} {entry['status']}: {why}")


async def _send_offline(
    home: Path | None,
    passphrase_file: Path | None,
    raw: dict[str, Any],
    bootstrap: list[str],
    peer_timeout: float,
) -> dict[str, Any]:
    from vault.home.config import load_config
    from vault.node.boss import VaultNode
    from vault.services.agent_service import AgentService

    folder = resolve_home(home)
    listen = load_config(folder).network.listen  # where `kluis start` would listen
    passphrase = read_passphrase(passphrase_file)
    with stderr().status("Unlocking the vault (Argon2id) and starting the node…"):
        node = await VaultNode.start(folder, passphrase, listen=listen, control_port=None)
    async with node:
        svc = AgentService(
            node.vault,
            node.grants,
            vault_addrs=lambda: node.addrs,
            bootstrap=bootstrap,
            confirm_timeout=0.0,
        )
        spec, mandate = svc.parse_intent(raw)
        with stderr().status("Negotiating…"):
            outcome = await svc.send_intent(spec, mandate, subscriber_timeout=peer_timeout)
        await svc.aclose()
    return {
        "status": outcome.status,
        "intent_id": outcome.intent.intent_id,
        "sessions": len(outcome.candidates),
        "agreement_id": outcome.agreement.agreement_id if outcome.agreement else None,
        "grant_id": outcome.grant.grant_id if outcome.grant else None,
        "business": outcome.agreement.business if outcome.agreement else None,
        "value_cents": outcome.agreement.value_cents if outcome.agreement else None,
    }


def deals(
    home: HomeOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also decided deals.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Deals your agent found that wait for your confirmation (above the mandate's threshold)."""
    client = node_client(home)
    if client is None:
        raise NoRunningNode("no running node; deals wait in the running node (`kluis start`)")
    items = client.get("agents/deals" + ("?all=1" if all_ else ""))["deals"]
    if as_json:
        sys.stdout.write(json.dumps(items, indent=2) + "\n")
        return
    if not items:
        stdout().print("no deals awaiting confirmation", markup=False)
        return
    from rich.table import Table

    table = Table("id", "category", "value", "terms", "business", "status")
    for d in items:
        terms = ", ".join(f"{k}={v}" for k, v in sorted(d["bid"].items()))
        table.add_row(*map(inert, (
            d["deal_id"], d["category"], f"{d['value_cents'] / 100:.2f}", terms,
            d["business"][:12] + "…", d["status"],
        )))  # fmt: skip
    stdout().print(table)


def confirm(
    deal_id: Annotated[str, typer.Argument(help="The deal id (see `kluis deals`).")],
    home: HomeOpt = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Confirm a deal awaiting confirmation (or --reject it)."""
    client = node_client(home)
    if client is None:
        raise NoRunningNode("no running node; deals wait in the running node (`kluis start`)")
    action = "reject" if reject else "confirm"
    deal = client.post(f"agents/deals/{urllib.parse.quote(deal_id)}/{action}")
    if as_json:
        sys.stdout.write(json.dumps(deal, indent=2) + "\n")
        return
    stdout().print(f"deal {deal['deal_id']}: {deal['status']}", markup=False)


def agreements(
    home: HomeOpt = None, passphrase_file: PassFileOpt = None, as_json: JsonOpt = False
) -> None:
    """Agreements your agent made (signed by you and the business)."""
    client = node_client(home, passphrase_file)
    if client is not None:
        items = client.get("agents/agreements")["agreements"]
    else:
        from vault.services.agent_service import stored_agreements

        with open_vault(home, passphrase_file) as vault:
            items = [a.to_json() for a in stored_agreements(vault)]
    if as_json:
        sys.stdout.write(json.dumps(items, indent=2) + "\n")
        return
    if not items:
        stdout().print("no agreements yet", markup=False)
        return
    from rich.table import Table

    table = Table("agreement", "category", "value", "fields", "days", "business")
    for a in items:
        table.add_row(*map(inert, (
            a["agreement_id"][:12], a["category"], f"{a['value_cents'] / 100:.2f}",
            ", ".join(a["fields"]), str(a["duration_days"]), a["business"][:12] + "…",
        )))  # fmt: skip
    stdout().print(table)


def tournament(
    args: Annotated[
        list[str] | None, typer.Argument(help="Arguments for the tournament (see --help).")
    ] = None,
) -> None:
    """Play the strategies on the shipped domains (or --scenarios DIR) and print the tables."""
    from agents.tournament import main

    raise typer.Exit(main(list(args or [])))


def register(target: typer.Typer) -> None:
    """Add these commands to the ``kluis`` app (called once by :mod:`vault.cli.main`)."""
    intent_app.command("send")(send)
    target.add_typer(intent_app, name="intent")
    target.command("deals")(deals)
    target.command("confirm")(confirm)
    target.command("agreements")(agreements)
    agents_app.command(
        "tournament", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(tournament)
    target.add_typer(agents_app, name="agents")
