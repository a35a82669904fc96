"""Profile fields: versions, timestamps, tombstones, listeners, atomic audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from vault._exceptions import FieldNotSet, InvalidValue, UnknownField
from vault.store.profile import ProfileField
from vault.store.vault import Vault


def test_versions_and_timestamps(vault: Vault) -> None:
    first = vault.profile.set("contact.email", "a@example.org")
    second = vault.profile.set("contact.email", "b@example.org")
    assert (first.version, second.version) == (1, 2)
    assert second.updated_at > first.updated_at
    same = vault.profile.set("contact.email", "b@example.org")
    assert same == second  # no-op: no new version
    gone = vault.profile.unset("contact.email")
    assert gone.version == 3 and gone.value is None
    again = vault.profile.set("contact.email", "c@example.org")
    assert again.version == 4  # versions never restart
    assert [f.to_json() for f in vault.profile.fields()] == [again.to_json()]


def test_get_unset_and_unknown(vault: Vault) -> None:
    with pytest.raises(FieldNotSet):
        vault.profile.get("name.given")
    with pytest.raises(FieldNotSet):
        vault.profile.unset("name.given")
    with pytest.raises(UnknownField):
        vault.profile.get("name.middle")


def test_invalid_value_stores_nothing_and_audits_nothing(vault: Vault) -> None:
    before = len(vault.audit)
    with pytest.raises(InvalidValue):
        vault.profile.set("birth_date", "1990-13-45")
    assert vault.profile.record("birth_date") is None
    assert len(vault.audit) == before


def test_fields_prefix_and_document(vault: Vault) -> None:
    vault.profile.set("address.home.city", "Delft")
    vault.profile.set("address.work.city", "Leiden")
    vault.profile.set("custom.pets.cat", "Mies")
    vault.profile.set("interests", ["jazz"])
    assert [f.path for f in vault.profile.fields("address")] == [
        "address.home.city",
        "address.work.city",
    ]
    assert [f.path for f in vault.profile.fields("address.home")] == ["address.home.city"]
    assert vault.profile.document() == {
        "address": {"home": {"city": "Delft"}, "work": {"city": "Leiden"}},
        "custom": {"pets.cat": "Mies"},
        "interests": ["jazz"],
    }


def test_listeners_see_committed_changes_only(vault: Vault) -> None:
    seen: list[ProfileField] = []
    remove = vault.profile.on_change(seen.append)
    with pytest.raises(RuntimeError), vault.transaction():
        vault.profile.set("name.given", "Anna")
        assert seen == []  # not before commit
        raise RuntimeError("roll back")
    assert seen == [] and vault.profile.record("name.given") is None
    with vault.transaction():
        vault.profile.set("name.given", "Anna")
        vault.profile.set("name.family", "Jansen")
    assert [(r.path, r.value, r.version) for r in seen] == [
        ("name.given", "Anna", 1),
        ("name.family", "Jansen", 1),
    ]
    vault.profile.unset("name.given")
    assert seen[-1].path == "name.given" and seen[-1].value is None
    remove()
    vault.profile.set("name.given", "Bo")
    assert len(seen) == 3


def test_a_failing_listener_does_not_undo_the_change(vault: Vault) -> None:
    def broken(rec: ProfileField) -> None:
        raise ValueError("listener bug")

    vault.profile.on_change(broken)
    assert vault.profile.set("language", "nl").version == 1
    assert vault.profile.get("language") == "nl"


def test_change_and_audit_entry_commit_together(vault: Vault) -> None:
    n = len(vault.audit)
    vault.profile.set("contact.phone", "+31 20 123 4567")
    entry = next(iter(vault.audit.entries(n + 1)))
    assert entry.kind == "profile.set"
    assert entry.details == {"path": "contact.phone", "version": 1}
    assert "+31" not in str(entry.details)  # values are not copied into the log


def test_record_repr_hides_value(vault: Vault) -> None:
    rec = vault.profile.set("contact.email", "secret@example.org")
    assert "secret" not in repr(rec)


def test_the_read_snapshot_never_keeps_a_rolled_back_change(vault: Vault) -> None:
    """Reads are served from a decrypted snapshot; a rollback must not leave it stale."""
    vault.profile.set("contact.email", "kept@example.org")
    assert vault.profile.get("contact.email") == "kept@example.org"  # snapshot built
    head = vault.audit.head()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), vault.store.transaction():
        vault.profile.set("contact.email", "lost@example.org")
        assert vault.profile.get("contact.email") == "lost@example.org"  # inside: sees it
        raise Abort
    assert vault.profile.get("contact.email") == "kept@example.org"
    assert [f.value for f in vault.profile.fields("contact")] == ["kept@example.org"]
    assert vault.audit.head() == head  # the cached audit head rolled back too
    vault.profile.set("contact.email", "next@example.org")
    assert vault.audit.verify().ok


def test_the_read_snapshot_sees_a_second_handles_commit(vault: Vault, home: Path) -> None:
    vault.profile.set("address.home.city", "Zwolle")
    assert vault.profile.get("address.home.city") == "Zwolle"
    other = Vault.open(home, PASSPHRASE)
    try:
        other.profile.set("address.home.city", "Deventer")
    finally:
        other.close()
    assert vault.profile.get("address.home.city") == "Deventer"
    assert [f.value for f in vault.profile.fields("address.home")] == ["Deventer"]
    vault.profile.set("name.given", "Anna")  # the audit head moved under us: still one chain
    assert vault.audit.verify().ok
