"""The ``kluis`` command line: the owner's hands on the vault.

This module is the one place where exceptions become exit codes
(docs/architecture.md, D4). :class:`KluisGroup` wraps every command, including
those of sub-apps added later with ``app.add_typer(...)``:

* a :class:`protocol.KluisError` -> ``error: <one line>`` on stderr, exit 2;
* ``kluis audit --verify`` on a broken chain -> exit 1 (a result, not an error);
* anything else -> ``error: internal error``, exit 70; the traceback is shown
  only with ``KLUIS_DEBUG=1`` (it could hold personal values).

Later issues add sub-apps (``kluis business ...``, ``kluis start``, ``kluis
requests ...``): build them with :func:`open_vault` and the shared option
types :data:`HomeOpt` and :data:`PassFileOpt`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from protocol import KluisError

from ._exceptions import CorruptRecord, VaultError
from .audit import AuditEntry
from .paths import resolve_home
from .schema import format_value, parse_text, resolve, schema_paths, validate_value
from .vault import Vault, check_new_passphrase

__all__ = ["HomeOpt", "PassFileOpt", "app", "main", "open_vault", "read_passphrase"]

ENV_PASSPHRASE = "KLUIS_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
ENV_NEW_PASSPHRASE = "KLUIS_NEW_PASSPHRASE"  # noqa: S105
ENV_DEBUG = "KLUIS_DEBUG"

EXIT_ERROR = 2
EXIT_VERIFY_FAILED = 1
EXIT_INTERNAL = 70


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class KluisGroup(TyperGroup):
    """Turns exceptions into one-line errors and exit codes, for every (sub)command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KluisError as exc:
            stderr().print(f"error: {exc.message}", markup=False)
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            if os.environ.get(ENV_DEBUG) == "1":
                traceback.print_exc()
            stderr().print(
                f"error: internal error ({type(exc).__name__}); rerun with {ENV_DEBUG}=1 "
                "for details",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


HELP = f"""kluis: your personal data vault.

Your profile lives encrypted in one folder, under a passphrase only you know.
Every change and every unlock is written to a signed, hash-chained audit log.

[b]Environment[/b]

  KLUIS_HOME            the vault's folder (default: the per-user data dir for "kluis")

  {ENV_PASSPHRASE}      passphrase to unlock (else --passphrase-file, else a hidden prompt)

  {ENV_NEW_PASSPHRASE}  the new passphrase for `kluis passphrase`

  {ENV_DEBUG}=1         show tracebacks for internal errors

[b]Exit codes[/b]: 0 ok, 1 audit chain broken (audit --verify), 2 error, 70 internal error.
"""

app = typer.Typer(
    name="kluis",
    cls=KluisGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="KLUIS_HOME",
        show_envvar=True,
        show_default=False,
        help="The vault's folder.",
    ),
]
PassFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        show_default=False,
        help=f"Read the passphrase from this file (first line). "
        f"Else ${ENV_PASSPHRASE}, else a hidden prompt.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _read_file_passphrase(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VaultError(f"cannot read passphrase file {path}: {exc.strerror}") from exc
    return text.splitlines()[0] if text else ""


def read_passphrase(
    passphrase_file: Path | None,
    *,
    env: str = ENV_PASSPHRASE,
    confirm: bool = False,
    prompt: str = "Passphrase",
) -> str:
    """The passphrase from ``--passphrase-file``, then ``$env``, then a hidden prompt."""
    if passphrase_file is not None:
        return _read_file_passphrase(passphrase_file)
    from_env = os.environ.get(env)
    if from_env:
        return from_env
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    return value


def open_vault(home: Path | None, passphrase_file: Path | None) -> Vault:
    """Resolve the folder, get the passphrase, and unlock with a spinner (Argon2id)."""
    folder = resolve_home(home)
    passphrase = read_passphrase(passphrase_file)
    with stderr().status("Unlocking the vault (Argon2id)…"):
        return Vault.open(folder, passphrase)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _when(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- commands -------------------------------------------------------------------


@app.command()
def init(home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """Create a new vault: a fresh identity, an empty profile, an audit log.

    Refuses to overwrite an existing vault. The passphrase is asked twice
    unless it comes from --passphrase-file or $KLUIS_PASSPHRASE.
    """
    folder = resolve_home(home)
    passphrase = read_passphrase(passphrase_file, confirm=True, prompt="New passphrase")
    check_new_passphrase(passphrase)
    with stderr().status("Creating the vault (Argon2id)…"):
        vault = Vault.create(folder, passphrase)
    with vault:
        out = stdout()
        out.print(f"created vault in {folder}", markup=False)
        out.print(f"identity: {vault.peer_id}", markup=False)


@app.command("id")
def show_id(home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """Print the vault's identity: its libp2p peer id (Ed25519)."""
    with open_vault(home, passphrase_file) as vault:
        sys.stdout.write(vault.peer_id + "\n")


SET_HELP = (
    "Set a profile field; the value is typed and validated (nothing is stored if it is "
    "refused).\n\n"
    "Fields: " + ", ".join(schema_paths()) + ".\n\n"
    "Labels and keys are lowercase slugs (home, work, newsletter). Lists (interests) are "
    "comma-separated; preferences and custom values may be true/false, integers or text."
)


@app.command("set", help=SET_HELP)
def set_field(
    path: Annotated[str, typer.Argument(help="Dotted field path, e.g. contact.email.")],
    value: Annotated[str, typer.Argument(help="The new value.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    validate_value(path, parse_text(path, value))  # fail before unlocking: nothing touched
    with open_vault(home, passphrase_file) as vault:
        try:
            before = vault.profile.record(path)
        except CorruptRecord:
            before = None  # setting it again is how the owner repairs a damaged field
        rec = vault.profile.set_text(path, value)
        note = "unchanged" if before == rec else f"version {rec.version}"
        stdout().print(f"{path} set ({note})", markup=False)


@app.command("get")
def get_field(
    path: Annotated[str, typer.Argument(help="Dotted field path.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one field's value (lists comma-separated)."""
    resolve(path)  # fail before unlocking: nothing touched
    with open_vault(home, passphrase_file) as vault:
        value = vault.profile.get(path)
        if as_json:
            rec = vault.profile.record(path)
            assert rec is not None
            _emit_json(rec.to_json())
        else:
            sys.stdout.write(format_value(value) + "\n")


@app.command()
def unset(
    path: Annotated[str, typer.Argument(help="Dotted field path.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Remove a field's value (its version history goes on)."""
    resolve(path)  # fail before unlocking: nothing touched
    with open_vault(home, passphrase_file) as vault:
        rec = vault.profile.unset(path)
        stdout().print(f"{path} unset (version {rec.version})", markup=False)


@app.command()
def show(
    prefix: Annotated[str | None, typer.Argument(help="Only this subtree, e.g. address.")] = None,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List profile fields with their version and last change.

    A record that fails authentication is reported by name; the rest are shown.
    """
    with open_vault(home, passphrase_file) as vault:
        errors: list[CorruptRecord] = []
        fields = vault.profile.fields(prefix, errors=errors)
    if as_json:
        _emit_json({"fields": [f.to_json() for f in fields], "corrupt": [e.name for e in errors]})
    else:
        table = Table(title="profile", title_justify="left")
        for column in ("field", "value", "version", "updated (UTC)"):
            table.add_column(column)
        for f in fields:
            assert f.value is not None
            table.add_row(f.path, format_value(f.value), str(f.version), _when(f.updated_at))
        if not fields:
            table.add_row("(empty)", "", "", "")
        stdout().print(table)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise VaultError(f"{len(errors)} corrupt records: " + ", ".join(e.name for e in errors))


def _details(entry: AuditEntry) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(entry.details.items()))


@app.command()
def audit(
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the whole chain: hashes, links and signatures. Exit 1 if broken.",
        ),
    ] = False,
    tail: Annotated[
        int | None, typer.Option("--tail", min=1, help="Only the newest N entries.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the audit log: every change and every unlock, signed and hash-chained."""
    with open_vault(home, passphrase_file) as vault:
        report = vault.audit.verify() if verify else None
        try:
            entries = vault.audit.tail(tail) if tail else list(vault.audit.entries())
        except CorruptRecord:
            if report is None:
                raise
            entries = []  # the verify report below names the bad entry
    if as_json:
        data: dict[str, Any] = {"entries": [e.to_json() for e in entries]}
        if report is not None:
            data["verify"] = report.to_json()
        _emit_json(data)
    else:
        table = Table(title="audit log", title_justify="left")
        for column in ("seq", "time (UTC)", "kind", "details"):
            table.add_column(column)
        for e in entries:
            table.add_row(str(e.seq), _when(e.timestamp), e.kind, _details(e))
        out = stdout()
        out.print(table)
        if report is not None:
            if report.ok:
                out.print(f"chain intact: {report.checked} entries verified", markup=False)
            else:
                out.print(f"chain BROKEN at seq {report.first_bad}: {report.reason}", markup=False)
    if report is not None and not report.ok:
        stderr().print(
            f"error: audit chain broken at seq {report.first_bad}: {report.reason}", markup=False
        )
        raise typer.Exit(EXIT_VERIFY_FAILED)


@app.command("export")
def export_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write an encrypted backup (sealed under your passphrase, fresh salt)."""
    if file.exists() and not force:
        raise VaultError(f"{file} exists; use --force to overwrite it")
    folder = resolve_home(home)
    passphrase = read_passphrase(passphrase_file)
    with stderr().status("Unlocking and sealing the backup (Argon2id)…"):
        with Vault.open(folder, passphrase) as vault:
            snap = vault.export_backup(file, passphrase)
    stdout().print(
        f"backup written to {file} ({len(snap.records)} records, {len(snap.audit)} audit entries)",
        markup=False,
    )


@app.command("import")
def import_backup(
    file: Annotated[Path, typer.Argument(help="A backup made by `kluis export`.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Restore a backup into an empty KLUIS_HOME: same identity, profile and audit chain."""
    folder = resolve_home(home)
    passphrase = read_passphrase(passphrase_file, prompt="Backup passphrase")
    with stderr().status("Opening the backup (Argon2id)…"):
        vault = Vault.restore(folder, file, passphrase)
    with vault:
        stdout().print(f"restored vault {vault.peer_id} into {folder}", markup=False)


@app.command()
def passphrase(
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    new_passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--new-passphrase-file",
            show_default=False,
            help=f"Read the new passphrase from this file. Else ${ENV_NEW_PASSPHRASE}, "
            "else a hidden prompt (asked twice).",
        ),
    ] = None,
) -> None:
    """Change the passphrase. The data key is rewrapped; no data is re-encrypted."""
    folder = resolve_home(home)
    current = read_passphrase(passphrase_file, prompt="Current passphrase")
    with stderr().status("Unlocking the vault (Argon2id)…"):
        vault = Vault.open(folder, current)
    with vault:
        new = read_passphrase(
            new_passphrase_file, env=ENV_NEW_PASSPHRASE, confirm=True, prompt="New passphrase"
        )
        with stderr().status("Rewrapping the data key (Argon2id)…"):
            vault.change_passphrase(new)
    stdout().print("passphrase changed", markup=False)


@app.command()
def demo() -> None:
    """Run the local story end to end in a temporary folder (touches no real vault)."""
    from .demo import run_demo

    raise typer.Exit(run_demo())


def main() -> None:
    """Console-script entry point (``kluis``)."""
    app()
