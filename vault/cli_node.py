"""``kluis start`` and the commands that talk to a running node through its control API.

``kluis start`` runs the vault node in the foreground: it prints its multiaddrs
(each with ``/p2p/<peer id>``, ready to give to a business) and the control URL,
and stops cleanly on Ctrl-C or SIGTERM.

``kluis requests | approve | deny | grants | revoke | rules ...`` need that node
(D2: the running node is the one writer): they read ``control.url`` and
``control.token`` from ``KLUIS_HOME`` and call ``/api/v1/...``. With no node
running they say so and exit 2. The profile commands (``set/get/unset/show``)
use :func:`node_client` to go through the node when one runs, and open the
store directly when none does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from protocol import ErrorCode, KluisError

from ._exceptions import VaultError
from .cli import HomeOpt, PassFileOpt, read_passphrase, stderr, stdout
from .control import TOKEN_FILE, URL_FILE
from .lock import running_pid
from .paths import resolve_home

__all__ = ["ControlClient", "NoRunningNode", "node_client", "register"]


class NoRunningNode(VaultError):
    def __init__(self) -> None:
        super().__init__("no running node; start one with `kluis start`")


class ControlClient:
    """A small synchronous client for the control API (stdlib urllib; no event loop)."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_home(cls, home: Path) -> ControlClient:
        """The client for the node running on ``home``; :class:`NoRunningNode` if none."""
        if running_pid(home) is None:
            raise NoRunningNode()
        try:
            url = (home / URL_FILE).read_text(encoding="ascii").strip()
            token = (home / TOKEN_FILE).read_text(encoding="ascii").strip()
        except OSError:
            raise VaultError("the node is starting or stopping; try again") from None
        return cls(url, token)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(  # noqa: S310 (our own loopback URL)
            f"{self.url}/api/v1/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())["error"]
                code, message = str(err["code"]), str(err["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", f"HTTP {exc.code}"
            known = {c.value for c in ErrorCode}
            raise KluisError(
                message, code=ErrorCode(code) if code in known else ErrorCode.LOCAL
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise VaultError(f"cannot reach the running node: {exc}") from None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


def node_client(home: Path | None) -> ControlClient | None:
    """A client if a node runs on ``home`` (resolved like the CLI does), else None."""
    folder = resolve_home(home)
    if running_pid(folder) is None:
        return None
    return ControlClient.from_home(folder)


def _client(home: Path | None) -> ControlClient:
    return ControlClient.from_home(resolve_home(home))


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _short(peer: str) -> str:
    return peer if len(peer) <= 16 else f"{peer[:8]}…{peer[-6:]}"


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


# -- kluis start -------------------------------------------------------------------------


def start(
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    listen: Annotated[
        list[str] | None,
        typer.Option("--listen", help="Multiaddr to listen on (repeatable).", show_default=False),
    ] = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option("--bootstrap", help="Peer multiaddr to dial at start (repeatable)."),
    ] = None,
    control_port: Annotated[
        int, typer.Option("--control-port", help="Control API port on 127.0.0.1 (0 = any).")
    ] = 0,
    mdns: Annotated[
        bool | None,
        typer.Option(
            "--mdns/--no-mdns",
            help="Discover peers on the LAN (default: config.toml's network.mdns, else off).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the vault node in the foreground until Ctrl-C or SIGTERM.

    Network settings come from KLUIS_HOME/config.toml ([network] listen,
    bootstrap, mdns); --listen replaces the file's listen addresses,
    --bootstrap adds peers, --mdns/--no-mdns overrides.
    """
    from .config import load_config, network_settings
    from .lock import AlreadyRunning

    folder = resolve_home(home)
    pid = running_pid(folder)
    if pid is not None:
        raise AlreadyRunning(pid or None)  # fail before asking for the passphrase
    net = network_settings(load_config(folder), listen=listen, bootstrap=bootstrap, mdns=mdns)
    passphrase = read_passphrase(passphrase_file)
    asyncio.run(
        _serve(
            folder,
            passphrase,
            list(net.listen),
            list(net.bootstrap),
            control_port,
            net.mdns,
        )
    )


async def _serve(
    folder: Path,
    passphrase: str,
    listen: list[str],
    bootstrap: list[str],
    control_port: int,
    mdns: bool,
) -> None:
    from .node import VaultNode

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with stderr().status("Unlocking the vault (Argon2id) and starting the node…"):
        node = await VaultNode.start(
            folder,
            passphrase,
            listen=listen,
            bootstrap=bootstrap,
            mdns=mdns,
            control_port=control_port,
        )
    async with node:
        out = stdout()
        out.print(f"vault node {node.peer_id} running", markup=False)
        for addr in node.addrs:
            out.print(f"  listening: {addr}", markup=False)
        out.print(f"  control:   {node.control_url}", markup=False)
        if node.control is not None:
            out.print(f"  dashboard: {node.control_url}/", markup=False)
            link = node.control.dashboard.login_url(node.control.url)
            out.print(f"  log in:    {link}", markup=False)
            out.print(
                "             (one-time link, valid 10 minutes; `kluis dashboard` makes a new one)",
                markup=False,
            )
        out.print("press Ctrl-C to stop", markup=False)
        out.file.flush()
        await stop.wait()
        out.print("stopping…", markup=False)
    stdout().print("stopped", markup=False)


# -- requests and grants ----------------------------------------------------------------


def requests(
    home: HomeOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also decided requests.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List access requests waiting for your decision (--all: every request)."""
    data = _client(home).get("requests" if all_ else "requests?status=pending")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="access requests", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=32)  # ids are copied: never cut
    for col in ("requester", "fields", "actions", "purpose", "days", "offer", "status"):
        table.add_column(col)
    for r in data["requests"]:
        table.add_row(
            r["request_id"],
            _short(r["requester"]),
            ", ".join(r["fields"]),
            ", ".join(r["actions"]),
            r["purpose"],
            str(r["duration_days"]),
            r["offer"],
            r["status"] + (f" ({r['decided_by']})" if r["decided_by"] else ""),
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
) -> None:
    """Approve an access request, optionally for fewer fields or days."""
    body: dict[str, Any] = {}
    if (wanted := _csv(fields)) is not None:
        body["fields"] = wanted
    if days is not None:
        body["days"] = days
    data = _client(home).post(f"requests/{urllib.parse.quote(request_id)}/approve", body)
    g = data["grant"]
    stdout().print(
        f"approved: grant {g['grant_id']} for {', '.join(g['fields'])} until "
        f"{_when(g['expires_at'])} UTC",
        markup=False,
    )


def deny(
    request_id: Annotated[str, typer.Argument(help="The request id.")],
    home: HomeOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (sent to the requester).")] = "",
) -> None:
    """Deny an access request."""
    _client(home).post(f"requests/{urllib.parse.quote(request_id)}/deny", {"reason": reason})
    stdout().print(f"denied: {request_id}", markup=False)


def grants(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List grants: who may read what, until when, and their status."""
    data = _client(home).get("grants")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="grants", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=32)  # ids are copied: never cut
    for col in ("requester", "fields", "actions", "purpose", "expires (UTC)", "status"):
        table.add_column(col)
    for g in data["grants"]:
        status = g["status"]
        if g["status"] == "revoked" and g["notice_delivered"] is False:
            status += " (notice undelivered)"
        if g["receipts"]:
            status += " (deletion receipt)"
        table.add_row(
            g["grant_id"],
            _short(g["requester"]),
            ", ".join(g["fields"]),
            ", ".join(g["actions"]),
            g["purpose"],
            _when(g["expires_at"]),
            status,
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
) -> None:
    """Revoke a grant. It is refused on every access from the moment this returns."""
    _client(home).post(
        f"grants/{urllib.parse.quote(grant_id)}/revoke", {"reason": reason, "erase": erase}
    )
    stdout().print(f"revoked: {grant_id}", markup=False)


# -- rules ---------------------------------------------------------------------------------

rules_app = typer.Typer(help="Standing rules that decide access requests for you.")


@rules_app.command("list")
def rules_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List rules in the order they are tried (the first match decides)."""
    data = _client(home).get("rules")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="rules", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=32)  # ids are copied: never cut
    for col in ("action", "fields", "purposes", "requester", "actions", "max days"):
        table.add_column(col)
    for r in data["rules"]:
        who = r["requester"] + (f": {', '.join(map(_short, r['peers']))}" if r["peers"] else "")
        table.add_row(
            r["rule_id"],
            r["action"],
            ", ".join(r["fields"]) or "(all)",
            ", ".join(r["purposes"]) or "(any)",
            who,
            ", ".join(r["actions"]),
            "" if r["max_days"] is None else str(r["max_days"]),
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
) -> None:
    """Add a rule, e.g. `kluis rules add approve --fields contact.email --requester known`."""
    body: dict[str, Any] = {"action": action, "requester": requester, "note": note}
    if (fs := _csv(fields)) is not None:
        body["fields"] = fs
    if purpose:
        body["purposes"] = [p if p.startswith("dpv:") else f"dpv:{p}" for p in purpose]
    if peer:
        body["peers"] = peer
    if (acts := _csv(actions)) is not None:
        body["actions"] = acts
    if max_days is not None:
        body["max_days"] = max_days
    rule = _client(home).post("rules", body)
    stdout().print(f"rule added: {rule['rule_id']}", markup=False)


@rules_app.command("remove")
def rules_remove(
    rule_id: Annotated[str, typer.Argument(help="The rule id (see `kluis rules list`).")],
    home: HomeOpt = None,
) -> None:
    """Remove a rule."""
    _client(home).delete(f"rules/{urllib.parse.quote(rule_id)}")
    stdout().print(f"rule removed: {rule_id}", markup=False)


# -- dashboard, receipts ------------------------------------------------------------------


def dashboard(
    home: HomeOpt = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the link in your web browser.")
    ] = False,
) -> None:
    """Print a one-time login link to the running node's dashboard."""
    data = _client(home).post("dashboard/login-link", {})
    out = stdout()
    out.print(f"dashboard: {data['dashboard_url']}", markup=False)
    out.print(f"log in:    {data['url']}", markup=False)
    out.print(f"(works once, for {data['expires_in_s'] // 60} minutes)", markup=False)
    if open_browser:
        import webbrowser

        webbrowser.open(data["url"])


def receipts(
    grant_id: Annotated[
        str | None, typer.Argument(help="Only this grant's receipts.", show_default=False)
    ] = None,
    home: HomeOpt = None,
    receipt_id: Annotated[
        str | None, typer.Option("--id", help="Print one receipt as JSON.", show_default=False)
    ] = None,
    kantara: Annotated[
        bool, typer.Option("--kantara", help="With --id: the Kantara Consent Receipt v1.1 shape.")
    ] = False,
    as_json: JsonOpt = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write every consent receipt and every erasure (request and the business's "
            "signed receipt) to this JSON file.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List consent receipts (grants, revocations, erasures, deletions), or print one.

    Every receipt is signed: consent receipts by this vault, deletion and
    erasure receipts by the business. ``--export`` writes them all, with the
    erasure requests they answer, to one file that anyone can verify.
    """
    client = _client(home)
    if export is not None:
        _export_receipts(client, export)
        return
    if receipt_id is not None:
        one = client.get(
            f"receipts/{urllib.parse.quote(receipt_id)}" + ("?format=kantara" if kantara else "")
        )
        typer.echo(json.dumps(one["kantara"] if kantara else one["receipt"], indent=2))
        return
    query = f"?grant={urllib.parse.quote(grant_id)}" if grant_id else ""
    data = client.get(f"receipts{query}")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="consent receipts", title_justify="left")
    for col in ("id", "kind", "grant", "requester", "date (UTC)"):
        table.add_column(col)
    for r in data["receipts"]:
        table.add_row(
            r["receipt_id"], r["kind"], r["grant_id"], _short(r["requester"]), _when(r["issued_at"])
        )
    if not data["receipts"]:
        table.add_row("(none)", "", "", "", "")
    stdout().print(table)


def _export_receipts(client: ControlClient, target: Path) -> None:
    from ._fileio import atomic_write

    if target.exists():
        raise VaultError(f"{target} exists already; choose another file")
    consent = client.get("receipts")["receipts"]
    erasures = client.get("erasures")["erasures"]
    document = {
        "format": "kluis-receipts-v1",
        "vault": client.get("status")["peer_id"],
        "consent_receipts": [r["receipt"] for r in consent],
        "erasures": erasures,
    }
    atomic_write(target, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    stdout().print(
        f"wrote {len(consent)} consent receipt(s) and {len(erasures)} erasure(s) to {target}",
        markup=False,
    )


def register(target: typer.Typer) -> None:
    """Add these commands to the ``kluis`` app (called once by :mod:`vault.cli`)."""
    target.command("start")(start)
    target.command("requests")(requests)
    target.command("approve")(approve)
    target.command("deny")(deny)
    target.command("grants")(grants)
    target.command("revoke")(revoke)
    target.command("dashboard")(dashboard)
    target.command("receipts")(receipts)
    target.add_typer(rules_app, name="rules")
