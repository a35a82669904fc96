"""The audit log: chain, signatures, O(1) append, verify names the first bad entry."""

from __future__ import annotations

from pathlib import Path

from protocol import canonical_dumps, canonical_loads
from tests.conftest import PASSPHRASE, START_MS
from vault.store.audit import AuditEntry, genesis_hash
from vault.store.vault import Vault

from .conftest import FakeClock, db_exec, db_rows


def test_entries_are_chained_signed_and_timestamped(vault: Vault) -> None:
    vault.audit.append("test.event", {"n": 1})
    entries = list(vault.audit.entries())
    assert [e.seq for e in entries] == [1, 2]
    assert entries[0].kind == "vault.create" and entries[0].timestamp == START_MS
    assert entries[0].prev_hash == genesis_hash(vault.peer_id)
    assert entries[1].prev_hash == entries[0].hash
    for e in entries:
        vault.identity.public().verify(e.signature, e.hash)
        assert AuditEntry.compute_hash(e.seq, e.timestamp, e.kind, e.details, e.prev_hash) == e.hash
    assert vault.audit.verify().ok


def test_every_unlock_is_audited(home: Path) -> None:
    Vault.create(home, PASSPHRASE).close()
    for _ in range(2):
        Vault.open(home, PASSPHRASE).close()
    with Vault.open(home, PASSPHRASE, audit_unlock=False) as v:
        assert [e.kind for e in v.audit.entries()] == [
            "vault.create",
            "vault.unlock",
            "vault.unlock",
        ]


def test_details_are_sealed_at_rest(vault: Vault, home: Path) -> None:
    vault.audit.append("test.event", {"marker": "ZEBRA-DETAIL"})
    for (sealed,) in db_rows(home, "SELECT sealed FROM audit"):
        assert b"ZEBRA" not in sealed and b"test.event" not in sealed


def _reseal(vault: Vault, seq: int, mutate: dict[str, object]) -> None:
    """Tamper at the logical level: decrypt one entry, change it, re-seal it validly."""
    from vault.store.audit import _row_ad

    (sealed,) = vault._db.execute("SELECT sealed FROM audit WHERE seq=?", (seq,))[0]
    data = canonical_loads(vault._keyring.sealer.open(sealed, _row_ad(seq)))
    data.update(mutate)
    new = vault._keyring.sealer.seal(canonical_dumps(data), _row_ad(seq))
    vault._db.execute("UPDATE audit SET sealed=? WHERE seq=?", (new, seq))


def test_verify_names_altered_details(vault: Vault) -> None:
    for i in range(5):
        vault.audit.append("test.event", {"i": i})
    _reseal(vault, 3, {"details": {"i": 99}})
    report = vault.audit.verify()
    assert (report.first_bad, report.reason) == (3, "hash mismatch (content altered)")


def test_verify_names_forged_hash_by_signature(vault: Vault) -> None:
    for i in range(4):
        vault.audit.append("test.event", {"i": i})
    entry = next(iter(vault.audit.entries(4, 5)))
    details = {"i": 42}
    forged = AuditEntry.compute_hash(4, entry.timestamp, entry.kind, details, entry.prev_hash)
    _reseal(vault, 4, {"details": details, "hash": forged.hex()})
    report = vault.audit.verify()
    assert report.first_bad == 4  # the link from 5 and the signature both break at 4
    assert report.reason == "signature does not verify"


def test_verify_names_flipped_ciphertext(vault: Vault, home: Path) -> None:
    for i in range(3):
        vault.audit.append("test.event", {"i": i})
    (sealed,) = db_rows(home, "SELECT sealed FROM audit WHERE seq=2")[0]
    bad = bytearray(sealed)  # type: ignore[arg-type]
    bad[30] ^= 0x80
    db_exec(home, "UPDATE audit SET sealed=? WHERE seq=2", (bytes(bad),))
    report = vault.audit.verify()
    assert report.first_bad == 2 and "authentication" in (report.reason or "")


def test_verify_detects_deleted_and_truncated_entries(vault: Vault, home: Path) -> None:
    for i in range(5):
        vault.audit.append("test.event", {"i": i})
    db_exec(home, "DELETE FROM audit WHERE seq=6")
    report = vault.audit.verify()
    assert report.first_bad == 6 and "truncated" in (report.reason or "")
    db_exec(home, "DELETE FROM audit WHERE seq=3")
    assert vault.audit.verify().first_bad == 3


def test_verify_detects_swapped_entries(vault: Vault, home: Path) -> None:
    for i in range(3):
        vault.audit.append("test.event", {"i": i})
    rows = dict(db_rows(home, "SELECT seq, sealed FROM audit"))  # type: ignore[arg-type]
    db_exec(home, "UPDATE audit SET sealed=? WHERE seq=2", (rows[3],))
    db_exec(home, "UPDATE audit SET sealed=? WHERE seq=3", (rows[2],))
    assert vault.audit.verify().first_bad == 2


def test_append_does_not_rescan_the_log(tmp_path: Path) -> None:
    """Appending to a long log costs the same as to a short one (no rescan).

    Counted in SQLite virtual-machine steps, not seconds (a timed assertion fails
    on a loaded machine): a rescan would grow with the log, 50x here, while a
    B-tree insert grows with its depth only.
    """
    with Vault.create(tmp_path / "v", PASSPHRASE, clock=FakeClock()) as v:
        conn = v._db._conn  # type: ignore[attr-defined]
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0  # 0: go on

        def per_append(n: int) -> float:
            nonlocal steps
            steps = 0
            conn.set_progress_handler(count, 1)
            try:
                with v.transaction():
                    for i in range(n):
                        v.audit.append("test.event", {"i": i})
            finally:
                conn.set_progress_handler(None, 1)
            return steps / n

        early = per_append(100)
        with v.transaction():
            for i in range(5000):
                v.audit.append("test.bulk", {"i": i})
        late = per_append(100)
        assert early > 0
        assert late < early * 1.5, (early, late)
        assert len(v.audit) == 5201  # create + 100 + 5000 + 100


def test_append_refuses_to_overwrite_a_row_beyond_the_head(vault: Vault, home: Path) -> None:
    """A row planted past the head (outside the vault) is never overwritten; nothing changes."""
    import pytest

    from vault._exceptions import AuditError

    vault.audit.append("test.event", {"i": 1})
    seq, _ = vault.audit.head()
    rows = dict(db_rows(home, "SELECT seq, sealed FROM audit"))  # type: ignore[arg-type]
    db_exec(home, "INSERT INTO audit (seq, sealed) VALUES (?, ?)", (seq + 1, rows[seq]))
    with pytest.raises(AuditError, match="beyond the recorded head"):
        vault.audit.append("test.event", {"i": 2})
    assert vault.audit.head()[0] == seq  # the head did not move
    after = dict(db_rows(home, "SELECT seq, sealed FROM audit"))  # type: ignore[arg-type]
    assert after[seq + 1] == rows[seq]  # the planted row is untouched
