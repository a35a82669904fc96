"""The options every command shares, and how the passphrase and the vault are obtained."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vault._exceptions import VaultError
from vault.cli.console import note
from vault.home.lock import running_pid
from vault.home.paths import resolve_home

if TYPE_CHECKING:
    from vault.store.vault import Vault

__all__ = [
    "ENV_NEW_PASSPHRASE",
    "ENV_PASSPHRASE",
    "BootstrapOpt",
    "HomeOpt",
    "JsonOpt",
    "PassFileOpt",
    "check_new_file",
    "check_peer_id",
    "open_vault",
    "read_passphrase",
    "split_csv",
]

ENV_PASSPHRASE = "KLUIS_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)


ENV_NEW_PASSPHRASE = "KLUIS_NEW_PASSPHRASE"  # noqa: S105


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


BootstrapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--bootstrap",
        help="Bootstrap peer multiaddr, e.g. a `kluis relay` (repeatable; adds to "
        "config.toml's [network] bootstrap). Turns on finding peers by peer id (DHT), "
        "relays and hole punching.",
        show_default=False,
    ),
]


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


def open_vault(home: Path | None, passphrase_file: Path | None, *, inspect: bool = False) -> Vault:
    """Resolve the folder, get the passphrase, and unlock with a spinner (Argon2id).

    ``inspect`` opens a vault that may have been rolled back, to report on it
    (``kluis audit --verify``): no rollback refusal, and then no unlock entry.
    """
    from vault.store.vault import Vault

    folder = resolve_home(home)
    _refuse_if_running(folder)
    passphrase = read_passphrase(passphrase_file)
    with note("Unlocking the vault (Argon2id)…"):
        if inspect:
            return Vault.open(folder, passphrase, check_rollback=False)
        return Vault.open(folder, passphrase)


def _refuse_if_running(folder: Path) -> None:
    """D2: while `kluis start` runs, the node is the only writer of the store."""

    pid = running_pid(folder)
    if pid is not None:
        raise VaultError(
            f"the vault is in use by a running node (pid {pid or 'unknown'}); "
            "stop it first, or use a command that goes through it"
        )


def split_csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def check_new_file(target: Path) -> None:
    """Refuse, before any work, a file an export cannot create: one line, not a traceback."""
    if target.exists():
        raise VaultError(f"{target} exists already; choose another file")
    parent = target.parent
    if not parent.is_dir():
        raise VaultError(f"cannot write {target}: the folder {parent} does not exist")


def check_peer_id(text: str) -> None:
    """Refuse what is not an Ed25519 peer id (``12D3KooW…``), naming it, in one line."""
    from protocol import SignatureError
    from protocol.signing import public_key_from_peer_id

    try:
        public_key_from_peer_id(text)
    except SignatureError:
        raise VaultError(
            f"{text[:80]!r} is not a peer id (they look like 12D3KooW…; see `kluis grants`)"
        ) from None
