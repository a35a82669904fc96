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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from protocol.clock import MINUTE_UTC, format_ms
from vault._exceptions import VaultError, describe_invalid
from vault.cli.client import node_client
from vault.cli.console import inert, short_peer, stdout
from vault.cli.options import (
    HomeOpt,
    JsonOpt,
    PassFileOpt,
    check_new_file,
    check_peer_id,
    open_vault,
)

if TYPE_CHECKING:  # imported where used: `kluis --help` must not load the control API
    from pydantic import BaseModel
    from pydantic_core import ValidationError

    from vault.api.spec import Operation
    from vault.services.contact import ContactBook
    from vault.services.delivery import DeliveryService
    from vault.services.erasure import ErasureBook
    from vault.services.inbox import Inbox

__all__ = ["register"]


@dataclass(frozen=True, slots=True)
class _Services:
    """The services these commands use, on a vault opened here (no node runs)."""

    inbox: Inbox
    contacts: ContactBook
    delivery: DeliveryService
    erasures: ErasureBook


@contextlib.contextmanager
def _local(home: Path | None, passphrase_file: Path | None) -> Iterator[_Services]:
    from vault.services.contact_service import ContactService
    from vault.services.delivery import DeliveryService
    from vault.services.grantbook import GrantBook

    vault = open_vault(home, passphrase_file)
    try:
        grants = GrantBook(vault)
        contact = ContactService(vault, grants)
        delivery = DeliveryService(vault, grants)
        yield _Services(contact.inbox, contact.contacts, delivery, delivery.erasures)
    finally:
        vault.close()


def _operation(operation: str) -> Operation:
    """The operation named ``operation`` (its ``operationId``) in the control API's table."""
    from vault.api.spec import OPERATIONS  # on use: the table builds the API's models

    return {op.handler: op for op in OPERATIONS}[operation]


def _local_operations() -> dict[
    str, Callable[[_Services, dict[str, str], dict[str, str], Any], BaseModel]
]:
    """Operation (its ``operationId`` in :data:`vault.api.spec.OPERATIONS`) → the same
    operation run on a vault opened here: ``(services, path ids, query, body)``."""
    from vault.api import contact_routes as ops  # on use: it imports aiohttp
    from vault.api.models import EraseBody, PrefsBody

    local: dict[str, Callable[[_Services, dict[str, str], dict[str, str], Any], BaseModel]] = {
        "list_inbox": lambda s, ids, q, body: ops.list_inbox(
            s.inbox, every=q.get("all") == "1", unread=q.get("unread") == "1"
        ),
        "read_message": lambda s, ids, q, body: ops.read_message(s.inbox, ids["id"]),
        "contact_report": lambda s, ids, q, body: ops.contact_report(s.inbox),
        "set_prefs": lambda s, ids, q, body: ops.set_prefs(
            s.contacts, ids["id"], PrefsBody.model_validate(body)
        ),
        "list_erasures": lambda s, ids, q, body: ops.list_erasures(s.erasures),
        "request_erasure": lambda s, ids, q, body: ops.request_erasure(
            s.delivery, s.erasures, EraseBody.model_validate(body)
        ),
    }
    return local


def _call(
    home: Path | None,
    pf: Path | None,
    operation: str,
    *,
    ids: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """Run ``operation`` on the running node (its control API), else on the vault here.

    The method and path come from the operation table; an operation this module
    does not know is a bug and fails loudly (``KeyError``), whether or not a node runs.
    """
    op, local = _operation(operation), _local_operations()[operation]
    ids, query = ids or {}, query or {}
    client = node_client(home, pf)
    if client is not None:
        path = op.path.format(**{k: urllib.parse.quote(v, safe="") for k, v in ids.items()})
        if query:
            path += "?" + urllib.parse.urlencode(query)
        result: dict[str, Any] = client.call(op.method, path, body)
        return result
    from pydantic_core import ValidationError  # here: `kluis --help` loads no pydantic

    with _local(home, pf) as services:
        try:
            model = local(services, ids, query, body)
        except ValidationError as exc:
            # ``from None``: pydantic's error repeats the input it refused
            raise VaultError(f"invalid input: {_first_error(exc)}") from None
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


def _first_error(exc: ValidationError) -> str:
    return describe_invalid(exc, limit=1)


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
    """List messages, newest first (kluis inbox read ID to read one)."""
    if ctx.invoked_subcommand is not None:
        return
    query = {k: "1" for k, v in (("all", every), ("unread", unread)) if v}
    data = _call(home, passphrase_file, "list_inbox", query=query)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(title="inbox", title_justify="left")
    for col in ("id", "from", "category", "subject", "received (UTC)", ""):
        table.add_column(col)
    for m in data["messages"]:
        flag = "muted" if m["muted"] else ("" if m["read_at"] else "new")
        table.add_row(
            *map(
                inert,
                (
                    m["message_id"],
                    short_peer(m["requester"]),
                    m["category"],
                    m["subject"],
                    format_ms(m["received_at"]),
                    flag,
                ),
            )
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
    m = _call(home, passphrase_file, "read_message", ids={"id": message_id}, body={})
    if as_json:
        typer.echo(json.dumps(m, indent=2))
        return
    out = stdout()
    out.print(inert(f"from:     {m['requester']}"))
    out.print(
        f"category: {m['category']}   received {format_ms(m['received_at'], MINUTE_UTC)}",
        markup=False,
    )
    out.print(inert(f"subject:  {m['subject']}"))
    out.print("", markup=False)
    out.print(inert(m["body"]))


def contacts(
    home: HomeOpt = None, passphrase_file: PassFileOpt = None, as_json: JsonOpt = False
) -> None:
    """Per business: what it sent, what was refused, what you read (yield per mailing)."""
    data = _call(home, passphrase_file, "contact_report")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(title="contacts", title_justify="left")
    for col in ("business", "sent", "refused", "read", "mailings (yield)", "status"):
        table.add_column(col)
    for b in data["businesses"]:
        status = "blocked" if b["blocked"] else ("muted" if b["muted"] else "")
        table.add_row(
            *map(
                inert,
                (
                    b["requester"],
                    ", ".join(f"{k} {v}" for k, v in sorted(b["sent"].items())),
                    ", ".join(f"{k} {v}" for k, v in sorted(b["refused"].items())),
                    str(b["read"]),
                    ", ".join(f"{m['mailing_id']} {m['yield_pct']}%" for m in b["mailings"]),
                    status,
                ),
            )
        )
    if not data["businesses"]:
        table.add_row("(none)", "", "", "", "", "")
    stdout().print(table)


def _prefs(home: Path | None, pf: Path | None, business: str, **body: bool) -> None:
    data = _call(home, pf, "set_prefs", ids={"id": business}, body=body)
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
    """Block a business: its messages are refused (code "blocked")."""
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
    if business is not None:
        check_peer_id(business)
    body: dict[str, Any] = {"reason": reason}
    body.update({"all": True} if every else {"business": business})
    data = _call(home, passphrase_file, "request_erasure", body=body)
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
    if export is not None:
        check_new_file(export)
    data = _call(home, passphrase_file, "list_erasures")
    if export is not None:
        try:
            export.write_text(json.dumps(data["erasures"], indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise VaultError(f"cannot write {export}: {exc.strerror or exc}") from None
        stdout().print(f"wrote {len(data['erasures'])} erasure record(s) to {export}", markup=False)
        return
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(title="erasures", title_justify="left")
    for col in ("id", "business", "status", "requested (UTC)", "deleted fields"):
        table.add_column(col)
    for e in data["erasures"]:
        rc = e["receipt"]
        table.add_row(
            *map(
                inert,
                (
                    e["erasure_id"],
                    short_peer(e["requester"]),
                    e["status"],
                    format_ms(e["request"]["requested_at"]),
                    ", ".join(rc["deleted_fields"]) if rc else "",
                ),
            )
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
