"""``kluis init | id | set | get | unset | show | audit | export | import | passphrase | rekey``.

The vault at rest: these work on the store directly, or through the running
node when one runs (:func:`vault.cli.client.node_client`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from protocol import ErrorCode, KluisError
from protocol.clock import SECOND, format_ms
from vault._exceptions import CorruptRecord, VaultError, VaultExists
from vault.cli.client import node_client
from vault.cli.console import emit_json, inert, stderr, stdout
from vault.cli.exits import EXIT_VERIFY_FAILED
from vault.cli.options import (
    ENV_NEW_PASSPHRASE,
    ENV_PASSPHRASE,
    HomeOpt,
    JsonOpt,
    PassFileOpt,
    open_vault,
    read_passphrase,
)
from vault.home.lock import running_pid
from vault.home.paths import VaultPaths, resolve_home

if TYPE_CHECKING:  # imported where used: `kluis --help` must not unlock anything
    from vault.services.trail import RolledBackRecord
    from vault.store.audit import AuditEntry

__all__ = ["register"]


def init(home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """Create a new vault: a fresh identity, an empty profile, an audit log.

    Refuses to overwrite an existing vault, and refuses a folder that holds
    other files (a config.toml alone is fine), as kluis import does. The
    passphrase is asked twice unless it comes from --passphrase-file or
    $KLUIS_PASSPHRASE.
    """
    from vault.store.vault import Vault, check_new_passphrase

    folder = resolve_home(home)
    paths = VaultPaths(folder)
    if not paths.exists() and not paths.is_empty():
        raise VaultExists(folder, "KLUIS_HOME is not empty:")
    passphrase = read_passphrase(passphrase_file, confirm=True, prompt="New passphrase")
    check_new_passphrase(passphrase)
    with stderr().status("Creating the vault (Argon2id)…"):
        vault = Vault.create(folder, passphrase)
    with vault:
        out = stdout()
        out.print(f"created vault in {folder}", markup=False)
        out.print(f"identity: {vault.peer_id}", markup=False)


def show_id(
    home: HomeOpt = None, passphrase_file: PassFileOpt = None, json_out: JsonOpt = False
) -> None:
    """Print the vault's peer id (Ed25519), then its current addresses if it is running.

    The first line is always the peer id alone: a business needs nothing else to
    reach the vault through the DHT. Addresses follow, one per line, while
    `kluis start` runs (they are the node's, dialable: no 0.0.0.0).
    """
    if (client := node_client(home, passphrase_file)) is not None:
        status = client.get("status")
        peer_id, addrs, running = str(status["peer_id"]), list(status["addrs"]), True
    else:
        with open_vault(home, passphrase_file) as vault:
            peer_id, addrs, running = vault.peer_id, [], False
    if json_out:
        emit_json({"peer_id": peer_id, "addrs": addrs, "running": running})
        return
    sys.stdout.write(peer_id + "\n")
    for addr in addrs:
        sys.stdout.write(addr + "\n")
    if not running:
        stderr().print(
            "(not running: no current addresses; `kluis start` listens on them)", markup=False
        )


SET_SHORT_HELP = (
    "Set a profile field; the value is typed and validated (nothing is stored if it is refused)."
)


def set_help() -> str:
    """``kluis set --help``: it lists the schema's fields, so it is built when shown."""
    from vault.store.schema import schema_paths

    return (
        SET_SHORT_HELP + "\n\n"
        "Fields: " + ", ".join(schema_paths()) + ".\n\n"
        "Labels and keys are lowercase slugs (home, work, newsletter). Lists (interests) are "
        "comma-separated; preferences and custom values may be true/false, integers or text.\n\n"
        "A VALUE of - reads the value from standard input (a hidden prompt on a terminal), so "
        "it stays out of the process list and the shell's history."
    )


class _SetCommand(TyperCommand):
    """``kluis set``, whose help is read when shown: building it imports the profile
    schema (pydantic), which ``kluis --help`` must not pay for."""

    @property
    def help(self) -> str:
        return set_help()

    @help.setter
    def help(self, value: str | None) -> None:
        pass  # click stores the help it was given; this command computes its own


#: The most a value read from standard input may be; the profile's own limits are far lower.
STDIN_VALUE_MAX = 64 * 1024


def _value_from_stdin(path: str, passphrase_file: Path | None) -> str:
    """``kluis set PATH -``: the value from stdin, never from argv (ps, shell history)."""
    if sys.stdin.isatty():
        typed: str = typer.prompt(f"Value for {path}", hide_input=True, err=True)
        return typed
    if passphrase_file is None and not os.environ.get(ENV_PASSPHRASE):
        raise VaultError(
            "the value comes from standard input, so give the passphrase with "
            f"${ENV_PASSPHRASE} or --passphrase-file"
        )
    data = sys.stdin.read(STDIN_VALUE_MAX + 1)
    if len(data) > STDIN_VALUE_MAX:
        raise VaultError(f"the value on standard input is longer than {STDIN_VALUE_MAX} characters")
    return data.removesuffix("\n").removesuffix("\r")


def set_field(
    path: Annotated[str, typer.Argument(help="Dotted field path, e.g. contact.email.")],
    value: Annotated[str, typer.Argument(help="The new value, or - to read it from stdin.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    from vault.store.schema import parse_text, validate_value

    if value == "-":
        value = _value_from_stdin(path, passphrase_file)
    validate_value(path, parse_text(path, value))  # fail before unlocking: nothing touched
    if (client := node_client(home, passphrase_file)) is not None:  # D2: through the running node
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


def get_field(
    path: Annotated[str, typer.Argument(help="Dotted field path.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one field's value (lists comma-separated)."""
    from vault.store.schema import format_value, resolve

    resolve(path)  # fail before unlocking: nothing touched
    if (client := node_client(home, passphrase_file)) is not None:
        field = client.get(f"profile/{path}")
        if as_json:
            emit_json(field)
        else:
            sys.stdout.write(format_value(field["value"]) + "\n")
        return
    with open_vault(home, passphrase_file) as vault:
        value = vault.profile.get(path)
        if as_json:
            rec = vault.profile.record(path)
            assert rec is not None
            emit_json(rec.to_json())
        else:
            sys.stdout.write(format_value(value) + "\n")


def unset(
    path: Annotated[str, typer.Argument(help="Dotted field path.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Remove a field's value (its version history goes on)."""
    from vault.store.schema import resolve

    resolve(path)  # fail before unlocking: nothing touched
    if (client := node_client(home, passphrase_file)) is not None:
        done = client.delete(f"profile/{path}")
        stdout().print(f"{path} unset (version {done['version']})", markup=False)
        return
    with open_vault(home, passphrase_file) as vault:
        rec = vault.profile.unset(path)
        stdout().print(f"{path} unset (version {rec.version})", markup=False)


def show(
    prefix: Annotated[str | None, typer.Argument(help="Only this subtree, e.g. address.")] = None,
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List profile fields with their version and last change.

    A record that fails authentication is reported by name; the rest are shown.
    """
    from vault.store.profile import ProfileField
    from vault.store.schema import format_value

    if (client := node_client(home, passphrase_file)) is not None:
        query = f"?prefix={prefix}" if prefix else ""
        data = client.get(f"profile{query}")
        fields = [
            ProfileField(f["path"], f["value"], f["version"], f["updated_at"])
            for f in data["fields"]
        ]
        errors = [CorruptRecord(name) for name in data["corrupt"]]
    else:
        with open_vault(home, passphrase_file) as vault:
            errors = []
            fields = vault.profile.fields(prefix, errors=errors)
    if as_json:
        emit_json({"fields": [f.to_json() for f in fields], "corrupt": [e.name for e in errors]})
    else:
        from rich.table import Table

        table = Table(title="profile", title_justify="left")
        for column in ("field", "value", "version", "updated (UTC)"):
            table.add_column(column)
        for f in fields:
            assert f.value is not None
            table.add_row(
                *map(
                    inert,
                    (
                        f.path,
                        format_value(f.value),
                        str(f.version),
                        format_ms(f.updated_at, SECOND),
                    ),
                )
            )
        if not fields:
            table.add_row("(empty)", "", "", "")
        stdout().print(table)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise VaultError(f"{len(errors)} corrupt records: " + ", ".join(e.name for e in errors))


def _details(entry: AuditEntry) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(entry.details.items()))


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
    from vault.services.grantbook import GrantBook
    from vault.store.audit import AuditEntry, VerifyReport

    report: VerifyReport | None
    rolled_back: list[RolledBackRecord] = []
    if (client := node_client(home, passphrase_file)) is not None:  # D2: through the running node
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
        with open_vault(home, passphrase_file, inspect=verify) as vault:
            report = vault.audit.verify() if verify else None
            if verify:
                rolled_back = GrantBook(vault).rolled_back
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
            data["rolled_back"] = [{"kind": r.kind, "id": r.name} for r in rolled_back]
        emit_json(data)
    else:
        from rich.table import Table

        table = Table(title="audit log", title_justify="left")
        for column in ("seq", "time (UTC)", "kind", "details"):
            table.add_column(column)
        for e in entries:
            table.add_row(
                *map(inert, (str(e.seq), format_ms(e.timestamp, SECOND), e.kind, _details(e)))
            )
        out = stdout()
        out.print(table)
        if report is not None:
            if report.ok:
                out.print(f"chain intact: {report.checked} entries verified", markup=False)
            else:
                out.print(f"chain BROKEN at seq {report.first_bad}: {report.reason}", markup=False)
    for record in rolled_back:
        stderr().print(f"error: {record.message}", markup=False)
    if report is not None and not report.ok:
        stderr().print(
            f"error: audit chain broken at seq {report.first_bad}: {report.reason}", markup=False
        )
    if (report is not None and not report.ok) or rolled_back:
        raise typer.Exit(EXIT_VERIFY_FAILED)


def export_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write an encrypted backup (sealed under your passphrase, fresh salt)."""
    from vault.store.vault import Vault

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


def import_backup(
    file: Annotated[Path, typer.Argument(help="A backup made by `kluis export`.")],
    home: HomeOpt = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Restore a backup into an empty KLUIS_HOME: same identity, profile and audit chain."""
    from vault.store.vault import Vault

    folder = resolve_home(home)
    passphrase = read_passphrase(passphrase_file, prompt="Backup passphrase")
    with stderr().status("Opening the backup (Argon2id)…"):
        vault = Vault.restore(folder, file, passphrase)
    with vault:
        stdout().print(f"restored vault {vault.peer_id} into {folder}", markup=False)


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
    """Change the passphrase that unlocks the vault.

    What it does: the data key is rewrapped under a key derived from the new
    passphrase (with a fresh salt and today's Argon2id costs, so older vaults are
    upgraded), and keyfile.json is replaced atomically. No record is re-encrypted.

    What it protects: from now on this keyfile opens only with the new
    passphrase.

    What it does not protect: the data key stays the same. An old copy of
    keyfile.json (a backup, a synced folder) together with the old passphrase
    still unlocks the current vault.db, and so does anyone who already learned
    the data key. If the old passphrase may have leaked, run `kluis rekey`
    afterwards: it rotates the data key and re-seals every record.
    """
    from vault.store.vault import Vault, check_new_passphrase

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


def rekey(home: HomeOpt = None, passphrase_file: PassFileOpt = None) -> None:
    """Rotate the data key and re-seal every record and audit entry under the new one.

    After this, old copies of keyfile.json (with any passphrase they had) open
    nothing in vault.db. Run it after a passphrase may have leaked. Safe to
    interrupt: the next open (or `kluis rekey` again) finishes the rotation.
    The node must be stopped: the data key lives in its memory. Audited.
    """
    from vault.store.vault import Vault

    folder = resolve_home(home)
    if (pid := running_pid(folder)) is not None:
        raise VaultError(
            f"the vault is in use by a running node (pid {pid or 'unknown'}); stop it first: "
            "it holds the data key in memory"
        )
    passphrase = read_passphrase(passphrase_file)
    with stderr().status("Unlocking the vault (Argon2id)…"):
        vault = Vault.open(folder, passphrase)
    with vault:
        if vault.resumed_rekey:
            stdout().print("finished a key rotation that had been interrupted", markup=False)
            return
        status = stderr().status("Re-sealing under a new data key…")

        def progress(done: int, total: int) -> None:
            status.update(f"Re-sealing under a new data key… {done}/{total} rows")

        with status:
            counts = vault.rekey(passphrase, progress=progress)
    note = f", {counts.unreadable} unreadable rows left as they were" if counts.unreadable else ""
    stdout().print(
        f"data key rotated: {counts.records} records and {counts.audit_entries} audit entries "
        f"re-sealed{note}",
        markup=False,
    )


def _is_set(client: Any, path: str) -> bool:
    try:
        client.get(f"profile/{path}")
    except KluisError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            return False
        raise
    return True


def register(target: typer.Typer) -> None:
    """Add these commands to the ``kluis`` app (called once by :mod:`vault.cli.main`)."""
    target.command()(init)
    target.command("id")(show_id)
    target.command("set", cls=_SetCommand, short_help=SET_SHORT_HELP)(set_field)
    target.command("get")(get_field)
    target.command()(unset)
    target.command()(show)
    target.command()(audit)
    target.command("export")(export_backup)
    target.command("import")(import_backup)
    target.command()(passphrase)
    target.command()(rekey)
