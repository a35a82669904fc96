"""The vault: wires the key hierarchy, the sealed store, the profile and the audit log.

:meth:`Vault.create`, :meth:`Vault.open` and :meth:`Vault.restore` are the only
ways in; each returns an unlocked vault (use it as a context manager, or call
:meth:`Vault.close`). Unlocking is the slow step (Argon2id) and is audited:
every open appends a ``vault.unlock`` entry.

Order of operations, and why:

* **open** reads ``keyfile.json`` and unwraps the data key *before* SQLite is
  touched, so a wrong passphrase changes no byte under ``KLUIS_HOME``. Opening
  never walks or decrypts the audit chain or the profile: it opens the identity
  seed, the audit head and the one entry the high-water mark names, and
  refuses a chain that ends below that mark (rollback, docs/storage.md).
* **create** writes the database first, then the mark, and the keyfile last: a
  crash half-way leaves no keyfile, so the folder is not mistaken for a vault.
* **change_passphrase** rewraps the data key and atomically replaces the
  keyfile; no record is re-encrypted. **rekey** rotates the data key itself
  and re-seals every row (:mod:`vault.store.rekey`).

Time (``clock``, integer ms) and randomness (``rng``) are injectable for tests.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from protocol import Identity
from protocol.clock import Clock, now_ms
from vault._exceptions import (
    CorruptRecord,
    StorageError,
    VaultExists,
    WeakPassphrase,
    WrongPassphrase,
)
from vault.home.paths import VaultPaths
from vault.store.audit import AuditLog
from vault.store.backup import Snapshot, read_backup, write_backup
from vault.store.crypto import (
    KEY_BYTES,
    CryptoFailure,
    KdfParams,
    Keyring,
    Rng,
    SecretKey,
    derive_kek,
    encode_passphrase,
)
from vault.store.db import AnyDatabase, Database, open_database
from vault.store.highwater import HighWaterMark, RollbackDetected
from vault.store.keyfile import Keyfile, read_keyfile
from vault.store.profile import Profile
from vault.store.records import Store
from vault.store.rekey import Progress, RekeyCounts, convert

__all__ = ["MIN_PASSPHRASE_LENGTH", "Vault", "check_new_passphrase"]

MIN_PASSPHRASE_LENGTH = 8
IDENTITY_KIND = "identity"
IDENTITY_NAME = "seed"


def check_new_passphrase(passphrase: str) -> None:
    """Refuse passphrases that Argon2id cannot save: empty or very short."""
    if len(passphrase.strip()) < MIN_PASSPHRASE_LENGTH:
        raise WeakPassphrase(f"a passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters")


def _unlock(paths: VaultPaths, passphrase: str) -> tuple[Keyfile, SecretKey, SecretKey]:
    """Read the keyfile and run the KDF: ``(keyfile, kek, data key)``. Touches no other file."""
    keyfile = read_keyfile(paths)
    kek = derive_kek(passphrase, keyfile.params)
    try:
        return keyfile, kek, keyfile.unwrap(kek)
    except CryptoFailure as exc:
        raise WrongPassphrase() from exc


class Vault:
    """An unlocked vault. Construct with :meth:`create`, :meth:`open` or :meth:`restore`."""

    def __init__(
        self,
        paths: VaultPaths,
        db: AnyDatabase,
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
        self.mark = HighWaterMark(paths.hwm, keyring.hwm_key)
        db.on_flush(lambda: self.mark.before_flush())  # late-bound: rekey swaps the mark
        self.audit = AuditLog(db, self.store, keyring.sealer, identity, clock, mark=self.mark)
        self.profile = Profile(self.store, self.audit, clock)
        self.resumed_rekey = False  # this open finished a rotation a crash had interrupted
        self._closed = False
        # is_passphrase(): HMAC of the passphrase under a key that lives only in memory
        self._pass_key = os.urandom(32)  # not `rng`: a test's seeded rng stays as it was
        self._pass_mac: bytes | None = None

    def _remember_passphrase(self, passphrase: str) -> None:
        self._pass_mac = self._passphrase_mac(passphrase)

    def _passphrase_mac(self, passphrase: str) -> bytes:
        return hmac.new(self._pass_key, encode_passphrase(passphrase), "sha256").digest()

    def is_passphrase(self, given: str) -> bool:
        """Whether ``given`` is the passphrase this vault was opened (or last changed) with,
        in microseconds, without the KDF (D39).

        The vault keeps no passphrase: only an HMAC-SHA256 of it under a random key
        held in memory beside the data key, which is worth more. A False is final
        for the phrase as typed; a caller that must be sure (NFC aside, nothing
        else differs) runs the KDF (:meth:`unlock_keyring`).
        """
        if self._pass_mac is None:
            return False
        return hmac.compare_digest(self._passphrase_mac(given), self._pass_mac)

    # -- ways in -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        home: Path,
        passphrase: str,
        *,
        clock: Clock = now_ms,
        rng: Rng = os.urandom,
        kdf_params: KdfParams | None = None,
        store: str | None = None,
    ) -> Vault:
        """Make a new vault in ``home`` (refuses to overwrite one) and return it unlocked.

        ``store`` (a ``postgresql://`` URL) keeps the sealed records and the audit
        chain in PostgreSQL instead of ``home/vault.db``; ``home`` still holds the
        keyfile and the high-water mark (D28). A database that already holds a
        store is refused.
        """
        check_new_passphrase(passphrase)
        paths = VaultPaths(Path(home))
        if paths.keyfile.exists() or paths.database.exists():
            raise VaultExists(paths.home)
        params = kdf_params or KdfParams.fresh(rng)
        params.check_strength()
        keyring = Keyring.generate(rng)
        keyfile = Keyfile.seal(derive_kek(passphrase, params), params, keyring.data_key, rng=rng)
        try:
            paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"cannot create {paths.home}: {exc.strerror}") from exc
        db = open_database(paths.database, store, create=True)
        try:
            if store is not None and Store(db, keyring).count(IDENTITY_KIND) > 0:
                raise VaultExists(db.path, "a store already exists in", hint="open it instead")
            identity = Identity(rng(32))
            vault = cls(paths, db, keyring, identity, clock=clock, rng=rng)
            vault._remember_passphrase(passphrase)
            with db.transaction():
                vault.store.put(IDENTITY_KIND, IDENTITY_NAME, identity.seed())
                vault.audit.append("vault.create", {"peer_id": identity.peer_id})
            vault.mark.create(*vault.audit.head())
            keyfile.write(paths)
        except BaseException:
            db.close()
            for path in (paths.keyfile, paths.database, paths.hwm):
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
        clock: Clock = now_ms,
        rng: Rng = os.urandom,
        audit_unlock: bool = True,
        check_rollback: bool = True,
        store: str | None = None,
    ) -> Vault:
        """Unlock the vault in ``home``. A wrong passphrase touches no file.

        The audit log is checked against its high-water mark
        (:class:`~vault.store.highwater.RollbackDetected` if rows were rolled
        back). ``check_rollback=False`` is for ``kluis audit --verify`` only,
        which opens a suspect vault to report on it; it then adds no audit entry.
        An interrupted ``kluis rekey`` is finished first (:mod:`vault.store.rekey`).
        ``store``: the PostgreSQL database the records are in (see :meth:`create`);
        a worker's home opening it for the first time starts its mark at the
        chain's current head (D28).
        """
        paths = VaultPaths(Path(home))
        keyfile, kek, data_key = _unlock(paths, passphrase)
        keyring = Keyring(data_key, rng)
        try:
            next_key = keyfile.unwrap_next(kek)
        except CryptoFailure as exc:
            raise StorageError(f"the pending key in {paths.keyfile} is damaged") from exc
        db = open_database(paths.database, store)
        try:
            previous: Keyring | None = None
            if next_key is not None:  # a `kluis rekey` was interrupted: carry it through
                previous, keyring = keyring, Keyring(next_key, rng)
                convert(db, previous, keyring)
            records = Store(db, keyring)
            seed = records.get(IDENTITY_KIND, IDENTITY_NAME)
            if seed is None or len(seed) != 32:
                if seed is None and records.count(IDENTITY_KIND) > 0:  # a row, not at our id
                    raise StorageError(
                        "this keyfile's data key opens nothing in the vault database "
                        "(an old keyfile? `kluis rekey` retires old keys)"
                    )
                raise CorruptRecord("identity", kind=IDENTITY_KIND)
            vault = cls(paths, db, keyring, Identity(seed), clock=clock, rng=rng)
            vault._remember_passphrase(passphrase)
            try:
                if previous is not None:
                    vault._finish_rekey(previous, kek, keyfile.params, resumed=True)
                elif keyfile.version == 1:
                    vault._upgrade_keyfile(keyfile, kek)
                elif store is not None and not vault.mark.exists():
                    vault.mark.create(*vault.audit.head())  # a new worker's home (D28)
                else:
                    vault.audit.check_floor()
            except RollbackDetected:
                if check_rollback:
                    raise
                audit_unlock = False  # opened to report on it: add nothing to a suspect chain
            if audit_unlock:
                vault.audit.append("vault.unlock")
        except BaseException:
            db.close()
            raise
        return vault

    def _upgrade_keyfile(self, keyfile: Keyfile, kek: SecretKey) -> None:
        """A v1 vault gets its high-water mark, then a v2 keyfile (same KEK, no Argon2id run).

        Before v2 there was no mark, so the first open trusts the chain as it is
        (docs/storage.md, "Rollback").
        """
        if self.mark.exists():  # a crash came between the two steps last time
            self.audit.check_floor()
        else:
            self.mark.create(*self.audit.head())
        Keyfile.seal(kek, keyfile.params, self._keyring.data_key, rng=self._rng).write(self.paths)

    def rekey(self, passphrase: str, *, progress: Progress | None = None) -> RekeyCounts:
        """Rotate the data key: re-seal every record and audit row under a new one. Audited.

        Crash-safe and resumable (see :mod:`vault.store.rekey`); an open after a
        crash finishes the rotation. The passphrase is checked against the
        keyfile, and the new keyfile gets today's Argon2id costs and a fresh salt.
        Afterwards an old ``keyfile.json`` with an old passphrase opens nothing.
        """
        keyfile, _, data_key = _unlock(self.paths, passphrase)
        if data_key != self._keyring.data_key or keyfile.next_wrapped is not None:
            raise StorageError("the keyfile changed while the vault was open; open it again")
        self.audit.check_floor()
        params = KdfParams.fresh(self._rng)
        kek = derive_kek(passphrase, params)
        new = Keyring(SecretKey(self._rng(KEY_BYTES)), self._rng)
        self.audit.append("key.rotate", {"phase": "start"})
        Keyfile.seal(kek, params, data_key, next_key=new.data_key, rng=self._rng).write(self.paths)
        # From here on a crash is finished by the next open.
        previous = self._keyring
        counts = convert(self._db, previous, new, progress=progress)
        self._use_keyring(new)
        return self._finish_rekey(previous, kek, params, resumed=False, counts=counts)

    def _use_keyring(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self.store.use_keyring(keyring)
        self.mark = HighWaterMark(self.paths.hwm, keyring.hwm_key)
        self.audit.use_sealer(keyring.sealer, self.mark)

    def _finish_rekey(
        self,
        previous: Keyring,
        kek: SecretKey,
        params: KdfParams,
        *,
        resumed: bool,
        counts: RekeyCounts | None = None,
    ) -> RekeyCounts:
        """Steps after the rows are converted: mark under the new key, keyfile, audit entry.

        The mark may still be under the old key (a crash before it was rewritten):
        it is checked under whichever key it authenticates with, *then* rewritten,
        so a rollback made during the rotation is still caught.
        """
        try:
            floor = self.mark.read()
        except RollbackDetected:
            floor = HighWaterMark(self.paths.hwm, previous.hwm_key).read()
        self.audit.check_floor(floor)
        self.mark.create(*self.audit.head())
        Keyfile.seal(kek, params, self._keyring.data_key, rng=self._rng).write(self.paths)
        self.resumed_rekey = resumed
        counts = counts or RekeyCounts()
        self.audit.append(
            "key.rotate",
            {
                "phase": "finish",
                "resumed": resumed,
                "records": counts.records,
                "audit_entries": counts.audit_entries,
                "unreadable": counts.unreadable,
            },
        )
        return counts

    @staticmethod
    def unlock_keyring(paths: VaultPaths, passphrase: str, *, rng: Rng = os.urandom) -> Keyring:
        """Run the KDF and unwrap the data key (the slow, file-read-only half of open)."""
        return Keyring(_unlock(paths, passphrase)[2], rng)

    @classmethod
    def restore(
        cls,
        home: Path,
        backup: Path,
        passphrase: str,
        *,
        clock: Clock = now_ms,
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
        keyfile = Keyfile.seal(derive_kek(passphrase, params), params, keyring.data_key, rng=rng)
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
            # The backup's head becomes the new floor: import is the explicit way back.
            seed = Store(db, keyring).get(IDENTITY_KIND, IDENTITY_NAME)
            if seed is None or len(seed) != 32:
                raise CorruptRecord("identity", kind=IDENTITY_KIND)
            restored = cls(paths, db, keyring, Identity(seed), clock=clock, rng=rng)
            restored.mark.create(*restored.audit.head())
            db.close()
            db = None
            keyfile.write(paths)
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
        kek = derive_kek(new_passphrase, params)
        Keyfile.seal(kek, params, self._keyring.data_key, rng=self._rng).write(self.paths)
        self._remember_passphrase(new_passphrase)
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
