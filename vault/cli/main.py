"""The ``kluis`` command line: the owner's hands on the vault.

:data:`app` gathers the commands of the modules beside this one (each has a
``register(app)``); :class:`vault.cli.exits.KluisGroup` turns every exception
into an exit code, in one place."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from typer.main import get_command_name

from vault.cli import agents, business, businesses, contact, relay, remote, store
from vault.cli.exits import ENV_DEBUG, KluisGroup, exit_code_help
from vault.cli.help import quiet_flag_types
from vault.cli.lean import install as lean_typer
from vault.cli.options import ENV_NEW_PASSPHRASE, ENV_PASSPHRASE

__all__ = ["app", "main", "only_command"]

HELP = f"""kluis: your personal data vault.

Your profile lives encrypted in one folder, under a passphrase only you know.
Every change and every unlock is written to a signed, hash-chained audit log.

[b]Environment[/b]

  KLUIS_HOME            the vault's folder (default: the per-user data dir for "kluis")

  {ENV_PASSPHRASE}      passphrase to unlock (else --passphrase-file, else a hidden prompt)

  {ENV_NEW_PASSPHRASE}  the new passphrase for `kluis passphrase`

  {ENV_DEBUG}=1         show tracebacks for internal errors

[b]Exit codes[/b]

{exit_code_help()}
"""


quiet_flag_types()
lean_typer()

app = typer.Typer(
    name="kluis",
    cls=KluisGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"kluis {version('kluis')}")
        except PackageNotFoundError:  # a source tree that was never installed
            typer.echo("kluis (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """kluis: your personal data vault."""


@app.command()
def demo() -> None:
    """Run the whole story on a local network: a vault, businesses and agents on 127.0.0.1.

    Everything lives in a temporary folder (SQLite) and is removed afterwards; it
    touches no real vault. Exits 0 only if every step behaved as described.
    """
    from vault.demo.run import run_demo

    raise typer.Exit(run_demo())


store.register(app)  # init, id, set, get, unset, show, audit, export, import, passphrase
remote.register(app)  # start, requests, approve, deny, grants, revoke, rules, dashboard, receipts
app.add_typer(business.business_app, name="business")
agents.register(app)  # intent send, deals, confirm, agreements, agents tournament
contact.register(app)  # inbox, contacts, mute/block, erase, erasures
relay.register(app)  # relay: bootstrap peer + DHT server + circuit relay v2
businesses.register(app)  # businesses [show | petname | seen | verify]


def only_command(args: Sequence[str]) -> typer.Typer:
    """``app`` holding only the top-level command that ``args`` starts with (D38).

    typer builds the click object of every command (signatures, type hints,
    options) before it runs one; a run needs only its own. When ``args`` names no
    command (an option first, a typo, nothing), the whole app answers, so the root
    help and click's "No such command" with its suggestions are unchanged.
    """
    name = args[0] if args else ""
    if not name or name.startswith("-"):
        return app
    commands = [
        c
        for c in app.registered_commands
        if (c.name or get_command_name(getattr(c.callback, "__name__", ""))) == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    trimmed = copy.copy(app)
    trimmed.registered_commands = commands
    trimmed.registered_groups = groups
    return trimmed


def main() -> None:
    """Console-script entry point (``kluis``)."""
    # kluis uses no pydantic plugins; without this, the first model pydantic builds
    # scans every installed package's entry points for one (issue 14 §2).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    only_command(sys.argv[1:])(prog_name="kluis")
