"""Keys (issue 13, §6): rekey, the AES-GCM nonce budget, Argon2id costs.

The attacker of §6 holds an old ``keyfile.json`` and the old passphrase (it
leaked). A passphrase change does not stop them; ``kluis rekey`` must.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from typer.testing import Result

from vault._exceptions import StorageError, WrongPassphrase
from vault.home.paths import VaultPaths
from vault.store.audit import _row_ad
from vault.store.crypto import (
    ENV_TEST_FAST_KDF,
    EPOCH_BYTES,
    OWASP_MEMORY_KIB,
    SEAL_V2_MAGIC,
    CryptoFailure,
    KdfParams,
    Keyring,
    Sealer,
    SecretKey,
    derive_subkey,
)
from vault.store.keyfile import read_keyfile
from vault.store.records import record_ad
from vault.store.vault import Vault

from .conftest import PASSPHRASE, db_rows

NEW_PASSPHRASE = "a much better passphrase"


def _opens_under(home: Path, keyring: Keyring) -> tuple[int, int]:
    """How many stored rows (records + audit) open under ``keyring``, and how many there are."""
    opened = total = 0
    for kind, rid, sealed in db_rows(home, "SELECT kind, rid, sealed FROM records"):
        total += 1
        try:
            keyring.sealer.open(sealed, record_ad(str(kind), bytes(rid)))  # type: ignore[arg-type]
            opened += 1
        except CryptoFailure:
            pass
    for seq, sealed in db_rows(home, "SELECT seq, sealed FROM audit"):
        total += 1
        try:
            keyring.sealer.open(sealed, _row_ad(int(seq)))  # type: ignore[arg-type, call-overload]
            opened += 1
        except CryptoFailure:
            pass
    return opened, total


def _filled(home: Path, fields: int = 20, entries: int = 0) -> Keyring:
    with Vault.create(home, PASSPHRASE) as vault:
        for i in range(fields):
            vault.profile.set(f"custom.f{i}", f"value {i}")
        with vault.transaction():
            for i in range(entries):
                vault.audit.append("test.event", {"i": i})
        return Keyring(vault._keyring.data_key)


# -- the nonce budget -----------------------------------------------------------------------


def test_no_subkey_seals_more_than_its_budget() -> None:
    sealer = Sealer(SecretKey(bytes(32)), max_seals=3)
    blobs = [sealer.seal(f"m{i}".encode(), b"ad") for i in range(10)]
    epochs = [b[len(SEAL_V2_MAGIC) : len(SEAL_V2_MAGIC) + EPOCH_BYTES] for b in blobs]
    assert all(b.startswith(SEAL_V2_MAGIC) for b in blobs)
    assert [len(set(epochs[i : i + 3])) for i in (0, 3, 6)] == [1, 1, 1]
    assert len(set(epochs)) == 4  # 3 + 3 + 3 + 1 seals: four subkeys
    reader = Sealer(SecretKey(bytes(32)))  # another process: derives each epoch's key again
    assert [reader.open(b, b"ad") for b in blobs] == [f"m{i}".encode() for i in range(10)]
    with pytest.raises(CryptoFailure):
        reader.open(blobs[0], b"other ad")
    with pytest.raises(CryptoFailure):
        reader.open(blobs[0][:-1] + bytes([blobs[0][-1] ^ 1]), b"ad")


def test_every_process_seals_under_its_own_epoch(home: Path) -> None:
    with Vault.create(home, PASSPHRASE) as vault:
        first = vault._keyring.sealer.epoch
    with Vault.open(home, PASSPHRASE) as vault:
        assert vault._keyring.sealer.epoch not in (b"", first)


def test_rows_sealed_before_epochs_stay_readable(home: Path) -> None:
    """An existing vault's rows (nonce || ct under the fixed v1 seal key) open as before."""
    keyring = _filled(home, fields=5)
    legacy = AESGCM(derive_subkey(keyring.data_key, b"kluis-seal-v1").raw())
    conn_rows = db_rows(home, "SELECT kind, rid, sealed FROM records")
    import sqlite3

    conn = sqlite3.connect(home / "vault.db", isolation_level=None)
    for kind, rid, sealed in conn_rows:
        ad = record_ad(str(kind), bytes(rid))  # type: ignore[arg-type]
        plain = keyring.sealer.open(sealed, ad)  # type: ignore[arg-type]
        nonce = os.urandom(12)
        old = nonce + legacy.encrypt(nonce, plain, ad)
        conn.execute("UPDATE records SET sealed = ? WHERE kind = ? AND rid = ?", (old, kind, rid))
    for seq, sealed in db_rows(home, "SELECT seq, sealed FROM audit"):
        plain = keyring.sealer.open(sealed, _row_ad(int(seq)))  # type: ignore[arg-type, call-overload]
        nonce = os.urandom(12)
        old = nonce + legacy.encrypt(nonce, plain, _row_ad(int(seq)))  # type: ignore[call-overload]
        conn.execute("UPDATE audit SET sealed = ? WHERE seq = ?", (old, seq))
    conn.close()
    with Vault.open(home, PASSPHRASE) as vault:
        assert vault.profile.get("custom.f4") == "value 4"
        assert vault.audit.verify().ok


# -- rekey --------------------------------------------------------------------------------


def test_passphrase_change_does_not_retire_an_old_keyfile_but_rekey_does(
    home: Path, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    old = _filled(home)
    leaked = tmp_path / "old-keyfile.json"
    leaked.write_bytes((home / "keyfile.json").read_bytes())
    with Vault.open(home, PASSPHRASE) as vault:
        vault.change_passphrase(NEW_PASSPHRASE)

    def with_leaked_keyfile() -> Vault:
        current = (home / "keyfile.json").read_bytes()
        (home / "keyfile.json").write_bytes(leaked.read_bytes())
        try:
            return Vault.open(home, PASSPHRASE)
        finally:
            (home / "keyfile.json").write_bytes(current)

    with with_leaked_keyfile() as vault:  # what `kluis passphrase --help` warns about
        assert vault.profile.get("custom.f1") == "value 1"

    result = cli("rekey", passphrase=NEW_PASSPHRASE)
    assert result.exit_code == 0, result.output
    assert "data key rotated" in result.output

    with pytest.raises(StorageError, match="opens nothing"):
        with_leaked_keyfile()
    opened, total = _opens_under(home, old)
    assert opened == 0 and total > 20  # not one row opens under the old key
    with Vault.open(home, NEW_PASSPHRASE) as vault:
        new = Keyring(vault._keyring.data_key)
        assert vault.profile.get("custom.f19") == "value 19"
        assert vault.audit.verify().ok
        rotations = [e.details for e in vault.audit.entries() if e.kind == "key.rotate"]
        assert [d["phase"] for d in rotations] == ["start", "finish"]
        assert rotations[1]["records"] >= 20 and rotations[1]["resumed"] is False
    opened, total = _opens_under(home, new)
    assert opened == total


WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from vault.store import rekey
    from vault.store.vault import Vault

    rekey.BATCH_SIZE = 100  # more batches: a kill lands in the middle
    vault = Vault.open(Path(sys.argv[1]), sys.argv[2])

    def progress(done, total):
        print(done, total, flush=True)
        if done * 2 >= total:  # halfway: the hardest stop there is
            os.kill(os.getpid(), signal.SIGKILL)

    vault.rekey(sys.argv[2], progress=progress)
    print("finished", flush=True)
""")


def test_rekey_killed_halfway_resumes_and_retires_the_old_key(
    home: Path, cli: Callable[..., Result]
) -> None:
    old = _filled(home, fields=40, entries=600)
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(home), PASSPHRASE],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "finished" not in proc.stdout and proc.stdout.strip()
    keyfile = read_keyfile(VaultPaths(home))
    assert keyfile.next_wrapped is not None  # killed mid-rotation: both keys on file
    opened_old, total = _opens_under(home, old)
    assert 0 < opened_old < total  # some rows moved, some not

    result = cli("rekey")
    assert result.exit_code == 0, result.output
    assert "interrupted" in result.output

    assert read_keyfile(VaultPaths(home)).next_wrapped is None
    assert _opens_under(home, old)[0] == 0
    with Vault.open(home, PASSPHRASE) as vault:
        assert _opens_under(home, Keyring(vault._keyring.data_key))[0] == _opens_under(home, old)[1]
        assert {f"custom.f{i}" for i in range(40)} <= {r.path for r in vault.profile.fields()}
        assert vault.profile.get("custom.f39") == "value 39"
        report = vault.audit.verify()
        assert report.ok, report
        finish = [e.details for e in vault.audit.entries() if e.kind == "key.rotate"][-1]
        assert finish["phase"] == "finish" and finish["resumed"] is True


def test_rekey_refuses_a_wrong_passphrase_and_changes_nothing(home: Path) -> None:
    _filled(home, fields=2)
    with Vault.open(home, PASSPHRASE) as vault:
        keyfile = (home / "keyfile.json").read_bytes()
        rows = db_rows(home, "SELECT * FROM records ORDER BY kind, rid")
        entries = len(vault.audit)
        with pytest.raises(WrongPassphrase):
            vault.rekey("not the passphrase")
        assert (home / "keyfile.json").read_bytes() == keyfile
        assert db_rows(home, "SELECT * FROM records ORDER BY kind, rid") == rows
        assert len(vault.audit) == entries
    assert "next_key" not in json.loads((home / "keyfile.json").read_text())


# -- Argon2id -------------------------------------------------------------------------------


def test_new_vaults_get_rfc9106_costs_and_passphrase_upgrades_old_ones(
    home: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    _filled(home, fields=1)  # made under the suite's floor costs, like a vault from before
    assert read_keyfile(VaultPaths(home)).params.memory_cost == OWASP_MEMORY_KIB
    monkeypatch.delenv(ENV_TEST_FAST_KDF)
    with Vault.open(home, PASSPHRASE) as vault:  # older costs stay readable
        assert vault.profile.get("custom.f0") == "value 0"
        vault.change_passphrase(NEW_PASSPHRASE)
    params = read_keyfile(VaultPaths(home)).params
    assert (params.memory_cost, params.iterations, params.lanes) == (65536, 3, 4)
    assert params.is_current
    with Vault.open(home, NEW_PASSPHRASE) as vault:
        assert vault.profile.get("custom.f0") == "value 0"
    fresh = KdfParams.fresh()
    assert (fresh.memory_cost, fresh.iterations, fresh.lanes) == (65536, 3, 4)


def test_passphrase_help_says_what_it_does_not_protect(cli: Callable[..., Result]) -> None:
    text = " ".join(cli("passphrase", "--help").output.split())
    assert "does not protect" in text and "old copy of keyfile.json" in text
    assert "kluis rekey" in text
    assert "Rotate the data key" in " ".join(cli("rekey", "--help").output.split())
