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

from protocol import ErrorCode, KluisError

from ._exceptions import CorruptRecord, VaultError
from .audit import AuditEntry, VerifyReport
from .paths import resolve_home
from .profile import FieldRecord
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
    _refuse_if_running(folder)
    passphrase = read_passphrase(passphrase_file)
    with stderr().status("Unlocking the vault (Argon2id)…"):
        return Vault.open(folder, passphrase)


def _refuse_if_running(folder: Path) -> None:
    """D2: while `kluis start` runs, the node is the only writer of the store."""
    from .lock import running_pid

    pid = running_pid(folder)
    if pid is not None:
        raise VaultError(
            f"the vault is in use by a running node (pid {pid or 'unknown'}); "
            "stop it first, or use a command that goes through it"
        )


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
    if (client := node_client(home)) is not None:  # D2: through the running node
        before = client.get(f"profile/{path}") if _is_set(client, path) else None
        after = client.put(f"profile/{path}", {"text": value})
        note = "unchanged" if before == after else f"version {after['version']}"
        stdout().print(f"{path} set ({note})", markup=False)
        return
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
    if (client := node_client(home)) is not None:
        field = client.get(f"profile/{path}")
        if as_json:
            _emit_json(field)
        else:
            sys.stdout.write(format_value(field["value"]) + "\n")
        return
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
    if (client := node_client(home)) is not None:
        done = client.delete(f"profile/{path}")
        stdout().print(f"{path} unset (version {done['version']})", markup=False)
        return
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
    if (client := node_client(home)) is not None:
        query = f"?prefix={prefix}" if prefix else ""
        data = client.get(f"profile{query}")
        fields = [
            FieldRecord(f["path"], f["value"], f["version"], f["updated_at"])
            for f in data["fields"]
        ]
        errors = [CorruptRecord(name) for name in data["corrupt"]]
    else:
        with open_vault(home, passphrase_file) as vault:
            errors = []
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
    report: VerifyReport | None
    if (client := node_client(home)) is not None:  # D2: through the running node
        query = "&".join(
            q for q in ("verify=1" if verify else "", f"tail={tail}" if tail else "") if q
        )
        got = client.get("audit" + (f"?{query}" if query else ""))
        entries = [AuditEntry.from_json(e) for e in got["entries"]]
        v = got.get("verify")
        report = (
            None
            if v is None
            else VerifyReport(v["checked"], v["head_seq"], v["first_bad"], v["reason"])
        )
    else:
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
    if (client := node_client(home)) is not None:  # D2: the running node writes the audit
        body = {"path": str(file.resolve()), "passphrase": passphrase, "force": force}
        with stderr().status("Sealing the backup on the running node (Argon2id)…"):
            done = client.post("backup", body)
        stdout().print(
            f"backup written to {file} ({done['records']} records, "
            f"{done['audit_entries']} audit entries)",
            markup=False,
        )
        return
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
    if (client := node_client(home)) is not None:  # D2: the running node holds the key
        new = read_passphrase(
            new_passphrase_file, env=ENV_NEW_PASSPHRASE, confirm=True, prompt="New passphrase"
        )
        check_new_passphrase(new)
        with stderr().status("Rewrapping the data key on the running node (Argon2id)…"):
            client.post("passphrase", {"current": current, "new": new})
        stdout().print("passphrase changed", markup=False)
        return
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
    """Run the whole story on a local network: a vault, businesses and agents on 127.0.0.1.

    Everything lives in a temporary folder (SQLite) and is removed afterwards; it
    touches no real vault. Exits 0 only if every step behaved as described.
    """
    from .demo import run_demo

    raise typer.Exit(run_demo())


def _is_set(client: Any, path: str) -> bool:
    try:
        client.get(f"profile/{path}")
    except KluisError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            return False
        raise
    return True


# `kluis start`, `requests`, `approve`, `deny`, `grants`, `revoke`, `rules ...`
from .cli_node import node_client, register  # noqa: E402

register(app)

# `kluis business ...`: the requester side (vault/cli_business.py)
from .cli_business import business_app  # noqa: E402

app.add_typer(business_app, name="business")

# `kluis intent send`, `deals`, `confirm`, `agreements`, `agents tournament` (vault/cli_agents.py)
from .cli_agents import register as register_agents  # noqa: E402

register_agents(app)


# `kluis inbox`, `contacts`, `mute`/`block`, `erase`, `erasures` (vault/cli_contact.py)
from .cli_contact import register as register_contact  # noqa: E402

register_contact(app)


def main() -> None:
    """Console-script entry point (``kluis``)."""
    app()
