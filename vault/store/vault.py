"""The vault: wires the key hierarchy, the sealed store, the profile and the audit log.

:meth:`Vault.create`, :meth:`Vault.open` and :meth:`Vault.restore` are the only
ways in; each returns an unlocked vault (use it as a context manager, or call
:meth:`Vault.close`). Unlocking is the slow step (Argon2id) and is audited:
every open appends a ``vault.unlock`` entry.

Order of operations, and why:

* **open** reads ``keyfile.json`` and unwraps the data key *before* SQLite is
  touched, so a wrong passphrase changes no byte under ``KLUIS_HOME``. Opening
  never walks or decrypts the audit chain or the profile: it opens the identity
  seed and the audit head, two records.
* **create** writes the database first and the keyfile last: a crash half-way
  leaves no keyfile, so the folder is not mistaken for a working vault.
* **change_passphrase** rewraps the data key and atomically replaces the
  keyfile; no record is re-encrypted.

Time (``clock``, integer ms) and randomness (``rng``) are injectable for tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from protocol import CanonicalError, Identity, canonical_dumps, canonical_loads
from vault._exceptions import (
    CorruptRecord,
    StorageError,
    VaultError,
    VaultExists,
    VaultNotFound,
    WeakPassphrase,
    WrongPassphrase,
)
from vault.home.atomic import atomic_write
from vault.home.paths import VaultPaths
from vault.store.audit import AuditLog, Clock, wall_clock_ms
from vault.store.backup import Snapshot, read_backup, write_backup
from vault.store.crypto import (
    CryptoFailure,
    KdfParams,
    Keyring,
    Rng,
    derive_kek,
    unwrap_key,
    wrap_key,
)
from vault.store.db import Database
from vault.store.profile import Profile
from vault.store.records import Store

__all__ = ["MIN_PASSPHRASE_LENGTH", "Vault", "check_new_passphrase"]

KEYFILE_FORMAT = "kluis-keyfile-v1"
MIN_PASSPHRASE_LENGTH = 8
IDENTITY_KIND = "identity"
IDENTITY_NAME = "seed"


def check_new_passphrase(passphrase: str) -> None:
    """Refuse passphrases that Argon2id cannot save: empty or very short."""
    if len(passphrase.strip()) < MIN_PASSPHRASE_LENGTH:
        raise WeakPassphrase(f"a passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters")


def _keyfile_bytes(params: KdfParams, wrapped: bytes) -> bytes:
    return (
        canonical_dumps(
            {"format": KEYFILE_FORMAT, "kdf": params.to_json(), "wrapped_key": wrapped.hex()}
        )
        + b"\n"
    )


def _read_keyfile(paths: VaultPaths) -> tuple[KdfParams, bytes]:
    if not paths.keyfile.exists():
        if paths.database.exists():
            raise StorageError(f"{paths.keyfile} is missing; the vault cannot be unlocked")
        raise VaultNotFound(paths.home)
    try:
        data = canonical_loads(paths.keyfile.read_bytes().strip())
        if data.get("format") != KEYFILE_FORMAT:
            raise StorageError(f"unsupported keyfile format in {paths.keyfile}")
        return KdfParams.from_json(data["kdf"]), bytes.fromhex(data["wrapped_key"])
    except StorageError:
        raise
    except (OSError, CanonicalError, VaultError, KeyError, AttributeError, ValueError) as exc:
        raise StorageError(f"unreadable keyfile {paths.keyfile}") from exc


class Vault:
    """An unlocked vault. Construct with :meth:`create`, :meth:`open` or :meth:`restore`."""

    def __init__(
        self,
        paths: VaultPaths,
        db: Database,
        keyring: Keyring,
        identity: Identity,
        *,
        clock: Clock,
        rng: Rng,
    ) -> None:
        self.paths = paths
        self._db = db
        self._keyring = keyring
        self._rng = rng
        self.clock = clock
        self.identity = identity
        self.store = Store(db, keyring)
        self.audit = AuditLog(db, self.store, keyring.sealer, identity, clock)
        self.profile = Profile(self.store, self.audit, clock)
        self._closed = False

    # -- ways in -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        home: Path,
        passphrase: str,
        *,
        clock: Clock = wall_clock_ms,
        rng: Rng = os.urandom,
        kdf_params: KdfParams | None = None,
    ) -> Vault:
        """Make a new vault in ``home`` (refuses to overwrite one) and return it unlocked."""
        check_new_passphrase(passphrase)
        paths = VaultPaths(Path(home))
        if paths.keyfile.exists() or paths.database.exists():
            raise VaultExists(paths.home)
        params = kdf_params or KdfParams.fresh(rng)
        params.check_strength()
        keyring = Keyring.generate(rng)
        wrapped = wrap_key(derive_kek(passphrase, params), keyring.data_key, rng)
        try:
            paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"cannot create {paths.home}: {exc.strerror}") from exc
        db = Database.open(paths.database, create=True)
        try:
            identity = Identity(rng(32))
            vault = cls(paths, db, keyring, identity, clock=clock, rng=rng)
            with db.transaction():
                vault.store.put(IDENTITY_KIND, IDENTITY_NAME, identity.seed())
                vault.audit.append("vault.create", {"peer_id": identity.peer_id})
            atomic_write(paths.keyfile, _keyfile_bytes(params, wrapped))
        except BaseException:
            db.close()
            for path in (paths.keyfile, paths.database):
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        return vault

    @classmethod
    def open(
        cls,
        home: Path,
        passphrase: str,
        *,
        clock: Clock = wall_clock_ms,
        rng: Rng = os.urandom,
        audit_unlock: bool = True,
    ) -> Vault:
        """Unlock the vault in ``home``. A wrong passphrase touches no file."""
        paths = VaultPaths(Path(home))
        keyring = cls.unlock_keyring(paths, passphrase, rng=rng)
        db = Database.open(paths.database)
        try:
            store = Store(db, keyring)
            seed = store.get(IDENTITY_KIND, IDENTITY_NAME)
            if seed is None or len(seed) != 32:
                raise CorruptRecord("identity", kind=IDENTITY_KIND)
            vault = cls(paths, db, keyring, Identity(seed), clock=clock, rng=rng)
            if audit_unlock:
                vault.audit.append("vault.unlock")
        except BaseException:
            db.close()
            raise
        return vault

    @staticmethod
    def unlock_keyring(paths: VaultPaths, passphrase: str, *, rng: Rng = os.urandom) -> Keyring:
        """Run the KDF and unwrap the data key (the slow, file-read-only half of open)."""
        params, wrapped = _read_keyfile(paths)
        try:
            return Keyring(unwrap_key(derive_kek(passphrase, params), wrapped), rng)
        except CryptoFailure as exc:
            raise WrongPassphrase() from exc

    @classmethod
    def restore(
        cls,
        home: Path,
        backup: Path,
        passphrase: str,
        *,
        clock: Clock = wall_clock_ms,
        rng: Rng = os.urandom,
    ) -> Vault:
        """Rebuild a vault from a backup into an empty ``home``; same identity, data and chain.

        The backup is opened (and the passphrase checked) before anything is written.
        The new keyfile wraps the same data key under a fresh salt.
        """
        paths = VaultPaths(Path(home))
        if not paths.is_empty():
            raise VaultExists(paths.home, "KLUIS_HOME is not empty:")
        snap = read_backup(Path(backup), passphrase)
        keyring = Keyring(snap.data_key, rng)
        params = KdfParams.fresh(rng)
        wrapped = wrap_key(derive_kek(passphrase, params), keyring.data_key, rng)
        created_home = not paths.home.exists()
        try:
            paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"cannot create {paths.home}: {exc.strerror}") from exc
        db: Database | None = None
        try:
            db = Database.open(paths.database, create=True)
            with db.transaction():
                db.executemany(
                    "INSERT INTO records (kind, rid, sealed) VALUES (?, ?, ?)", snap.records
                )
                db.executemany("INSERT INTO audit (seq, sealed) VALUES (?, ?)", snap.audit)
            db.close()
            db = None
            atomic_write(paths.keyfile, _keyfile_bytes(params, wrapped))
            vault = cls.open(paths.home, passphrase, clock=clock, rng=rng, audit_unlock=False)
        except BaseException:
            if db is not None:
                db.close()
            if created_home:
                shutil.rmtree(paths.home, ignore_errors=True)
            else:
                for path in paths.all_files():
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise
        vault.audit.append("backup.import", {"entries": len(snap.audit)})
        return vault

    # -- operations ----------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One atomic commit for several store writes and audit entries."""
        return self._db.transaction()

    def shred_on_delete(self) -> bool:
        """From now on, deleted records are overwritten in the file, not merely freed.

        With :meth:`checkpoint` after a deletion, no page or WAL frame keeps the
        old content (crypto-shredding's second line; the business store uses it).
        True if it took effect.
        """
        return self._db.erase_freed_pages()

    def checkpoint(self) -> bool:
        """Fold the WAL into the database file and truncate it (not inside a transaction)."""
        return self._db.checkpoint()

    def change_passphrase(self, new_passphrase: str) -> None:
        """Rewrap the data key under a new passphrase. No record is re-encrypted."""
        check_new_passphrase(new_passphrase)
        params = KdfParams.fresh(self._rng)
        wrapped = wrap_key(derive_kek(new_passphrase, params), self._keyring.data_key, self._rng)
        atomic_write(self.paths.keyfile, _keyfile_bytes(params, wrapped))
        self.audit.append("passphrase.change")

    def snapshot(self) -> Snapshot:
        """A consistent copy of every sealed row, plus the data key (for a backup)."""
        with self._db.transaction():
            return Snapshot(
                self._keyring.data_key,
                list(self.store.raw_rows()),
                list(self.audit.raw_rows()),
            )

    def export_backup(self, path: Path, passphrase: str) -> Snapshot:
        """Write an encrypted backup of this vault to ``path``; audited before the copy."""
        self.audit.append("backup.export")
        snap = self.snapshot()
        write_backup(Path(path), snap, passphrase, created_at=self.clock(), rng=self._rng)
        return snap

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault({self.paths.home}, {self.identity.peer_id})"

    def __reduce__(self) -> Any:
        raise TypeError("a Vault cannot be pickled")
