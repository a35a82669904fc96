"""The business's book on a real PostgreSQL server: same SDK, same sealing, shared by workers."""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from protocol import Ack
from tests.conftest import BIZ_PASSPHRASE, PASSPHRASE, ManualClock
from tests.vault.requester.helpers import FakeVault
from vault._exceptions import StorageError, VaultExists
from vault.requester import Requester
from vault.requester._copies import DATA_KIND, KEY_KIND
from vault.store.crypto import CryptoFailure, SecretKey, open_sealed
from vault.store.pgdb import PgDatabase, safe_label
from vault.store.pgschema import MIGRATIONS, SCHEMA_VERSION, migrate
from vault.store.records import record_ad
from vault.store.vault import Vault

SECRET = "alice.secret@example.org"
CITY = "Zwolle-Hanzestad"


def rows(url: str, kind: str | None = None) -> list[tuple[str, bytes, bytes]]:
    with psycopg.connect(url) as conn:
        sql = "SELECT kind, rid, sealed FROM records"
        if kind is None:
            return list(conn.execute(sql).fetchall())
        return list(conn.execute(sql + " WHERE kind = %s", (kind,)).fetchall())


def everything(url: str) -> bytes:
    """Every byte of every row of the store's tables, as the server (or its backup) has it."""
    with psycopg.connect(url) as conn:
        blobs = [bytes(r[1]) + bytes(r[2]) for r in conn.execute("SELECT * FROM records")]
        blobs += [bytes(r[1]) for r in conn.execute("SELECT * FROM audit")]
    return b"".join(blobs)


def worker_home(first: Path, home: Path) -> Path:
    """A second worker's home: the same keyfile, nothing else (its mark starts at open)."""
    home.mkdir(mode=0o700)
    shutil.copy2(first / "keyfile.json", home / "keyfile.json")
    return home


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def biz(tmp_path: Path, pg_url: str, clock: ManualClock) -> AsyncIterator[Requester]:
    requester = await Requester.create(
        tmp_path / "w1", BIZ_PASSPHRASE, network=False, clock=clock, retention_interval=None,
        store=pg_url,
    )  # fmt: skip
    try:
        yield requester
    finally:
        await requester.close()


# -- migrations ---------------------------------------------------------------------------


def test_a_fresh_database_is_migrated_once_even_by_racing_workers(pg_url: str):
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            PgDatabase.open(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM kluis_schema ORDER BY 1")]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert applied == [m[0] for m in MIGRATIONS] and applied[-1] == SCHEMA_VERSION
    assert {"records", "audit", "kluis_meta", "kluis_leases", "kluis_workers"} <= tables
    db = PgDatabase.open(pg_url)
    try:
        assert migrate(db) == SCHEMA_VERSION  # idempotent
    finally:
        db.close()


def test_a_database_from_newer_code_is_refused(pg_url: str):
    PgDatabase.open(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO kluis_schema (version, description) VALUES (%s, 'from the future')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(StorageError, match="newer than this kluis"):
        PgDatabase.open(pg_url)


def test_connection_strings_never_show_their_password(pg_url: str):
    secret_url = pg_url.replace("kluis@", "kluis:hunter2@")
    assert "hunter2" not in safe_label(secret_url)
    with pytest.raises(StorageError) as err:
        PgDatabase.open(secret_url.replace("127.0.0.1:", "127.0.0.1:1") + "_nope")
    assert "hunter2" not in str(err.value)
    db = PgDatabase.open(secret_url)  # trust auth: the password is not needed
    try:
        assert "hunter2" not in repr(db) and "127.0.0.1" in repr(db)
    finally:
        db.close()


# -- the vault store on PostgreSQL -----------------------------------------------------------


def test_vault_store_round_trip_and_a_second_worker_home(tmp_path: Path, pg_url: str):
    first = tmp_path / "w1"
    with Vault.create(first, PASSPHRASE, store=pg_url) as vault:
        vault.store.put("note", "hello", b"world")
        peer = vault.peer_id
    assert not (first / "vault.db").exists()  # the records live in PostgreSQL
    with Vault.open(first, PASSPHRASE, store=pg_url) as vault:
        assert vault.peer_id == peer and vault.store.get("note", "hello") == b"world"
    second = worker_home(first, tmp_path / "w2")
    with (
        Vault.open(second, PASSPHRASE, store=pg_url) as a,
        Vault.open(first, PASSPHRASE, store=pg_url) as b,
    ):
        assert a.peer_id == peer
        # both append to the one chain; each sees the other's entries
        a.audit.append("test.a")
        b.audit.append("test.b")
        a.audit.append("test.a")
        kinds = [e.kind for e in b.audit.entries()]
        assert kinds[-3:] == ["test.a", "test.b", "test.a"]
        assert a.audit.verify().ok and b.audit.verify().ok
    assert b"hello" not in everything(pg_url) and b"world" not in everything(pg_url)
    with pytest.raises(VaultExists):
        Vault.create(tmp_path / "w3", PASSPHRASE, store=pg_url)


def test_a_store_that_is_not_postgresql_is_refused(tmp_path: Path):
    with pytest.raises(StorageError, match="postgresql://"):
        Vault.create(tmp_path / "v", PASSPHRASE, store="mysql://nope")


# -- the requester's book, copies and revocation ---------------------------------------------------


async def test_sealed_copies_in_postgresql_and_revocation_destroys_the_key(
    biz: Requester, pg_url: str
):
    fv = FakeVault()
    grant = fv.grant(biz)
    other = fv.grant(biz, ["contact.phone"])
    assert fv.push(biz, grant, "contact.email", SECRET)
    assert fv.push(biz, grant, "address.home.city", CITY)
    assert fv.push(biz, other, "contact.phone", "+31 20 123 4567")
    assert biz.local_copy(grant) == {"contact.email": SECRET, "address.home.city": CITY}
    assert biz.secure_delete is False  # PostgreSQL cannot zero pages: crypto-shredding holds
    blob = everything(pg_url)
    for needle in (SECRET, CITY, "contact.email", grant.grant_id):
        assert needle.encode() not in blob, needle

    data_rid = biz.vault.store.record_id(DATA_KIND, grant.grant_id)
    [(_, _, data_sealed)] = [r for r in rows(pg_url, DATA_KIND) if bytes(r[1]) == data_rid]
    plain = biz.vault._keyring.sealer.open(bytes(data_sealed), record_ad(DATA_KIND, data_rid))
    inner = plain[4 + len(grant.grant_id.encode()) :]
    assert SECRET.encode() not in plain  # sealed again under the grant key

    assert isinstance(await fv.revoke(biz, grant), Ack)
    assert len(rows(pg_url, KEY_KIND)) == 1 and len(rows(pg_url, DATA_KIND)) == 1
    assert biz.vault.store.get(KEY_KIND, grant.grant_id) is None
    ad = b"kluis-grantdata-v1\x00" + grant.grant_id.encode()
    for _name, raw in biz.vault.store.items(KEY_KIND):  # no key left opens the captured blob
        with pytest.raises(CryptoFailure):
            open_sealed(SecretKey(raw), inner, ad)
    info = biz.grant_info(grant)
    assert info.status == "revoked" and info.data_deleted and not info.receipt_acked
    assert biz.local_copy(other) == {"contact.phone": "+31 20 123 4567"}


async def test_a_second_worker_sees_the_book_and_the_receipts_owed(
    biz: Requester, pg_url: str, tmp_path: Path, clock: ManualClock
):
    fv = FakeVault()
    grant = fv.grant(biz)
    fv.push(biz, grant, "contact.email", SECRET)
    second = await Requester.open(
        worker_home(tmp_path / "w1", tmp_path / "w2"), BIZ_PASSPHRASE, network=False,
        clock=clock, retention_interval=None, store=pg_url,
    )  # fmt: skip
    async with second:
        assert second.peer_id == biz.peer_id
        assert second.local_copy(grant.grant_id) == {"contact.email": SECRET}
        assert isinstance(await fv.revoke(biz, grant), Ack)
        assert second.grant_info(grant.grant_id).status == "active"  # its index is stale
        second.book.reload()
        info = second.grant_info(grant.grant_id)
        assert info.status == "revoked" and not info.receipt_acked
        [receipt] = second.receipts(grant.grant_id)
        assert receipt.grant_id == grant.grant_id
        assert second.local_copy(grant.grant_id) == {}


async def test_a_notice_at_a_worker_with_a_stale_book_signs_no_second_receipt(
    biz: Requester, pg_url: str, tmp_path: Path, clock: ManualClock
):
    # D51: the vault's notice reaches one worker on its subscription and another as a
    # queued delivery; the second one's index still says active. It must not delete
    # again and sign a receipt of its own: the vault would record two for one grant.
    fv = FakeVault()
    grant = fv.grant(biz)
    fv.push(biz, grant, "contact.email", SECRET)
    second = await Requester.open(
        worker_home(tmp_path / "w1", tmp_path / "w2"), BIZ_PASSPHRASE, network=False,
        clock=clock, retention_interval=None, store=pg_url,
    )  # fmt: skip
    async with second:
        assert isinstance(await fv.revoke(biz, grant), Ack)
        [first_receipt] = biz.receipts(grant.grant_id)
        assert second.grant_info(grant.grant_id).status == "active"  # its index is stale
        deletes = [e for e in second.vault.audit.entries() if e.kind == "requester.delete"]
        assert isinstance(await fv.revoke(second, grant), Ack)
        assert second.receipts(grant.grant_id) == [first_receipt]
        info = second.grant_info(grant.grant_id)
        assert info.status == "revoked" and second.local_copy(grant.grant_id) == {}
        after = [e for e in second.vault.audit.entries() if e.kind == "requester.delete"]
        assert after == deletes  # nothing deleted or signed a second time
