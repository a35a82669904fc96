"""``kluis businesses``: who asked this vault, verified or not, with your own names for them.

These talk to the running node (D2), like ``kluis requests``."""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any

import typer

from vault.cli.client import NoRunningNode, node_client
from vault.cli.console import inert, stdout
from vault.cli.exits import KluisGroup
from vault.cli.local import owner_client
from vault.cli.options import HomeOpt, JsonOpt, PassFileOpt

__all__ = ["register"]

businesses_app = typer.Typer(
    cls=KluisGroup,
    help="Businesses that asked for your data: who they are, whether their domain is "
    "verified, your petnames for them, and profile changes you have not seen yet.",
    invoke_without_command=True,
)

PeerArg = Annotated[str, typer.Argument(help="The business's peer id (see `kluis businesses`).")]


def _path(peer: str, action: str = "") -> str:
    return f"businesses/{urllib.parse.quote(peer, safe='')}" + (f"/{action}" if action else "")


def _print_one(view: dict[str, Any]) -> None:
    out = stdout()
    out.print(inert(view["text"]))
    rows = [
        ("peer id", view["peer_id"]),
        ("petname", view["petname"]),
        ("display name", view["display_name"]),
        ("legal name", view["legal_name"]),
        ("website", view["website"]),
        ("privacy policy", view["privacy_policy_url"]),
        ("contact", view["contact_email"]),
        ("jurisdiction", view["jurisdiction"]),
        (
            "domain check",
            view["verification"] + (f" ({r})" if (r := view["verification_reason"]) else ""),
        ),
    ]
    for key, value in rows:
        if value:
            out.print(inert(f"  {key}: {value}"))
    previous = view.get("previous")
    if view["changed"] and previous:
        out.print("  changed since you last looked:", markup=False)
        for key, old in previous.items():
            new = view.get(key)
            if key in view and new != old:
                out.print(inert(f"    {key}: {old} -> {new}"))
        out.print(inert(f"  (mark it seen: kluis businesses seen {view['peer_id']})"))


@businesses_app.callback()
def businesses(
    ctx: typer.Context,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List every business that asked: name, domain check, flags."""
    if ctx.invoked_subcommand is not None:
        return
    with owner_client(home, passphrase_file) as client:
        data = client.get("businesses")
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="businesses", title_justify="left")
    table.add_column("peer id", no_wrap=True)
    for col in ("business", "legal name", "warnings"):
        table.add_column(col)
    for b in data["businesses"]:
        table.add_row(
            *map(
                inert,
                (
                    b["peer_id"],
                    Text(
                        b["name"]
                        + f" ({b['verification']}"
                        + (f": {b['domain']})" if b["domain"] else ")")
                    ),
                    Text(b["legal_name"] or ""),
                    Text(", ".join(b["warnings"])),
                ),
            )
        )
    if not data["businesses"]:
        table.add_row("(none)", "", "", "")
    stdout().print(table)


@businesses_app.command("show")
def show(
    peer: PeerArg,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one business's profile, domain check and what changed."""
    with owner_client(home, passphrase_file) as client:
        view = client.get(_path(peer))
    if as_json:
        typer.echo(json.dumps(view, indent=2, ensure_ascii=False))
        return
    _print_one(view)


@businesses_app.command("petname")
def petname(
    peer: PeerArg,
    name: Annotated[str, typer.Argument(help='Your name for it; "" removes it.')],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Give a business your own name for it (shown instead of the name it chose)."""
    with owner_client(home, passphrase_file) as client:
        view = client.post(_path(peer, "petname"), {"petname": name})
    stdout().print(inert(view["text"]))


@businesses_app.command("seen")
def seen(peer: PeerArg, home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """You have seen this business's changed profile: stop flagging it."""
    with owner_client(home, passphrase_file) as client:
        view = client.post(_path(peer, "seen"), {})
    stdout().print(inert(view["text"]))


@businesses_app.command("verify")
def verify(peer: PeerArg, home: HomeOpt = None) -> None:
    """Check the business's domain now (its /.well-known/kluis.json); needs the running node."""
    client = node_client(home)
    if client is None:
        raise NoRunningNode(
            "no running node; the domain check runs in the running node's background: "
            "start one with `kluis start`"
        )
    view = client.post(_path(peer, "verify"), {})
    _print_one(view)


def register(target: typer.Typer) -> None:
    """Add ``kluis businesses …`` to the ``kluis`` app (called once by :mod:`vault.cli.main`)."""
    target.add_typer(businesses_app, name="businesses")
