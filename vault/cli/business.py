"""``kluis business …``: the requester side on the command line (a thin shell over the SDK).

The business has its own folder and passphrase, separate from any vault::

    KLUIS_BUSINESS_HOME        the business store (default: the per-user data dir
                               "kluis-business")
    KLUIS_BUSINESS_PASSPHRASE  its passphrase (else --passphrase-file, else a prompt)
    KLUIS_BUSINESS_LISTEN      where its node listens while a command runs
                               (default /ip4/0.0.0.0/tcp/0: every interface)
    KLUIS_BUSINESS_STORE       a postgresql:// URL: the book lives in PostgreSQL
                               (else ``[business] store`` in the home's config.toml,
                               else SQLite in the home); ``--store`` on init/start
    KLUIS_BUSINESS_WORKER      this worker's name among several on one PostgreSQL
                               store (else ``[business] worker``, else host + home)

``kluis business start`` runs the business node (:mod:`vault.business`): it
answers revocations and erasure requests at once, holds subscriptions and
serves a control API. While it runs, every other command here is a client of
that API (``control.url``/``control.token`` in the business home). Without a
running node, a network command starts the business's node for the duration
of the command only; a revoke notice sent meanwhile is picked up on the next
read (the vault refuses it with ``revoked`` and the SDK deletes then).
Errors are one line on stderr (exit 3; docs/cli.md has the table) through
:class:`vault.cli.exits.KluisGroup`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit

import platformdirs
import typer

from protocol.clock import MINUTE_UTC, format_ms
from protocol.listen import DEFAULT_LISTEN
from vault.cli.client import ControlClient
from vault.cli.console import emit_json, inert, short_peer, stderr, stdout
from vault.cli.exits import KluisGroup
from vault.cli.options import BootstrapOpt, JsonOpt, read_passphrase
from vault.home.lock import running_pid
from vault.home.paths import URL_FILE, VaultPaths
from vault.requester import RequesterError

if TYPE_CHECKING:  # imported where used: `kluis --help` must not load libp2p
    from vault.requester import GrantHandle, Requester

__all__ = ["ENV_BUSINESS_HOME", "ENV_BUSINESS_PASSPHRASE", "business_app", "resolve_business_home"]

ENV_BUSINESS_HOME = "KLUIS_BUSINESS_HOME"
ENV_BUSINESS_PASSPHRASE = "KLUIS_BUSINESS_PASSPHRASE"  # noqa: S105 (a variable name)
ENV_BUSINESS_LISTEN = "KLUIS_BUSINESS_LISTEN"
ENV_BUSINESS_STORE = "KLUIS_BUSINESS_STORE"
ENV_BUSINESS_WORKER = "KLUIS_BUSINESS_WORKER"

T = TypeVar("T")

business_app = typer.Typer(
    name="business",
    cls=KluisGroup,
    help="The business side: request access to a customer's vault, read, subscribe. "
    f"Uses its own store (${ENV_BUSINESS_HOME}) and passphrase (${ENV_BUSINESS_PASSPHRASE}).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

BizHomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar=ENV_BUSINESS_HOME,
        show_envvar=True,
        show_default=False,
        help='The business store\'s folder (default: the per-user data dir "kluis-business").',
    ),
]
BizPassFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        show_default=False,
        help=f"Read the passphrase from this file. Else ${ENV_BUSINESS_PASSPHRASE}, else a prompt.",
    ),
]
ListenOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--listen",
        envvar=ENV_BUSINESS_LISTEN,
        show_default=False,
        help="Multiaddr to listen on while the command runs (repeatable). "
        "Default: every interface (/ip4/0.0.0.0/tcp/0).",
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=ENV_BUSINESS_STORE,
        show_envvar=True,
        show_default=False,
        help="postgresql://user@host:port/dbname: keep the book in PostgreSQL (shared by "
        "workers). Default: [business] store in config.toml, else SQLite in the home. "
        "A password is better kept in ~/.pgpass or $PGPASSWORD than here.",
    ),
]
FieldsOpt = Annotated[
    str | None, typer.Option("--fields", help="Comma-separated field paths or subtree.* patterns.")
]


def resolve_business_home(explicit: Path | None) -> Path:
    """``--home`` / ``$KLUIS_BUSINESS_HOME`` (typer fills both in), else the platform default."""
    if explicit:
        return Path(explicit).expanduser()
    return platformdirs.user_data_path("kluis-business", appauthor=False)


def _client(home: Path | None) -> ControlClient | None:
    """The running business node's API client, or None when no node runs.

    A store held by a one-shot command (no ``control.url``) is named as such, so
    the user is not told that a *vault* runs.
    """
    folder = resolve_business_home(home)
    pid = running_pid(folder)
    if pid is None:
        return None
    if not (folder / URL_FILE).exists():
        raise RequesterError(
            f"the business store is in use by another `kluis business` command (pid {pid}); "
            "run `kluis business start` to let commands share it"
        )
    return ControlClient.from_home(folder)


def _store(folder: Path, given: str | None) -> str | None:
    """The PostgreSQL URL to keep the book in: the flag/env, else config; None for SQLite.

    A value that is not a ``postgresql://`` URL is refused without echoing it
    (it may hold a password).
    """
    import os

    from vault.home.config import load_config

    url = given if given is not None else os.environ.get(ENV_BUSINESS_STORE)
    if url is None:
        url = load_config(folder).business.store
    if url is None or url == "":
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise RequesterError(
            "--store takes a postgresql:// URL (leave it out for SQLite in the business home)"
        )
    return url


def _worker_name(folder: Path, given: str | None) -> str:
    """The flag/env, else ``[business] worker``, else this host and a digest of the home."""
    import hashlib
    import re
    import socket

    from vault.home.config import load_config

    name = given or load_config(folder).business.worker
    if name:
        if not re.fullmatch(r"[\w.:@-]{1,64}", name):
            raise RequesterError("--worker is 1 to 64 letters, digits or . : @ - _")
        return name
    digest = hashlib.sha256(str(folder.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{socket.gethostname()[:40]}-{digest}"


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise RequesterError("--fields needs at least one field")
    return items


def _run(home: Path | None, passphrase_file: Path | None, listen: list[str] | None,
         work: Callable[[Requester], Awaitable[T]], *, network: bool = True,
         bootstrap: list[str] | None = None) -> T:  # fmt: skip
    """Open the business store (and node), run ``work``, close.

    The business's ``config.toml`` ``[network]`` is read like the vault's; its
    listen default is :data:`~protocol.listen.DEFAULT_LISTEN` (a port the OS
    picks: the commands are short-lived, and vaults find a business by peer id).
    """
    from vault.home.config import load_config, network_settings, reach_config
    from vault.requester import Requester

    folder = resolve_business_home(home)
    if not VaultPaths(folder).exists():
        raise RequesterError(f"no business store in {folder} (run `kluis business init`)")
    config = load_config(folder)
    store = _store(folder, None)
    if not listen and "listen" not in config.network.model_fields_set:
        listen = list(DEFAULT_LISTEN)
    net = network_settings(config, listen=listen, bootstrap=bootstrap)
    passphrase = read_passphrase(passphrase_file, env=ENV_BUSINESS_PASSPHRASE)

    async def main() -> T:
        with stderr().status("Unlocking the business store (Argon2id)…"):
            biz = await Requester.open(
                folder,
                passphrase,
                create=False,
                network=network,
                listen=list(net.listen),
                bootstrap=list(net.bootstrap),
                mdns=net.mdns,
                reach=reach_config(net),
                store=store,
            )
        async with biz:
            return await work(biz)

    import asyncio

    return asyncio.run(main())


@dataclass(frozen=True)
class _Row:
    """A grant as the node's API lists it (the fields the table and --json use)."""

    grant_id: str
    vault: str
    fields: list[str]
    purpose: str
    status: str
    expires_at: int
    retention_days: int
    data_deleted: bool
    deleted_at: int | None
    deletion_reason: str | None
    receipt_id: str | None
    receipt_acked: bool
    subscribed: bool = False

    @property
    def vault_peer(self) -> str:
        return self.vault


def _domain_of(website: Any) -> str | None:
    return urlsplit(website).hostname if isinstance(website, str) and website else None


#: Seconds between looks at the node's activity while following a subscription.
FOLLOW_INTERVAL = 0.5


def _follow(client: ControlClient, grant_id: str) -> None:
    """Print what the node's held subscription receives, until the grant ends."""
    out = stdout()
    grant = {g["grant_id"]: g for g in client.get("grants")["grants"]}.get(grant_id)
    if grant is None:
        raise RequesterError(f"no grant {grant_id} in this business store")
    out.print(f"following grant {grant_id} (held by the business node); Ctrl-C to stop",
              markup=False)  # fmt: skip
    after = max((a["seq"] for a in client.get("activity")["activity"]), default=-1)
    while True:
        rows = client.get(f"activity?grant={grant_id}&after={after}")["activity"]
        for row in rows:
            after = max(after, row["seq"])
            if row["kind"] == "update":
                out.print(f"{row['path']} changed (version {row['version']})", markup=False)
        status = {g["grant_id"]: g for g in client.get("grants")["grants"]}[grant_id]
        if status["status"] != "active":
            sent = "receipt sent" if status["receipt_acked"] else "receipt pending"
            out.print(f"grant {grant_id} {status['status']}: local data deleted, {sent}",
                      markup=False)  # fmt: skip
            return
        time.sleep(FOLLOW_INTERVAL)


def _show(value: Any) -> str:
    from vault.store.schema import format_value

    if value is None:
        return ""
    return format_value(list(value) if isinstance(value, tuple) else value)


def _grant_json(grant: GrantHandle | dict[str, Any]) -> dict[str, Any]:
    """The grant as JSON, from the SDK's handle or the node's grant view."""
    if isinstance(grant, dict):
        return {k: grant[k] for k in ("grant_id", "fields", "expires_at", "retention_days")}
    return {
        "grant_id": grant.grant_id,
        "fields": list(grant.fields),
        "expires_at": grant.expires_at,
        "retention_days": grant.retention_days,
    }


def _print_grant(grant: GrantHandle | dict[str, Any], as_json: bool = False) -> None:
    """The approval line (or JSON), from the SDK's handle or the node's grant view."""
    view = _grant_json(grant)
    if as_json:
        emit_json({"status": "approved", **view})
        return
    gid, fields = view["grant_id"], view["fields"]
    expires, retention = view["expires_at"], view["retention_days"]
    stdout().print(
        f"approved: grant {gid} (fields: {', '.join(fields)}; "
        f"expires {format_ms(expires, MINUTE_UTC)}; retention {retention} days)",
        markup=False,
    )


@business_app.command()
def init(
    home: BizHomeOpt = None, passphrase_file: BizPassFileOpt = None, store: StoreOpt = None
) -> None:
    """Create the business store: a fresh identity (peer id), a sealed store, an audit log.

    With --store the book is made in that PostgreSQL database; the home keeps the
    keyfile. More workers: copy the home's keyfile.json into each worker's home.
    """
    from vault.store.vault import check_new_passphrase

    folder = resolve_business_home(home)
    url = _store(folder, store)
    passphrase = read_passphrase(
        passphrase_file, env=ENV_BUSINESS_PASSPHRASE, confirm=True, prompt="New passphrase"
    )
    check_new_passphrase(passphrase)
    if VaultPaths(folder).exists():
        raise RequesterError(f"a business store already exists in {folder}; not overwriting it")
    from vault.requester import Requester

    async def main() -> str:
        async with Requester.create(
            folder, passphrase, network=False, retention_interval=None, store=url
        ) as biz:
            return biz.peer_id

    with stderr().status("Creating the business store (Argon2id)…"):
        import asyncio

        peer_id = asyncio.run(main())
    out = stdout()
    out.print(f"created business store in {folder}", markup=False)
    if url is not None:
        from vault.store.pgdb import safe_label

        out.print(f"book: {safe_label(url)}", markup=False)
    out.print(f"identity: {peer_id}", markup=False)


@business_app.command("id")
def show_id(
    home: BizHomeOpt = None, passphrase_file: BizPassFileOpt = None, as_json: JsonOpt = False
) -> None:
    """Print the business's peer id."""

    if (client := _client(home)) is not None:
        sys.stdout.write(client.get("status")["peer_id"] + "\n")
        return

    async def work(biz: Requester) -> str:
        return biz.peer_id

    peer_id = _run(home, passphrase_file, None, work, network=False)
    if as_json:
        emit_json({"peer_id": peer_id})
        return
    sys.stdout.write(peer_id + "\n")


@business_app.command()
def request(
    vault_multiaddr: Annotated[
        str,
        typer.Argument(
            help="The vault: its peer id (found through --bootstrap peers) or a multiaddr "
            "ending in /p2p/<id>."
        ),
    ],
    fields: Annotated[str, typer.Option("--fields", help="Comma-separated fields / patterns.")],
    purpose: Annotated[str, typer.Option("--purpose", help="DPV purpose, e.g. ServiceProvision.")],
    purpose_text: Annotated[str, typer.Option("--purpose-text", help="Why, in your words.")] = "",
    days: Annotated[int, typer.Option("--days", min=1, help="How long access lasts.")] = 30,
    retention_days: Annotated[
        int, typer.Option("--retention-days", min=0, help="Days you keep data after access ends.")
    ] = 0,
    offer: Annotated[str, typer.Option("--offer", help="What you offer in return.")] = "",
    offer_cents: Annotated[int, typer.Option("--offer-cents", min=0, help="Its value.")] = 0,
    wait: Annotated[
        float | None,
        typer.Option("--wait", min=0, help="Also wait this many seconds for the decision."),
    ] = None,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
    listen: ListenOpt = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask a vault for access. Prints the request id (then the grant, with --wait)."""
    from vault.requester import parse_purpose, vault_peer_of

    wanted = _split(fields) or []
    parse_purpose(purpose)  # fail before unlocking: nothing touched
    vault_peer_of(vault_multiaddr)
    if (client := _client(home)) is not None:
        sent = client.post("requests", {
            "vault": vault_multiaddr, "fields": wanted, "purpose": purpose,
            "purpose_text": purpose_text, "days": days, "retention_days": retention_days,
            "offer": offer, "offer_cents": offer_cents,
        })  # fmt: skip
        sys.stdout.write(sent["request_id"] + "\n")
        sys.stdout.flush()
        if wait is not None:
            with stderr().status("Waiting for the owner's decision…"):
                view = client.post(f"requests/{sent['request_id']}/wait", {"timeout": wait})
            _print_grant(view)
        return

    async def work(biz: Requester) -> None:
        from protocol import Offer

        pending = await biz.request(
            vault_multiaddr,
            wanted,
            purpose,
            purpose_text,
            days=days,
            retention_days=retention_days,
            offer=Offer(description=offer, value_cents=offer_cents),
        )
        if not as_json:
            sys.stdout.write(pending.request_id + "\n")
            sys.stdout.flush()
        grant = None
        if wait is not None:
            with stderr().status("Waiting for the owner's decision…"):
                grant = await pending.decision(timeout=wait)
        if as_json:  # one object: the request id, and the grant with --wait
            shown: dict[str, Any] = {"request_id": pending.request_id}
            if grant is not None:
                shown["grant"] = _grant_json(grant)
            emit_json(shown)
        elif grant is not None:
            _print_grant(grant)

    _run(home, passphrase_file, listen, work, bootstrap=bootstrap)


@business_app.command("wait")
def wait_decision(
    request_id: Annotated[str, typer.Argument(help="The id `kluis business request` printed.")],
    timeout: Annotated[float, typer.Option("--timeout", min=0, help="Seconds to wait.")] = 60.0,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
    listen: ListenOpt = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait for the owner's decision on a request sent earlier (exit 3 if denied)."""
    if (client := _client(home)) is not None:
        with stderr().status("Waiting for the owner's decision…"):
            view = client.post(f"requests/{request_id}/wait", {"timeout": timeout})
        _print_grant(view, as_json)
        return

    async def work(biz: Requester) -> None:
        pending = biz.pending(request_id)
        with stderr().status("Waiting for the owner's decision…"):
            grant = await pending.decision(timeout=timeout)
        _print_grant(grant, as_json)

    _run(home, passphrase_file, listen, work, bootstrap=bootstrap)


@business_app.command()
def read(
    grant_id: Annotated[str, typer.Argument(help="The grant to read under.")],
    fields: FieldsOpt = None,
    as_json: JsonOpt = False,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
    listen: ListenOpt = None,
    bootstrap: BootstrapOpt = None,
) -> None:
    """Read granted fields (default: all of the grant). The copy is kept sealed locally."""

    async def work(biz: Requester) -> dict[str, Any]:
        records = await biz.read_records(grant_id, _split(fields))
        return {path: rec.model_dump(mode="json") for path, rec in records.items()}

    if (client := _client(home)) is not None:
        wanted = _split(fields)
        got = client.post(f"grants/{grant_id}/read", {"fields": wanted} if wanted else {})
        data = {p: {"value": v, "version": got["versions"].get(p, 0)}
                for p, v in got["values"].items()}  # fmt: skip
    else:
        data = _run(home, passphrase_file, listen, work, bootstrap=bootstrap)
    if as_json:
        sys.stdout.write(
            json.dumps({p: r["value"] for p, r in data.items()}, indent=2, ensure_ascii=False)
            + "\n"
        )
        return
    from rich.table import Table

    table = Table(title=f"grant {grant_id}", title_justify="left")
    for column in ("field", "value", "version"):
        table.add_column(column)
    for path, rec in sorted(data.items()):
        table.add_row(*map(inert, (path, _show(rec["value"]), str(rec["version"]))))
    if not data:
        table.add_row("(no values)", "", "")
    stdout().print(table)


@business_app.command()
def subscribe(
    grant_id: Annotated[str, typer.Argument(help="The grant to follow.")],
    fields: FieldsOpt = None,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
    listen: ListenOpt = None,
    bootstrap: BootstrapOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object a line (JSON Lines), as they come.")
    ] = False,
) -> None:
    """Print updates as the owner changes granted fields, until revoked or Ctrl-C.

    While the business node runs it holds the subscription itself; this command
    then follows what the node receives (paths and versions).
    """
    if (client := _client(home)) is not None:
        try:
            _follow(client, grant_id)
        except KeyboardInterrupt:
            stderr().print("stopped", markup=False)
        return

    def line(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    async def work(biz: Requester) -> None:
        out = stdout()
        if not as_json:
            out.print(f"subscribed to grant {grant_id}; Ctrl-C to stop", markup=False)
        async for update in biz.subscribe(grant_id, _split(fields)):
            if as_json:
                line({"event": "update", "path": update.path, "value": update.value,
                      "version": update.version})  # fmt: skip
                continue
            shown = "(deleted)" if update.value is None else _show(update.value)
            out.print(inert(f"{update.path} = {shown} (version {update.version})"))
        info = biz.grant_info(grant_id)
        if as_json:
            line({"event": "revoked", "grant_id": grant_id, "receipt_sent": info.receipt_acked})
            return
        sent = "receipt sent" if info.receipt_acked else "receipt pending"
        out.print(f"grant {grant_id} revoked: local data deleted, {sent}", markup=False)

    try:
        _run(home, passphrase_file, listen, work, bootstrap=bootstrap)
    except KeyboardInterrupt:
        stderr().print("stopped", markup=False)


@business_app.command()
def grants(
    as_json: JsonOpt = False,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
) -> None:
    """List this business's grants and their local status (active/expired/revoked/deleted)."""

    async def work(biz: Requester) -> list[Any]:
        return biz.grants()

    if (client := _client(home)) is not None:
        infos = [_Row(**row) for row in client.get("grants")["grants"]]
    else:
        infos = _run(home, passphrase_file, None, work, network=False)
    if as_json:
        rows = [
            {
                "grant_id": g.grant_id,
                "vault": g.vault_peer,
                "fields": list(g.fields),
                "purpose": g.purpose,
                "status": g.status,
                "expires_at": g.expires_at,
                "retention_days": g.retention_days,
                "data_deleted": g.data_deleted,
                "receipt_id": g.receipt_id,
                "receipt_acked": g.receipt_acked,
            }
            for g in infos
        ]
        sys.stdout.write(json.dumps({"grants": rows}, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(title="grants", title_justify="left")
    table.add_column("grant", no_wrap=True, min_width=32)
    for column in ("vault", "fields", "status", "expires (UTC)", "receipt"):
        table.add_column(column)
    for g in infos:
        receipt = "-" if g.receipt_id is None else ("acked" if g.receipt_acked else "pending")
        table.add_row(
            *map(
                inert,
                (
                    g.grant_id,
                    g.vault_peer[:12] + "…",
                    ", ".join(g.fields),
                    g.status,
                    format_ms(g.expires_at),
                    receipt,
                ),
            )
        )
    if not infos:
        table.add_row("(none)", "", "", "", "", "")
    stdout().print(table)


@business_app.command()
def mailings(
    as_json: JsonOpt = False,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
) -> None:
    """Contact yield per mailing: sent, read (if customers share it), muted, blocked."""

    async def work(biz: Requester) -> list[dict[str, Any]]:
        from vault.requester._yield import view

        return [view(m) for m in biz.yields.mailings()]

    if (client := _client(home)) is not None:
        rows: list[dict[str, Any]] = client.get("mailings")["mailings"]
    else:
        rows = _run(home, passphrase_file, None, work, network=False)
    if as_json:
        emit_json({"mailings": rows})
        return
    from rich.table import Table

    table = Table(title="contact yield per mailing", title_justify="left")
    for column in ("mailing", "sent", "read", "muted", "blocked", "other refusals"):
        table.add_column(column)
    for m in rows:
        read = "not shared" if m["read"] is None else f"{m['read']} of {m['read_base']} shared"
        other = ", ".join(f"{k} {v}" for k, v in sorted(m["refused"].items()) if k != "blocked")
        table.add_row(*map(inert, (m["mailing_id"], str(m["sent"]), read, str(m["muted"]),
                                   str(m["blocked"]), other or "-")))  # fmt: skip
    if not rows:
        table.add_row("(none)", "", "", "", "", "")
    stdout().print(table)


@business_app.command()
def deals(
    as_json: JsonOpt = False,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
) -> None:
    """Deals: the intent categories the node answers, and the agreements signed."""

    async def work(biz: Requester) -> dict[str, Any]:
        from vault.business.views import deal_view
        from vault.requester.offers import stored_agreements

        return {"answering": [], "deals": [deal_view(a) for a in stored_agreements(biz)]}

    if (client := _client(home)) is not None:
        data: dict[str, Any] = client.get("deals")
    else:
        data = _run(home, passphrase_file, None, work, network=False)
    if as_json:
        emit_json(data)
        return
    if data["answering"]:
        stdout().print("answering intents: " + ", ".join(data["answering"]), markup=False)
    from rich.table import Table

    table = Table(title="agreements", title_justify="left")
    for column in ("agreement", "category", "vault", "fields", "value (cents)", "days", "signed"):
        table.add_column(column)
    for d in data["deals"]:
        cells = (
            d["agreement_id"],
            d["category"],
            short_peer(d["vault"]),
            ", ".join(d["fields"]),
            str(d["value_cents"]),
            str(d["duration_days"]),
            format_ms(d["created_at"]),
        )
        table.add_row(*map(inert, cells))
    if not data["deals"]:
        table.add_row("(none)", "", "", "", "", "", "")
    stdout().print(table)


profile_app = typer.Typer(
    cls=KluisGroup,
    help="The business's signed profile: who it is, shown to customers instead of its peer id.",
    no_args_is_help=True,
)
business_app.add_typer(profile_app, name="profile")


def _profile_json(profile: Any) -> dict[str, Any]:
    return {k: v for k, v in profile.model_dump(mode="json").items() if k not in ("type", "sig")}


@profile_app.command("show")
def profile_show(
    as_json: JsonOpt = False, home: BizHomeOpt = None, passphrase_file: BizPassFileOpt = None
) -> None:
    """Print the business profile customers see (and the domain they can verify)."""

    async def work(biz: Requester) -> Any:
        profile = biz.profile.get()
        return None if profile is None else _profile_json(profile)

    if (client := _client(home)) is not None:
        data = client.get("profile")["profile"]
    else:
        data = _run(home, passphrase_file, None, work, network=False)
    if data is None:
        raise RequesterError("no business profile yet; set one with `kluis business profile set`")
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    for key, value in data.items():
        if key == "address":
            value = ", ".join(v for v in value.values() if v)
        stdout().print(f"{key.replace('_', ' ')}: {value}", markup=False)
    domain = _domain_of(data.get("website"))
    if domain:
        stdout().print(
            f"verify it: publish `kluis business profile well-known` at "
            f"https://{domain}/.well-known/kluis.json",
            markup=False,
        )


@profile_app.command("set")
def profile_set(
    display_name: Annotated[str | None, typer.Option(help="Name customers see.")] = None,
    legal_name: Annotated[str | None, typer.Option(help="The data controller's legal name.")] = (
        None
    ),
    website: Annotated[str | None, typer.Option(help="https://… (its domain is verified).")] = (
        None
    ),
    privacy_policy_url: Annotated[str | None, typer.Option(help="https://… privacy policy.")] = (
        None
    ),
    contact_email: Annotated[str | None, typer.Option(help="Privacy contact e-mail.")] = None,
    contact_name: Annotated[str | None, typer.Option(help="Contact person or desk.")] = None,
    phone: Annotated[str | None, typer.Option(help="E.164, e.g. +31201234567.")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="ISO 3166 code, e.g. NL.")] = None,
    street: Annotated[str | None, typer.Option(help="Postal address: street.")] = None,
    postal_code: Annotated[str | None, typer.Option(help="Postal address: postal code.")] = None,
    locality: Annotated[str | None, typer.Option(help="Postal address: town or city.")] = None,
    country: Annotated[str | None, typer.Option(help="Postal address: ISO country code.")] = None,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
) -> None:
    """Set (or change) the signed profile; options not given keep their value.

    The first time, give at least --display-name, --legal-name, --contact-email,
    --jurisdiction and --privacy-policy-url. Every access request sent after this
    carries the new profile; vaults flag the change to their owners.
    """
    fields: dict[str, Any] = {
        "display_name": display_name, "legal_name": legal_name, "website": website,
        "privacy_policy_url": privacy_policy_url, "contact_email": contact_email,
        "contact_name": contact_name, "phone": phone, "jurisdiction": jurisdiction,
    }  # fmt: skip
    address = {"street": street, "postal_code": postal_code, "locality": locality,
               "country": country}  # fmt: skip
    if any(v is not None for v in address.values()):
        fields["address"] = {k: v for k, v in address.items() if v is not None}

    async def work(biz: Requester) -> dict[str, Any]:
        return _profile_json(biz.profile.set(**fields))

    if (client := _client(home)) is not None:
        given = {k: v for k, v in fields.items() if v is not None}
        data = client.put("profile", given)["profile"]
    else:
        data = _run(home, passphrase_file, None, work, network=False)
    stdout().print(f"profile signed: {data['display_name']} ({data['legal_name']})", markup=False)


@profile_app.command("well-known")
def profile_well_known(home: BizHomeOpt = None, passphrase_file: BizPassFileOpt = None) -> None:
    """Print the /.well-known/kluis.json body that verifies the website's domain."""

    async def work(biz: Requester) -> bytes:
        return biz.profile.well_known()

    if (client := _client(home)) is not None:
        from protocol.business import well_known_document

        sys.stdout.write(well_known_document(client.get("status")["peer_id"]).decode())
        return
    sys.stdout.write(_run(home, passphrase_file, None, work, network=False).decode())


@business_app.command("petname")
def name_vault(
    vault: Annotated[
        str, typer.Argument(help="The vault: its peer id, or a multiaddr ending in /p2p/<id>.")
    ],
    petname: Annotated[
        str, typer.Argument(help='Your name for it (up to 64 characters); "" removes it.')
    ],
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
) -> None:
    """Give a vault this business relates to a petname (shown on the dashboard)."""
    from urllib.parse import quote

    from vault.business.views import check_petname
    from vault.requester import vault_peer_of

    peer = vault_peer_of(vault)
    if petname.strip():
        check_petname(petname)  # before unlocking anything
    if (client := _client(home)) is not None:
        named = client.post(f"relationships/{quote(peer, safe='')}/petname", {"petname": petname})
        shown = named["petname"]
    else:

        async def work(biz: Requester) -> str:
            from vault.business.views import name_vault as give

            return give(biz, peer, petname)

        shown = _run(home, passphrase_file, None, work, network=False)
    said = f"vault {peer} is now called {shown}" if shown else f"vault {peer} has no petname now"
    stdout().print(inert(said))


@business_app.command()
def contact(
    grant_id: Annotated[str, typer.Argument(help="The contact grant to write under.")],
    category: Annotated[str, typer.Option("--category", help="service, marketing, survey…")],
    subject: Annotated[str, typer.Option("--subject", help="One line.")],
    body: Annotated[str, typer.Option("--body", help="The message.")] = "",
    mailing: Annotated[
        str | None, typer.Option("--mailing", help="Mailing id, to count its yield.")
    ] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="Keep it and retry if the vault is unreachable.")
    ] = False,
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
    listen: ListenOpt = None,
    bootstrap: BootstrapOpt = None,
) -> None:
    """Message a customer within their contact terms; prints the message id.

    The vault applies the customer's rules (caps, quiet hours, categories, blocks)
    and refuses with a one-line reason (exit 2) what they do not allow.
    """
    if (client := _client(home)) is not None:
        sent = client.post(f"grants/{grant_id}/contact", {
            "category": category, "subject": subject, "body": body, "mailing_id": mailing,
            "queue": queue,
        })  # fmt: skip
        sys.stdout.write(sent["message_id"] + "\n")
        return

    async def work(biz: Requester) -> str:
        return await biz.contact(grant_id, category, subject, body, mailing_id=mailing,
                                 queue=queue)  # fmt: skip

    sys.stdout.write(_run(home, passphrase_file, listen, work, bootstrap=bootstrap) + "\n")


@business_app.command()
def start(
    home: BizHomeOpt = None,
    passphrase_file: BizPassFileOpt = None,
    listen: ListenOpt = None,
    bootstrap: BootstrapOpt = None,
    control_port: Annotated[
        int, typer.Option("--control-port", min=0, max=65535, help="0: the OS picks one.")
    ] = 0,
    offers: Annotated[
        Path | None, typer.Option("--offers", help="Offer rules (TOML) to answer intents with.")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", help="Or an agent module: MODULE:NAME or file.py:NAME."),
    ] = None,
    store: StoreOpt = None,
    worker: Annotated[
        str | None,
        typer.Option(
            "--worker",
            envvar=ENV_BUSINESS_WORKER,
            show_envvar=True,
            show_default=False,
            help="This worker's name among several on one PostgreSQL store "
            "(default: [business] worker, else the host name and a digest of the home).",
        ),
    ] = None,
) -> None:
    """Run the business node until Ctrl-C: answers revocations and erasures at once,
    holds subscriptions, answers intents, and serves the control API the other
    `kluis business` commands use while it runs."""
    from vault.business import BusinessNode
    from vault.home.config import load_config, network_settings, reach_config

    folder = resolve_business_home(home)
    if not VaultPaths(folder).exists():
        raise RequesterError(f"no business store in {folder} (run `kluis business init`)")
    if (pid := running_pid(folder)) is not None:
        raise RequesterError(f"the business store is in use (pid {pid}); one node per store")
    config = load_config(folder)
    url = _store(folder, store)
    if worker is not None and url is None:
        raise RequesterError("--worker needs a PostgreSQL store (--store or [business] store)")
    name = None if url is None else _worker_name(folder, worker)
    if not listen and "listen" not in config.network.model_fields_set:
        listen = list(DEFAULT_LISTEN)
    net = network_settings(config, listen=listen, bootstrap=bootstrap)
    passphrase = read_passphrase(passphrase_file, env=ENV_BUSINESS_PASSPHRASE)

    async def main() -> None:
        with stderr().status("Unlocking the business store (Argon2id)…"):
            node = await BusinessNode.start(
                folder, passphrase, listen=list(net.listen), bootstrap=list(net.bootstrap),
                mdns=net.mdns, reach=reach_config(net), control_port=control_port,
                offers=offers, agent=agent, store=url, worker=name,
                worker_ttl=config.business.lease_ttl,
            )  # fmt: skip
        async with node:
            out = stdout()
            out.print(f"business node {node.peer_id}", markup=False)
            if node.worker is not None:
                out.print(f"  book {node.store_label}, worker {node.worker}", markup=False)
            for addr in node.addrs:
                out.print(f"  listening on {addr}", markup=False)
            out.print(f"  control API {node.control_url}", markup=False)
            if node.offer_categories:
                out.print(f"  answering intents: {', '.join(node.offer_categories)}",
                          markup=False)  # fmt: skip
            sys.stdout.flush()
            await _until_stopped()

    try:
        import asyncio

        asyncio.run(main())
    except KeyboardInterrupt:
        stderr().print("stopped", markup=False)


async def _until_stopped() -> None:
    """Wait for SIGTERM or SIGINT (Ctrl-C), then return so the node closes in order."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


@business_app.command()
def dashboard(home: BizHomeOpt = None) -> None:
    """Print a one-time login link into the running business node's dashboard."""
    client = _client(home)
    if client is None:
        raise RequesterError("no business node runs; start one with `kluis business start`")
    link = client.post("login-link")
    stdout().print(f"open (once, within {link['expires_in_s'] // 60} minutes): {link['url']}",
                   markup=False)  # fmt: skip
