"""The sealed store: behaves like a dict (property test), hides names, detects tampering."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vault._exceptions import CorruptRecord, StorageError
from vault.store.crypto import Keyring
from vault.store.db import Database
from vault.store.records import Store

KINDS = st.sampled_from(["profile", "grant", "inbox"])
NAMES = st.text(min_size=0, max_size=20)
VALUES = st.binary(max_size=64)


def make_store(folder: Path) -> tuple[Database, Store]:
    db = Database.open(folder / "vault.db", create=True)
    return db, Store(db, Keyring.generate())


class StoreMatchesDict(RuleBasedStateMachine):
    """Any sequence of put/get/delete/items agrees with a plain dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="kluis-store-"))
        self.db, self.store = make_store(self.folder)
        self.model: dict[tuple[str, str], bytes] = {}

    @rule(kind=KINDS, name=NAMES, value=VALUES)
    def put(self, kind: str, name: str, value: bytes) -> None:
        self.store.put(kind, name, value)
        self.model[(kind, name)] = value

    @rule(kind=KINDS, name=NAMES)
    def get(self, kind: str, name: str) -> None:
        assert self.store.get(kind, name) == self.model.get((kind, name))

    @rule(kind=KINDS, name=NAMES)
    def delete(self, kind: str, name: str) -> None:
        assert self.store.delete(kind, name) == ((kind, name) in self.model)
        self.model.pop((kind, name), None)

    @rule(kind=KINDS, name=NAMES, value=VALUES)
    def rolled_back_put(self, kind: str, name: str, value: bytes) -> None:
        with pytest.raises(RuntimeError), self.store.transaction():
            self.store.put(kind, name, value)
            raise RuntimeError("abort")

    @invariant()
    def items_match(self) -> None:
        for kind in ("profile", "grant", "inbox"):
            expected = sorted((n, v) for (k, n), v in self.model.items() if k == kind)
            assert self.store.items(kind) == expected
            assert self.store.count(kind) == len(expected)

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


StoreMatchesDict.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None
)
test_store_matches_dict = StoreMatchesDict.TestCase


@pytest.fixture
def store(tmp_path: Path) -> Store:
    _, store = make_store(tmp_path)
    return store


def _raw(store: Store, kind: str, name: str) -> bytes:
    rid = store.record_id(kind, name)
    rows = store._db.execute("SELECT sealed FROM records WHERE kind=? AND rid=?", (kind, rid))
    return bytes(rows[0][0])


def _overwrite(store: Store, kind: str, name: str, sealed: bytes) -> None:
    rid = store.record_id(kind, name)
    store._db.execute("UPDATE records SET sealed=? WHERE kind=? AND rid=?", (sealed, kind, rid))


def test_flipped_byte_names_the_record_and_others_stay_readable(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.put("profile", name, name.encode())
    blob = bytearray(_raw(store, "profile", "b"))
    blob[20] ^= 0x01
    _overwrite(store, "profile", "b", bytes(blob))
    with pytest.raises(CorruptRecord) as info:
        store.get("profile", "b")
    assert info.value.name == "b" and "b" in str(info.value)
    assert store.get("profile", "a") == b"a"
    errors: list[CorruptRecord] = []
    assert store.items("profile", errors=errors) == [("a", b"a"), ("c", b"c")]
    assert len(errors) == 1 and errors[0].record_id == store.record_id("profile", "b").hex()
    with pytest.raises(CorruptRecord):
        store.items("profile")


def test_swapped_ciphertexts_are_detected(store: Store) -> None:
    store.put("profile", "x", b"1")
    store.put("profile", "y", b"2")
    x, y = _raw(store, "profile", "x"), _raw(store, "profile", "y")
    _overwrite(store, "profile", "x", y)
    _overwrite(store, "profile", "y", x)
    for name in ("x", "y"):
        with pytest.raises(CorruptRecord):
            store.get("profile", name)


def test_ciphertext_moved_to_another_kind_is_detected(store: Store) -> None:
    store.put("profile", "x", b"1")
    store.put("grant", "x", b"2")
    _overwrite(store, "grant", "x", _raw(store, "profile", "x"))
    with pytest.raises(CorruptRecord):
        store.get("grant", "x")


def test_names_are_not_stored(store: Store, tmp_path: Path) -> None:
    store.put("profile", "contact.email", b"v")
    rows = store._db.execute("SELECT kind, rid FROM records")
    assert rows == [("profile", store.record_id("profile", "contact.email"))]
    assert b"contact.email" not in (tmp_path / "vault.db").read_bytes()


def test_transaction_is_atomic_and_after_commit_runs_once(store: Store) -> None:
    calls: list[str] = []
    with store.transaction():
        store.put("profile", "a", b"1")
        with store.transaction():  # nested joins the outer
            store.put("profile", "b", b"2")
        store.after_commit(lambda: calls.append("done"))
        assert calls == []
    assert calls == ["done"]
    with pytest.raises(ValueError), store.transaction():
        store.put("profile", "c", b"3")
        store.after_commit(lambda: calls.append("never"))
        raise ValueError
    assert store.get("profile", "c") is None and calls == ["done"]


def test_kind_is_validated(store: Store) -> None:
    with pytest.raises(ValueError):
        store.put("Bad Kind", "x", b"")


def test_database_missing_is_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        Database.open(tmp_path / "nope.db")


def test_database_pragmas(tmp_path: Path) -> None:
    db, _ = make_store(tmp_path)
    assert db.execute("PRAGMA journal_mode")[0][0] == "wal"
    assert db.execute("PRAGMA synchronous")[0][0] == 2  # FULL
