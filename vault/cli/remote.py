"""``kluis requests | approve | deny | deny-unknown | grants | revoke | rules | dashboard |
receipts``.

Each is a client of the control API: the running node's, else one started for
the command without network (:func:`vault.cli.local.owner_client`, D37). Only
``dashboard`` needs the running node, which serves it."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import typer

from protocol.clock import DAY_MONTH, MINUTE_UTC, format_ms
from vault._exceptions import VaultError
from vault.cli.client import ControlClient, NoRunningNode, node_client
from vault.cli.console import business_text, emit_json, inert, short_peer, stdout
from vault.cli.exits import EXIT_VERIFY_FAILED
from vault.cli.local import owner_client
from vault.cli.options import HomeOpt, JsonOpt, PassFileOpt, check_new_file, split_csv
from vault.cli.prefixes import resolve, shortener
from vault.cli.start import start

__all__ = ["register"]


def requests(
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also decided requests.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List access requests waiting for your decision (--all: every request)."""
    with owner_client(home, passphrase_file) as client:
        data = client.get("requests" if all_ else "requests?status=pending")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    short = shortener([r["request_id"] for r in data["requests"]])
    from rich.table import Table

    table = Table(title="access requests", title_justify="left")
    table.add_column("id", no_wrap=True)  # a unique prefix: commands take it (--json: full)
    for col in ("business", "fields", "actions", "purpose", "days", "offer", "status"):
        table.add_column(col)
    for r in data["requests"]:
        table.add_row(
            *map(
                inert,
                (
                    short(r["request_id"]),
                    business_text(r.get("business"), r["requester"]),
                    ", ".join(r["fields"]),
                    ", ".join(r["actions"]),
                    r["purpose"],
                    str(r["duration_days"]),
                    r["offer"],
                    r["status"] + (f" ({r['decided_by']})" if r["decided_by"] else ""),
                ),
            )
        )
    if not data["requests"]:
        table.add_row("(none)", "", "", "", "", "", "", "")
    stdout().print(table)


def approve(
    request_id: Annotated[str, typer.Argument(help="The request id (see `kluis requests`).")],
    home: HomeOpt = None,
    fields: Annotated[
        str | None, typer.Option("--fields", help="Grant only these fields (comma-separated).")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Grant fewer days.")] = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve an access request, optionally for fewer fields or days."""
    body: dict[str, Any] = {}
    if (wanted := split_csv(fields)) is not None:
        body["fields"] = wanted
    if days is not None:
        body["days"] = days
    with owner_client(home, passphrase_file) as client:
        request_id = _resolve(client, "request", request_id)
        data = client.post(f"requests/{urllib.parse.quote(request_id)}/approve", body)
    if as_json:
        emit_json(data)
        return
    g = data["grant"]
    stdout().print(
        f"approved: grant {g['grant_id']} for {', '.join(g['fields'])} until "
        f"{format_ms(g['expires_at'], MINUTE_UTC)}",
        markup=False,
    )


def deny(
    request_id: Annotated[str, typer.Argument(help="The request id.")],
    home: HomeOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (sent to the requester).")] = "",
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deny an access request."""
    with owner_client(home, passphrase_file) as client:
        request_id = _resolve(client, "request", request_id)
        data = client.post(f"requests/{urllib.parse.quote(request_id)}/deny", {"reason": reason})
    if as_json:
        emit_json(data)
        return
    stdout().print(f"denied: {request_id}", markup=False)


def deny_unknown(
    home: HomeOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (sent to each requester).")] = "",
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deny every waiting request from a business you have never granted anything."""
    with owner_client(home, passphrase_file) as client:
        data = client.post("requests/deny-unknown", {"reason": reason})
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    count = len(data["requests"])
    stdout().print(
        f"denied {count} request{'s' if count != 1 else ''} from unknown businesses", markup=False
    )


def grants(
    home: HomeOpt = None, passphrase_file: PassFileOpt = None, as_json: JsonOpt = False
) -> None:
    """List grants: who may read what, until when, how often and when they last read."""
    with owner_client(home, passphrase_file) as client:
        data = client.get("grants")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    short = shortener([g["grant_id"] for g in data["grants"]])
    from rich.table import Table

    table = Table(title="grants", title_justify="left")
    table.add_column("id", no_wrap=True)  # a unique prefix: commands take it (--json: full)
    table.add_column("business", min_width=8)
    table.add_column("fields", min_width=6)
    for col in ("reads", "last read", "expires", "status"):  # purpose etc.: --json
        table.add_column(col, no_wrap=col != "status")
    for g in data["grants"]:
        status = g["status"]
        if g["status"] == "revoked" and g["notice_delivered"] is False:
            status += " (notice undelivered)"
        if g["receipts"]:
            status += " (deletion receipt)"
        table.add_row(
            *map(
                inert,
                (
                    short(g["grant_id"]),
                    business_text(g.get("business"), g["requester"]),
                    ", ".join(g["fields"]),
                    str(g.get("reads", 0)),
                    format_ms(g["last_access"], DAY_MONTH) if g.get("last_access") else "never",
                    format_ms(g["expires_at"], DAY_MONTH),
                    status,
                ),
            )
        )
    if not data["grants"]:
        table.add_row("(none)", "", "", "", "", "", "")
    stdout().print(table)


def revoke(
    grant_id: Annotated[str, typer.Argument(help="The grant id (see `kluis grants`).")],
    home: HomeOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (sent to the requester).")] = "",
    erase: Annotated[bool, typer.Option("--erase", help="Ask the requester to erase now.")] = (
        False
    ),
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a grant. It is refused on every access from the moment this returns.

    With no node running, the revocation holds all the same; the business is told
    when it next asks (its read is refused as revoked), not at once."""
    with owner_client(home, passphrase_file) as client:
        grant_id = _resolve(client, "grant", grant_id)
        data = client.post(
            f"grants/{urllib.parse.quote(grant_id)}/revoke", {"reason": reason, "erase": erase}
        )
        offline = client.local
    if as_json:
        emit_json(data)
        return
    stdout().print(f"revoked: {grant_id}", markup=False)
    if offline:
        stdout().print(
            "(no node runs to send the notice now: the business is told when it next asks)",
            markup=False,
        )


rules_app = typer.Typer(
    help="Standing rules that decide access requests for you. Alone, kluis rules lists them."
)


@rules_app.callback(invoke_without_command=True)
def rules_root(
    ctx: typer.Context,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Standing rules that decide access requests for you. Alone, kluis rules lists them."""
    if ctx.invoked_subcommand is None:
        rules_list(home, passphrase_file, as_json)


@rules_app.command("list")
def rules_list(
    home: HomeOpt = None, passphrase_file: PassFileOpt = None, as_json: JsonOpt = False
) -> None:
    """List rules in the order they are tried (the first match decides)."""
    with owner_client(home, passphrase_file) as client:
        data = client.get("rules")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    short = shortener([r["rule_id"] for r in data["rules"]])
    from rich.table import Table

    table = Table(title="rules", title_justify="left")
    table.add_column("id", no_wrap=True)  # a unique prefix: commands take it (--json: full)
    for col in ("action", "fields", "purposes", "requester", "actions", "max days"):
        table.add_column(col)
    for r in data["rules"]:
        who = r["requester"] + (f": {', '.join(map(short_peer, r['peers']))}" if r["peers"] else "")
        table.add_row(
            *map(
                inert,
                (
                    short(r["rule_id"]),
                    r["action"],
                    ", ".join(r["fields"]) or "(all)",
                    ", ".join(r["purposes"]) or "(any)",
                    who,
                    ", ".join(r["actions"]),
                    "" if r["max_days"] is None else str(r["max_days"]),
                ),
            )
        )
    if not data["rules"]:
        table.add_row("(none)", "", "", "", "", "", "")
    stdout().print(table)


@rules_app.command("add")
def rules_add(
    action: Annotated[str, typer.Argument(help="approve or deny.")],
    home: HomeOpt = None,
    fields: Annotated[
        str | None, typer.Option("--fields", help="Field patterns (comma-separated).")
    ] = None,
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="DPV purpose, e.g. dpv:Marketing.")
    ] = None,
    requester: Annotated[
        str, typer.Option("--requester", help="any, known (granted before) or peers.")
    ] = "any",
    peer: Annotated[list[str] | None, typer.Option("--peer", help="Peer id (with peers).")] = None,
    actions: Annotated[
        str | None, typer.Option("--actions", help="Actions an approve covers (read,subscribe).")
    ] = None,
    max_days: Annotated[int | None, typer.Option("--max-days", min=1)] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a rule, e.g. `kluis rules add approve --fields contact.email --requester known`."""
    body: dict[str, Any] = {"action": action, "requester": requester, "note": note}
    if (fs := split_csv(fields)) is not None:
        body["fields"] = fs
    if purpose:
        body["purposes"] = [p if p.startswith("dpv:") else f"dpv:{p}" for p in purpose]
    if peer:
        body["peers"] = peer
    if (acts := split_csv(actions)) is not None:
        body["actions"] = acts
    if max_days is not None:
        body["max_days"] = max_days
    with owner_client(home, passphrase_file) as client:
        rule = client.post("rules", body)
    if as_json:
        emit_json(rule)
        return
    stdout().print(f"rule added: {rule['rule_id']}", markup=False)


@rules_app.command("remove")
def rules_remove(
    rule_id: Annotated[str, typer.Argument(help="The rule id (see `kluis rules list`).")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a rule."""
    with owner_client(home, passphrase_file) as client:
        rule_id = _resolve(client, "rule", rule_id)
        data = client.delete(f"rules/{urllib.parse.quote(rule_id)}")
    if as_json:
        emit_json(data if data is not None else {"rule_id": rule_id, "removed": True})
        return
    stdout().print(f"rule removed: {rule_id}", markup=False)


def dashboard(
    home: HomeOpt = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the link in your web browser.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print a one-time login link to the running node's dashboard."""
    client = node_client(home)
    if client is None:
        raise NoRunningNode(
            "no running node; the dashboard is a page the running node serves: "
            "start one with `kluis start`"
        )
    data = client.post("dashboard/login-link", {})
    if as_json:
        emit_json(data)
        if open_browser:
            import webbrowser

            webbrowser.open(data["url"])
        return
    out = stdout()
    out.print(f"dashboard: {data['dashboard_url']}", markup=False)
    out.print(f"log in:    {data['url']}", markup=False)
    out.print(f"(works once, for {data['expires_in_s'] // 60} minutes)", markup=False)
    if open_browser:
        import webbrowser

        webbrowser.open(data["url"])


def receipts(
    grant_id: Annotated[
        str | None,
        typer.Argument(
            help="Only this grant's receipts; or the word `verify` followed by a FILE.",
            show_default=False,
            metavar="[GRANT_ID | verify FILE]",
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Argument(help="With `verify`: the file to check.", show_default=False)
    ] = None,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    receipt_id: Annotated[
        str | None, typer.Option("--id", help="Print one receipt as JSON.", show_default=False)
    ] = None,
    kantara: Annotated[
        bool,
        typer.Option("--kantara", help="With --id: as a Kantara Consent Receipt v1.1, signed."),
    ] = False,
    iso: Annotated[
        bool,
        typer.Option(
            "--iso27560", help="With --id: as an ISO/IEC TS 27560 record (DPV JSON-LD), signed."
        ),
    ] = False,
    as_json: JsonOpt = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write every consent receipt (as signed, and rendered as Kantara v1.1 and "
            "ISO 27560, each signed) and every erasure (request and the business's signed "
            "receipt) to this JSON file.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List consent receipts (grants, revocations, erasures, deletions), print one, or verify.

    Every receipt is signed: consent receipts by this vault, deletion and
    erasure receipts by the business. --export writes them all, with the
    erasure requests they answer, to one file that anyone can verify with
    kluis receipts verify FILE (no vault or running node needed): one line
    per receipt, exit 0 if every signature holds, 1 if any does not.
    """
    if grant_id == "verify":
        if file is None:
            raise VaultError("give the file to verify: kluis receipts verify FILE")
        raise typer.Exit(_verify_file(file))
    if file is not None:
        raise VaultError("one grant id at a time (or: kluis receipts verify FILE)")
    if export is not None:
        check_new_file(export)  # before the unlock
    with owner_client(home, passphrase_file) as client:
        if export is not None:
            _export_receipts(client, export)
            return
        if grant_id is not None:
            grant_id = _resolve(client, "grant", grant_id)
        if receipt_id is not None:
            receipt_id = _resolve(client, "receipt", receipt_id)
            fmt = "?format=iso27560" if iso else ("?format=kantara" if kantara else "")
            one = client.get(f"receipts/{urllib.parse.quote(receipt_id)}{fmt}")
            shown = one["iso27560"] if iso else (one["kantara"] if kantara else one["receipt"])
            typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
            return
        query = f"?grant={urllib.parse.quote(grant_id)}" if grant_id else ""
        data = client.get(f"receipts{query}")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    short = shortener([r["receipt_id"] for r in data["receipts"]])
    short_grant = shortener([r["grant_id"] for r in data["receipts"]])
    from rich.table import Table

    table = Table(title="consent receipts", title_justify="left")
    for col in ("id", "kind", "grant", "business", "date (UTC)"):
        table.add_column(col)
    for r in data["receipts"]:
        table.add_row(
            *map(
                inert,
                (
                    short(r["receipt_id"]),
                    r["kind"],
                    short_grant(r["grant_id"]),
                    business_text(r.get("business"), r["requester"]),
                    format_ms(r["issued_at"]),
                ),
            )
        )
    if not data["receipts"]:
        table.add_row("(none)", "", "", "", "")
    stdout().print(table)


#: id kind -> (control-API list, its key, the id's key)
_LISTS = {
    "request": ("requests", "requests", "request_id"),
    "grant": ("grants", "grants", "grant_id"),
    "rule": ("rules", "rules", "rule_id"),
    "receipt": ("receipts", "receipts", "receipt_id"),
}


def _resolve(client: ControlClient, kind: str, given: str) -> str:
    """The full id for ``given`` (an id or a unique prefix of one, as git takes them)."""
    path, key, field = _LISTS[kind]
    return resolve(kind, given, (item[field] for item in client.get(path)[key]))


def _verify_file(path: Path) -> int:
    from vault.services.receipt_check import check_document

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VaultError(f"cannot read {path}: {exc.strerror}") from None
    results = check_document(raw)
    out = stdout()
    for r in results:
        out.print(r.line, markup=False)
    bad = sum(1 for r in results if not r.ok)
    out.print(
        f"{len(results) - bad} of {len(results)} verified" + (f", {bad} FAILED" if bad else ""),
        markup=False,
    )
    return EXIT_VERIFY_FAILED if bad or not results else 0


def _export_receipts(client: ControlClient, target: Path) -> None:
    from vault.home.atomic import atomic_write

    check_new_file(target)
    consent = client.get("receipts")["receipts"]
    rendered = {
        fmt: [
            client.get(f"receipts/{urllib.parse.quote(r['receipt_id'])}?format={fmt}")[fmt]
            for r in consent
        ]
        for fmt in ("kantara", "iso27560")
    }
    erasures = client.get("erasures")["erasures"]
    document = {
        "format": "kluis-receipts-v1",
        "vault": client.get("status")["peer_id"],
        "consent_receipts": [r["receipt"] for r in consent],
        "kantara": rendered["kantara"],
        "iso27560": rendered["iso27560"],
        "erasures": erasures,
    }
    try:
        atomic_write(target, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise VaultError(f"cannot write {target}: {exc.strerror or exc}") from None
    stdout().print(
        f"wrote {len(consent)} consent receipt(s) and {len(erasures)} erasure(s) to {target}",
        markup=False,
    )


def register(target: typer.Typer) -> None:
    """Add these commands to the ``kluis`` app (called once by :mod:`vault.cli.main`)."""
    target.command("start")(start)
    target.command("requests")(requests)
    target.command("approve")(approve)
    target.command("deny")(deny)
    target.command("deny-unknown")(deny_unknown)
    target.command("grants")(grants)
    target.command("revoke")(revoke)
    target.command("dashboard")(dashboard)
    target.command("receipts")(receipts)
    target.add_typer(rules_app, name="rules")
