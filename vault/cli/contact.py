"""``kluis inbox``, ``contacts``, ``mute``/``block``, ``erase``, ``erasures``.

With a running node (``kluis start``) the commands go through its control API
(D2: one writer). Without one they open the vault directly; ``kluis erase``
then revokes at once and queues the signed erasure requests in the sealed
outbox, which the node delivers when it next runs.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer
from rich.table import Table

from protocol.clock import MINUTE_UTC, format_ms
from vault.api import contact_routes as ops
from vault.cli.client import node_client
from vault.cli.console import short_peer, stdout
from vault.cli.options import HomeOpt, JsonOpt, PassFileOpt, open_vault

__all__ = ["register"]


@contextlib.contextmanager
def _local(home: Path | None, passphrase_file: Path | None) -> Iterator[Any]:
    from vault.services.contact_service import ContactService
    from vault.services.delivery import DeliveryService
    from vault.services.grantbook import GrantBook

    vault = open_vault(home, passphrase_file)
    try:
        grants = GrantBook(vault)
        contact = ContactService(vault, grants)
        delivery = DeliveryService(vault, grants)
        yield SimpleNamespace(
            vault=vault,
            grants=grants,
            contact=contact,
            inbox=contact.inbox,
            delivery=delivery,
            erasures=delivery.erasures,
        )
    finally:
        vault.close()


def _call(
    home: Path | None, pf: Path | None, method: str, path: str, body: Any = None
) -> dict[str, Any]:
    client = node_client(home)
    if client is not None:
        result: dict[str, Any] = client.call(method, path, body)
        return result
    url = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(url.query))
    parts = url.path.strip("/").split("/")
    with _local(home, pf) as owner:
        try:
            return _dispatch(owner, method, parts, query, body)
        except ValueError as exc:  # pydantic's ValidationError too
            from vault._exceptions import VaultError

            raise VaultError(f"invalid input: {str(exc).splitlines()[0][:200]}") from None


def _dispatch(
    owner: Any, method: str, parts: list[str], query: dict[str, str], body: Any
) -> dict[str, Any]:
    model: Any
    if parts == ["inbox"]:
        every, unread = query.get("all") == "1", query.get("unread") == "1"
        model = ops.list_inbox(owner, every=every, unread=unread)
    elif parts[0] == "inbox":
        model = ops.read_message(owner, urllib.parse.unquote(parts[1]))
    elif parts == ["contacts"]:
        model = ops.contact_report(owner)
    elif parts[0] == "contacts":
        model = ops.set_prefs(owner, parts[1], ops.PrefsBody.model_validate(body))
    elif method == "GET":
        model = ops.list_erasures(owner)
    else:
        model = ops.request_erasure(owner, ops.EraseBody.model_validate(body))
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


# -- inbox -------------------------------------------------------------------------------------

inbox_app = typer.Typer(help="Messages businesses sent you within your contact rules.")


@inbox_app.callback(invoke_without_command=True)
def inbox(
    ctx: typer.Context,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Include muted businesses.")] = False,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread messages.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List messages, newest first (``kluis inbox read ID`` to read one)."""
    if ctx.invoked_subcommand is not None:
        return
    q = urllib.parse.urlencode({k: "1" for k, v in (("all", every), ("unread", unread)) if v})
    data = _call(home, passphrase_file, "GET", "inbox" + (f"?{q}" if q else ""))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="inbox", title_justify="left")
    for col in ("id", "from", "category", "subject", "received (UTC)", ""):
        table.add_column(col)
    for m in data["messages"]:
        flag = "muted" if m["muted"] else ("" if m["read_at"] else "new")
        table.add_row(
            m["message_id"],
            short_peer(m["requester"]),
            m["category"],
            m["subject"],
            format_ms(m["received_at"]),
            flag,
        )
    if not data["messages"]:
        table.add_row("(none)", "", "", "", "", "")
    stdout().print(table)


@inbox_app.command("read")
def inbox_read(
    message_id: Annotated[str, typer.Argument(help="The message id (see `kluis inbox`).")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one message and mark it read."""
    path = f"inbox/{urllib.parse.quote(message_id, safe='')}/read"
    m = _call(home, passphrase_file, "POST", path, {})
    if as_json:
        typer.echo(json.dumps(m, indent=2))
        return
    out = stdout()
    out.print(f"from:     {m['requester']}", markup=False)
    out.print(
        f"category: {m['category']}   received {format_ms(m['received_at'], MINUTE_UTC)}",
        markup=False,
    )
    out.print(f"subject:  {m['subject']}", markup=False)
    out.print("", markup=False)
    out.print(m["body"], markup=False)


def contacts(
    home: HomeOpt = None, passphrase_file: PassFileOpt = None, as_json: JsonOpt = False
) -> None:
    """Per business: what it sent, what was refused, what you read (yield per mailing)."""
    data = _call(home, passphrase_file, "GET", "contacts")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="contacts", title_justify="left")
    for col in ("business", "sent", "refused", "read", "mailings (yield)", "status"):
        table.add_column(col)
    for b in data["businesses"]:
        status = "blocked" if b["blocked"] else ("muted" if b["muted"] else "")
        table.add_row(
            b["requester"],
            ", ".join(f"{k} {v}" for k, v in sorted(b["sent"].items())),
            ", ".join(f"{k} {v}" for k, v in sorted(b["refused"].items())),
            str(b["read"]),
            ", ".join(f"{m['mailing_id']} {m['yield_pct']}%" for m in b["mailings"]),
            status,
        )
    if not data["businesses"]:
        table.add_row("(none)", "", "", "", "", "")
    stdout().print(table)


def _prefs(home: Path | None, pf: Path | None, business: str, **body: bool) -> None:
    data = _call(home, pf, "POST", f"contacts/{urllib.parse.quote(business, safe='')}/prefs", body)
    state = "blocked" if data["blocked"] else ("muted" if data["muted"] else "allowed")
    stdout().print(f"{business}: {state}", markup=False)


BusinessArg = Annotated[str, typer.Argument(help="The business's peer id.")]


def mute(business: BusinessArg, home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """Mute a business: its messages are kept but hidden (it is not told)."""
    _prefs(home, passphrase_file, business, muted=True)


def unmute(
    business: BusinessArg, home: HomeOpt = None, passphrase_file: PassFileOpt = None
) -> None:
    """Unmute a business."""
    _prefs(home, passphrase_file, business, muted=False)


def block(business: BusinessArg, home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """Block a business: its messages are refused (code ``blocked``)."""
    _prefs(home, passphrase_file, business, blocked=True)


def unblock(
    business: BusinessArg, home: HomeOpt = None, passphrase_file: PassFileOpt = None
) -> None:
    """Unblock a business."""
    _prefs(home, passphrase_file, business, blocked=False)


# -- erasure -----------------------------------------------------------------------------------


def erase(
    business: Annotated[
        str | None, typer.Argument(help="The business's peer id.", show_default=False)
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every business you ever granted.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Sent to the business.")] = "",
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask a business (or all) to delete every piece of data it received, with a signed receipt."""
    if (business is None) == (not every):
        raise typer.BadParameter("give a business or --all (not both)")
    body: dict[str, Any] = {"reason": reason}
    body.update({"all": True} if every else {"business": business})
    data = _call(home, passphrase_file, "POST", "erasures", body)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for e in data["erasures"]:
        stdout().print(
            f"erasure {e['erasure_id']} → {e['requester']}: {e['status']} "
            f"(receipt due by {format_ms(e['deadline'], MINUTE_UTC)})",
            markup=False,
        )
    if not data["erasures"]:
        stdout().print("no business has data from you", markup=False)


def erasures(
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the requests and signed receipts to this file."),
    ] = None,
) -> None:
    """Erasure requests: pending, confirmed (signed receipt) or overdue."""
    data = _call(home, passphrase_file, "GET", "erasures")
    if export is not None:
        export.write_text(json.dumps(data["erasures"], indent=2) + "\n", encoding="utf-8")
        stdout().print(f"wrote {len(data['erasures'])} erasure record(s) to {export}", markup=False)
        return
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="erasures", title_justify="left")
    for col in ("id", "business", "status", "requested (UTC)", "deleted fields"):
        table.add_column(col)
    for e in data["erasures"]:
        rc = e["receipt"]
        table.add_row(
            e["erasure_id"],
            short_peer(e["requester"]),
            e["status"],
            format_ms(e["request"]["requested_at"]),
            ", ".join(rc["deleted_fields"]) if rc else "",
        )
    if not data["erasures"]:
        table.add_row("(none)", "", "", "", "")
    stdout().print(table)


def register(target: typer.Typer) -> None:
    """Add these commands to the ``kluis`` app (called once by :mod:`vault.cli.main`)."""
    target.add_typer(inbox_app, name="inbox")
    target.command("contacts")(contacts)
    target.command("mute")(mute)
    target.command("unmute")(unmute)
    target.command("block")(block)
    target.command("unblock")(unblock)
    target.command("erase")(erase)
    target.command("erasures")(erasures)
