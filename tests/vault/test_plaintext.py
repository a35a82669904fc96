"""No personal value, field name or unwrapped key appears anywhere under KLUIS_HOME."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PASSPHRASE
from vault.store.vault import Vault

PROFILE = {
    "name.given": "Wilhelmina",
    "name.family": "Zwartkruis",
    "contact.email": "wilhelmina.zwartkruis@example.org",
    "contact.phone": "+31 6 9876 5432",
    "address.holiday.street": "Kalverstraat 92",
    "address.holiday.city": "Hoogezand-Sappemeer",
    "address.holiday.postal_code": "9601 XY",
    "address.holiday.country": "NL",
    "birth_date": "1979-11-23",
    "language": "fy-NL",
    "preferences.quietmornings": "tuesdays only",
    "interests": ["carillonmusic", "beekeeping"],
    "custom.secret_hobby.kind": "competitive-origami",
}


def _needles(vault: Vault) -> list[bytes]:
    needles: list[bytes] = []
    for path, value in PROFILE.items():
        needles.append(path.encode())
        needles.extend(p.encode() for p in path.split(".") if len(p) >= 6)
        values = value if isinstance(value, list) else [value]
        needles.extend(str(v).encode() for v in values if len(str(v)) >= 6)
    needles += [
        b"holiday",
        b"quietmornings",
        b"secret_hobby",
        b"profile.set",
        vault.identity.seed(),
        vault._keyring.data_key.raw(),
        vault.peer_id.encode(),
        vault.identity.public_bytes,
    ]
    return needles


def _leaks(home: Path, needles: list[bytes]) -> list[tuple[str, bytes]]:
    found = []
    for file in sorted(p for p in home.rglob("*") if p.is_file()):
        data = file.read_bytes()
        for needle in needles:
            if needle in data or needle.lower() in data.lower():
                found.append((file.name, needle))
    return found


def test_grep_finds_nothing_while_open_and_after_close(home: Path) -> None:
    vault = Vault.create(home, PASSPHRASE)
    for path, value in PROFILE.items():
        vault.profile.set(path, value)
    vault.profile.set("name.given", "Wilhelmina-Updated")  # old versions in WAL/free pages too
    vault.audit.append("test.event", {"note": "Wilhelmina"})
    needles = [*_needles(vault), b"Wilhelmina-Updated"]
    names = {p.name for p in home.iterdir()}
    assert {"vault.db", "vault.db-wal", "vault.db-shm", "keyfile.json"} <= names
    assert _leaks(home, needles) == []
    vault.close()
    assert _leaks(home, needles) == []
    with Vault.open(home, PASSPHRASE) as again:
        assert again.profile.get("custom.secret_hobby.kind") == "competitive-origami"
        assert _leaks(home, needles) == []


def test_the_search_would_find_a_leak(home: Path) -> None:
    """Guard against a vacuous test: a planted plaintext is found."""
    home.mkdir()
    (home / "vault.db-wal").write_bytes(b"xx wilhelmina.zwartkruis@example.org xx")
    assert _leaks(home, [PROFILE["contact.email"].encode()])  # type: ignore[union-attr]


def test_files_are_private(home: Path) -> None:
    Vault.create(home, PASSPHRASE).close()
    assert home.stat().st_mode & 0o777 == 0o700
    for file in home.iterdir():
        assert file.stat().st_mode & 0o077 == 0, file
