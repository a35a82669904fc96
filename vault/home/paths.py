"""Where a vault lives: ``KLUIS_HOME``, or the platform's per-user data folder.

One folder holds one vault::

    KLUIS_HOME/
      keyfile.json     Argon2id parameters + salt, and the wrapped data key
      vault.db         SQLite (WAL): sealed records and the sealed audit log
      audit.hwm        the audit chain's sealed high-water mark (rollback check)
      vault.db-wal     present while the vault is open (or after a crash)
      vault.db-shm

The keyfile is written last when a vault is created, so its presence is what
makes a folder "a vault"; it is also read (and the passphrase checked) before
the database is opened, so a wrong passphrase touches no file at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = [
    "CONFIG_FILE",
    "ENV_HOME",
    "TOKEN_FILE",
    "URL_FILE",
    "VaultPaths",
    "default_home",
    "resolve_home",
]

ENV_HOME = "KLUIS_HOME"
#: The node's settings (D14), the one file under KLUIS_HOME that is not sealed.
CONFIG_FILE = "config.toml"
#: The running node's control API: its bearer token and its URL (written by the node,
#: read by the CLI; here so that reading them does not import the server).
TOKEN_FILE = "control.token"  # noqa: S105 (a file name)
URL_FILE = "control.url"


def default_home() -> Path:
    """The per-user data folder for "kluis" (e.g. ``~/.local/share/kluis`` on Linux)."""
    return platformdirs.user_data_path("kluis", appauthor=False)


def resolve_home(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """An explicit folder wins, then ``KLUIS_HOME``, then :func:`default_home`."""
    if explicit:
        return Path(explicit).expanduser()
    value = (os.environ if env is None else env).get(ENV_HOME)
    return Path(value).expanduser() if value else default_home()


@dataclass(frozen=True, slots=True)
class VaultPaths:
    """The files of the vault in ``home``."""

    home: Path

    @property
    def keyfile(self) -> Path:
        return self.home / "keyfile.json"

    @property
    def database(self) -> Path:
        return self.home / "vault.db"

    @property
    def hwm(self) -> Path:
        return self.home / "audit.hwm"

    def exists(self) -> bool:
        return self.keyfile.exists()

    def is_empty(self) -> bool:
        """True if the folder is missing or holds nothing but ``config.toml``.

        ``config.toml`` (D14) may be written before ``kluis init``: it holds
        settings, not data, so a folder with only it is still a place for a new
        vault. Anything else there might be someone's files.
        """
        if not self.home.exists():
            return True
        return all(p.name == CONFIG_FILE for p in self.home.iterdir())

    def all_files(self) -> list[Path]:
        """Every file under the folder (used by tests that grep for plaintext)."""
        return sorted(p for p in self.home.rglob("*") if p.is_file())
