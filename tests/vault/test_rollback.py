"""Rollback attacks (issue 13, §3): older sealed rows copied back into ``vault.db``.

The attacker can write to the disk but has no passphrase. Each test does what
the red team did, with real SQLite rows, and checks that the vault refuses it
and that the state the owner set (a revocation above all) is what holds.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from protocol import Error, ErrorCode, Identity, ReadResult, dump_message
from tests.conftest import ManualClock
from vault.services.access import AccessService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleBook
from vault.services.trail import CHECKPOINT_KIND, CHECKPOINT_NAME, RolledBackRecord
from vault.store.audit import HEAD_KIND, HEAD_NAME
from vault.store.crypto import derive_kek, wrap_key
from vault.store.highwater import RollbackDetected
from vault.store.keyfile import Keyfile, read_keyfile
from vault.store.vault import Vault

from .access_helpers import access_request, read
from .conftest import PASSPHRASE, db_rows, file_hashes
from .serving import answer

ALICE = Identity.generate()
EXIT_VERIFY_FAILED = 1


def _rows(home: Path) -> list[tuple[Any, ...]]:
    return db_rows(home, "SELECT kind, rid, sealed FROM records ORDER BY kind, rid")


def _audit_rows(home: Path) -> list[tuple[Any, ...]]:
    return db_rows(home, "SELECT seq, sealed FROM audit ORDER BY seq")


def _sql(home: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """The attacker's edit: plain SQLite on the file, no key needed."""
    conn = sqlite3.connect(home / "vault.db", isolation_level=None)
    try:
        conn.execute("BEGIN")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _row(home: Path, kind: str, rid: bytes) -> bytes:
    rows = db_rows(
        home, f"SELECT sealed FROM records WHERE kind = '{kind}' AND rid = x'{rid.hex()}'"
    )
    assert len(rows) == 1
    sealed = rows[0][0]
    assert isinstance(sealed, bytes)
    return sealed


def _put_back(home: Path, kind: str, rid: bytes, sealed: bytes) -> None:
    _sql(home, ("UPDATE records SET sealed = ? WHERE kind = ? AND rid = ?", (sealed, kind, rid)))


def _service(vault: Vault) -> AccessService:
    return AccessService(
        vault, GrantBook(vault), RuleBook(vault), limiter=RateLimiter(rate=50, burst=100)
    )


def _read(svc: AccessService, grant_id: str) -> Any:
    payload = dump_message(read(ALICE, grant_id, ["contact.email"]))
    reply = answer(svc, ALICE.peer_id, payload)  # through the grammar, as the runtime serves it
    return asyncio.run(reply) if inspect.isawaitable(reply) else reply


def _approved(vault: Vault) -> str:
    book = GrantBook(vault)
    req = access_request(ALICE, vault.peer_id, ["contact.email"])
    book.submit(req)
    return book.approve(req.request_id).grant_id


@pytest.fixture
def clock() -> ManualClock:
    from protocol.clock import now_ms

    return ManualClock(now_ms())


# -- attack 1: an old grant row makes a revoked grant active again -------------------


async def test_old_grant_row_cannot_undo_a_revocation(
    home: Path, clock: ManualClock, cli: Callable[..., Result]
) -> None:
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        vault.profile.set("contact.email", "alice@example.org")
        grant_id = _approved(vault)
        rid = vault.store.record_id("grant", grant_id)
        assert isinstance(_read(_service(vault), grant_id), ReadResult)
    active_row = _row(home, "grant", rid)  # the attacker's copy, taken while it was live

    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        GrantBook(vault).revoke(grant_id)
    _put_back(home, "grant", rid, active_row)
    assert _row(home, "grant", rid) == active_row

    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        svc = _service(vault)
        reply = _read(svc, grant_id)
        assert isinstance(reply, Error) and reply.code is ErrorCode.REVOKED
        assert svc.grants.grant(grant_id).status(clock()) == "revoked"
        assert [(r.kind, r.name) for r in svc.grants.rolled_back] == [("grant", grant_id)]
        assert vault.audit.verify().ok  # the chain itself was not touched
        assert "grant.revoke" in [e.kind for e in vault.audit.entries()]

    result = cli("audit", "--verify")
    assert result.exit_code == EXIT_VERIFY_FAILED, result.output
    assert f"grant {grant_id} is older than its audit trail" in result.output
    assert "chain intact" in result.output  # the chain is fine; the grant row is not


async def test_a_rolled_back_trail_checkpoint_cannot_hide_the_revocation(
    home: Path, clock: ManualClock
) -> None:
    """The trail's own checkpoint is a sealed row too: putting an old one back costs time only."""
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        vault.profile.set("contact.email", "alice@example.org")
        grant_id = _approved(vault)
        with vault.transaction():
            for i in range(300):  # enough entries for the load to write a checkpoint
                vault.audit.append("test.event", {"i": i})
        GrantBook(vault)
        rid = vault.store.record_id("grant", grant_id)
        cp_rid = vault.store.record_id(CHECKPOINT_KIND, CHECKPOINT_NAME)
    old_grant, old_checkpoint = _row(home, "grant", rid), _row(home, CHECKPOINT_KIND, cp_rid)

    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        GrantBook(vault).revoke(grant_id)
        with vault.transaction():
            for i in range(300):
                vault.audit.append("test.event", {"i": i})
        GrantBook(vault)  # a newer checkpoint, past the revocation
    assert _row(home, CHECKPOINT_KIND, cp_rid) != old_checkpoint
    _put_back(home, "grant", rid, old_grant)
    _put_back(home, CHECKPOINT_KIND, cp_rid, old_checkpoint)

    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        svc = _service(vault)
        reply = _read(svc, grant_id)
        assert isinstance(reply, Error) and reply.code is ErrorCode.REVOKED
        assert [r.name for r in svc.grants.rolled_back] == [grant_id]


async def test_old_request_row_cannot_reopen_a_decided_request(
    home: Path, clock: ManualClock
) -> None:
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        book = GrantBook(vault)
        req = access_request(ALICE, vault.peer_id, ["contact.email"])
        book.submit(req)
        rid = vault.store.record_id("request", req.request_id)
        pending_row = _row(home, "request", rid)
        book.deny(req.request_id)
    _put_back(home, "request", rid, pending_row)
    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        book = GrantBook(vault)
        assert book.request(req.request_id).status.value == "denied"
        assert book.requests("pending") == []
        assert isinstance(book.rolled_back[0], RolledBackRecord)


def test_a_damaged_audit_entry_fails_closed_for_grants_written_before_it(
    home: Path, clock: ManualClock
) -> None:
    """Destroying the revoke entry (instead of rolling back past it) must not help either."""
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        grant_id = _approved(vault)
        rid = vault.store.record_id("grant", grant_id)
        active_row = _row(home, "grant", rid)
        revoke = GrantBook(vault)
        revoke.revoke(grant_id)
        revoke_seq = len(vault.audit)
        for i in range(3):
            vault.audit.append("test.event", {"i": i})
    _put_back(home, "grant", rid, active_row)
    _sql(home, ("UPDATE audit SET sealed = x'00' WHERE seq = ?", (revoke_seq,)))
    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        book = GrantBook(vault)
        assert book.grant(grant_id).revoked
        assert [r.name for r in book.rolled_back] == [grant_id]


# -- attack 2: the tail of the chain deleted, an old head row put back ------------------


def test_truncated_chain_with_old_head_row_is_refused(
    home: Path, clock: ManualClock, cli: Callable[..., Result]
) -> None:
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        grant_id = _approved(vault)
        head_rid = vault.store.record_id(HEAD_KIND, HEAD_NAME)
        grant_rid = vault.store.record_id("grant", grant_id)
        cut = len(vault.audit)
    old_head, old_grant = _row(home, HEAD_KIND, head_rid), _row(home, "grant", grant_rid)
    with Vault.open(home, PASSPHRASE, clock=clock) as vault:
        GrantBook(vault).revoke(grant_id)
        assert "grant.revoke" in [e.kind for e in vault.audit.entries(cut + 1)]

    _sql(
        home,
        ("DELETE FROM audit WHERE seq > ?", (cut,)),
        (
            "UPDATE records SET sealed = ? WHERE kind = ? AND rid = ?",
            (old_head, HEAD_KIND, head_rid),
        ),
        (
            "UPDATE records SET sealed = ? WHERE kind = ? AND rid = ?",
            (old_grant, "grant", grant_rid),
        ),
    )
    before = (_rows(home), _audit_rows(home))
    with pytest.raises(RollbackDetected, match=f"ends at entry {cut}"):
        Vault.open(home, PASSPHRASE, clock=clock)
    assert (_rows(home), _audit_rows(home)) == before  # refused, and nothing written

    result = cli("audit", "--verify")
    assert result.exit_code == EXIT_VERIFY_FAILED, result.output
    assert "chain intact" not in result.output and "rolled back" in result.output
    assert (_rows(home), _audit_rows(home)) == before
    show = cli("show")
    assert show.exit_code != 0 and "rollback detected" in show.output


# -- attack 3: every audit row and the head deleted --------------------------------------


def test_emptied_audit_log_is_refused(home: Path, cli: Callable[..., Result]) -> None:
    with Vault.create(home, PASSPHRASE) as vault:
        vault.profile.set("name.given", "Anna")
        head_rid = vault.store.record_id(HEAD_KIND, HEAD_NAME)
    _sql(
        home,
        ("DELETE FROM audit", ()),
        ("DELETE FROM records WHERE kind = ? AND rid = ?", (HEAD_KIND, head_rid)),
    )
    before = file_hashes(home)
    with pytest.raises(RollbackDetected, match="ends at entry 0"):
        Vault.open(home, PASSPHRASE)
    assert file_hashes(home) == before
    result = cli("audit", "--verify")
    assert result.exit_code == EXIT_VERIFY_FAILED, result.output
    assert "chain intact" not in result.output


def test_deleting_or_forging_the_mark_is_refused(home: Path) -> None:
    Vault.create(home, PASSPHRASE).close()
    mark = (home / "audit.hwm").read_bytes()
    (home / "audit.hwm").unlink()
    with pytest.raises(RollbackDetected, match="missing"):
        Vault.open(home, PASSPHRASE)
    (home / "audit.hwm").write_bytes(mark[:-1] + bytes([mark[-1] ^ 1]) + b"")
    Vault.open(home, PASSPHRASE).close()  # one slot damaged: the other still holds a mark
    other = Vault.create(home.parent / "other", PASSPHRASE)
    other.close()
    (home / "audit.hwm").write_bytes((home.parent / "other" / "audit.hwm").read_bytes())
    with pytest.raises(RollbackDetected, match="fails authentication"):
        Vault.open(home, PASSPHRASE)  # another vault's mark is not this vault's


# -- what must keep working ----------------------------------------------------------------


def test_import_is_the_explicit_audited_way_back(
    home: Path, tmp_path: Path, clock: ManualClock
) -> None:
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        grant_id = _approved(vault)
        vault.export_backup(tmp_path / "before.kluis", PASSPHRASE)
        GrantBook(vault).revoke(grant_id)
    target = tmp_path / "restored"
    with Vault.restore(target, tmp_path / "before.kluis", PASSPHRASE, clock=clock) as vault:
        assert vault.audit.tail(1)[0].kind == "backup.import"
        assert GrantBook(vault).grant(grant_id).status(clock()) == "active"
        assert vault.audit.verify().ok
    Vault.open(target, PASSPHRASE, clock=clock).close()  # its mark is the backup's head


def test_group_flushed_entries_raise_the_mark_after_their_fsync(home: Path) -> None:
    with Vault.create(home, PASSPHRASE) as vault:
        for i in range(20):
            vault.audit.append("access.read", {"i": i}, durable=False)
        last = len(vault.audit)
    with Vault.open(home, PASSPHRASE, audit_unlock=False) as vault:
        assert vault.mark.read()[0] == last  # close flushed the WAL, then raised the mark


def test_vault_from_before_the_mark_opens_and_is_upgraded(home: Path) -> None:
    """An existing v1 vault (no mark, keyfile v1) stays readable and gains both on first open."""
    with Vault.create(home, PASSPHRASE) as vault:
        vault.profile.set("name.given", "Anna")
        data_key = vault._keyring.data_key
    keyfile = read_keyfile(vault.paths)
    v1 = Keyfile(keyfile.params, wrap_key(derive_kek(PASSPHRASE, keyfile.params), data_key), 1)
    (home / "keyfile.json").write_bytes(v1.to_bytes())
    (home / "audit.hwm").unlink()
    assert json.loads((home / "keyfile.json").read_text())["format"] == "kluis-keyfile-v1"
    with Vault.open(home, PASSPHRASE) as vault:
        assert vault.profile.get("name.given") == "Anna"
    assert read_keyfile(vault.paths).version == 2 and (home / "audit.hwm").exists()
    (home / "audit.hwm").unlink()  # a v2 vault must have its mark
    with pytest.raises(RollbackDetected):
        Vault.open(home, PASSPHRASE)
