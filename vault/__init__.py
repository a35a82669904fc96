"""kluis vault: the customer's node and the requester SDK.

It holds the store, profile, policy, audit log, local API and CLI. Public names
of the encrypted vault are re-exported here; the CLI lives in :mod:`vault.cli.main`
and is not imported by default (it pulls in typer).
"""

from typing import TYPE_CHECKING

from protocol.reexport import lazy_exports

if TYPE_CHECKING:
    from protocol.clock import Clock
    from vault._exceptions import (
        AuditError,
        BackupError,
        CorruptRecord,
        FieldNotSet,
        InvalidValue,
        StorageError,
        UnknownField,
        VaultError,
        VaultExists,
        VaultNotFound,
        WeakPassphrase,
        WrongPassphrase,
    )
    from vault.home.paths import VaultPaths, default_home, resolve_home
    from vault.store.audit import AuditEntry, AuditLog, VerifyReport
    from vault.store.profile import ChangeListener, Profile, ProfileField
    from vault.store.records import Store
    from vault.store.vault import Vault

#: module -> the public names it defines; imported on first use (PEP 562).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "protocol.clock": ("Clock",),
    "vault._exceptions": (
        "AuditError",
        "BackupError",
        "CorruptRecord",
        "FieldNotSet",
        "InvalidValue",
        "StorageError",
        "UnknownField",
        "VaultError",
        "VaultExists",
        "VaultNotFound",
        "WeakPassphrase",
        "WrongPassphrase",
    ),
    "vault.home.paths": ("VaultPaths", "default_home", "resolve_home"),
    "vault.store.audit": ("AuditEntry", "AuditLog", "VerifyReport"),
    "vault.store.profile": ("ChangeListener", "Profile", "ProfileField"),
    "vault.store.records": ("Store",),
    "vault.store.vault": ("Vault",),
}

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "BackupError",
    "ChangeListener",
    "Clock",
    "CorruptRecord",
    "FieldNotSet",
    "InvalidValue",
    "Profile",
    "ProfileField",
    "StorageError",
    "Store",
    "UnknownField",
    "Vault",
    "VaultError",
    "VaultExists",
    "VaultNotFound",
    "VaultPaths",
    "VerifyReport",
    "WeakPassphrase",
    "WrongPassphrase",
    "default_home",
    "resolve_home",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
