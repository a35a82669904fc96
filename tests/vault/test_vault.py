"""Vault lifecycle through the API: create/open/restore errors, lazy open, no secrets in repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from vault import _exceptions as errors
from vault.store.vault import Vault

from .conftest import FakeClock, db_exec, file_hashes


def test_errors_are_local_errors() -> None:
    from protocol import KluisError, LocalError

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, LocalError) and issubclass(cls, KluisError)


def test_create_open_and_refusals(home: Path) -> None:
    with pytest.raises(errors.VaultNotFound):
        Vault.open(home, PASSPHRASE)
    with Vault.create(home, PASSPHRASE) as v:
        peer_id = v.peer_id
        assert PASSPHRASE not in repr(v) and v.identity.seed().hex() not in repr(v.identity)
    with pytest.raises(errors.VaultExists):
        Vault.create(home, PASSPHRASE)
    with pytest.raises(errors.WrongPassphrase):
        Vault.open(home, "another passphrase")
    with Vault.open(home, PASSPHRASE) as v:
        assert v.peer_id == peer_id


def test_missing_keyfile_is_reported(home: Path) -> None:
    Vault.create(home, PASSPHRASE).close()
    (home / "keyfile.json").unlink()
    with pytest.raises(errors.StorageError, match="keyfile"):
        Vault.open(home, PASSPHRASE)


def test_open_does_not_walk_the_chain_or_the_profile(home: Path) -> None:
    """Damage to old entries and other records does not stop an open: it reads two records."""
    with Vault.create(home, PASSPHRASE, clock=FakeClock()) as v:
        v.profile.set("name.given", "Anna")
        with v.transaction():
            for i in range(200):
                v.audit.append("test.event", {"i": i})
        rid = v.store.record_id("profile", "name.given")
    db_exec(home, "UPDATE audit SET sealed = x'00' WHERE seq = 5")
    db_exec(home, "UPDATE records SET sealed = x'00' WHERE rid = ?", (rid,))
    with Vault.open(home, PASSPHRASE) as v:
        assert len(v.audit) == 203  # create, set, 200, unlock
        assert v.audit.verify().first_bad == 5
        with pytest.raises(errors.CorruptRecord, match=r"name\.given"):
            v.profile.get("name.given")


def test_restore_with_wrong_passphrase_writes_nothing(home: Path, tmp_path: Path) -> None:
    with Vault.create(home, PASSPHRASE) as v:
        v.profile.set("name.given", "Anna")
        v.export_backup(tmp_path / "b.kluis", PASSPHRASE)
    target = tmp_path / "empty"
    target.mkdir()
    with pytest.raises(errors.BackupError, match="wrong passphrase"):
        Vault.restore(target, tmp_path / "b.kluis", "not the passphrase")
    assert list(target.iterdir()) == []
    with Vault.restore(target, tmp_path / "b.kluis", PASSPHRASE) as r:
        assert r.profile.get("name.given") == "Anna"
    before = file_hashes(target)
    with pytest.raises(errors.VaultExists):
        Vault.restore(target, tmp_path / "b.kluis", PASSPHRASE)
    assert file_hashes(target) == before


def test_damaged_backup_is_refused(home: Path, tmp_path: Path) -> None:
    with Vault.create(home, PASSPHRASE) as v:
        v.export_backup(tmp_path / "b.kluis", PASSPHRASE)
    data = bytearray((tmp_path / "b.kluis").read_bytes())
    data[-10] ^= 1
    (tmp_path / "bad.kluis").write_bytes(bytes(data))
    with pytest.raises(errors.BackupError):
        Vault.restore(tmp_path / "x", tmp_path / "bad.kluis", PASSPHRASE)
    assert not (tmp_path / "x").exists()


def test_two_backups_use_different_salts(home: Path, tmp_path: Path) -> None:
    with Vault.create(home, PASSPHRASE) as v:
        v.export_backup(tmp_path / "a", PASSPHRASE)
        v.export_backup(tmp_path / "b", PASSPHRASE)
    head = 200
    assert (tmp_path / "a").read_bytes()[:head] != (tmp_path / "b").read_bytes()[:head]


def test_second_process_style_writer_extends_the_same_chain(home: Path) -> None:
    """Two open handles (as two processes would have) append without forking the chain."""
    Vault.create(home, PASSPHRASE).close()
    with Vault.open(home, PASSPHRASE) as a, Vault.open(home, PASSPHRASE) as b:
        a.profile.set("name.given", "Anna")
        b.profile.set("name.given", "Bo")
        a.profile.set("name.family", "Jansen")
        assert b.profile.record("name.given").version == 2  # type: ignore[union-attr]
        assert a.audit.verify().ok and len(a.audit) == len(b.audit) == 6


def test_home_resolution(tmp_path: Path) -> None:
    from vault.home.paths import default_home, resolve_home

    assert resolve_home(None, env={}) == default_home()
    assert default_home().name == "kluis"
    assert resolve_home(None, env={"KLUIS_HOME": str(tmp_path)}) == tmp_path
    assert resolve_home(tmp_path / "x", env={"KLUIS_HOME": "/elsewhere"}) == tmp_path / "x"


def test_shred_on_delete_and_checkpoint(home: Path) -> None:
    """The business store's crypto-shredding uses these, not the vault's private database."""
    with Vault.create(home, PASSPHRASE) as v:
        assert v.shred_on_delete() is True
        v.store.put("note", "n1", b"x" * 4096)
        v.store.delete("note", "n1")
        assert v.checkpoint() is True
        wal = home / "vault.db-wal"
        assert not wal.exists() or wal.stat().st_size == 0
        with v.transaction():
            assert v.checkpoint() is False  # never inside a transaction
