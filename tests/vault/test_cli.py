"""Every command through the real CLI (typer's runner, real SQLite and crypto)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.conftest import PASSPHRASE
from vault.cli.exits import EXIT_ERROR
from vault.store.records import record_ad
from vault.store.vault import Vault

from .conftest import db_exec, db_rows, file_hashes

Cli = Callable[..., Result]


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def fails(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and message in lines[-1], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def initialised(cli: Cli) -> Cli:
    ok(cli("init"))
    return cli


def test_init_id_and_refuse_overwrite(cli: Cli, home: Path) -> None:
    out = ok(cli("init"))
    assert "created vault" in out
    peer_id = ok(cli("id")).strip()
    assert peer_id.startswith("12D3KooW") and peer_id in out
    before = file_hashes(home)
    fails(cli("init"), EXIT_ERROR, "already exists")
    assert file_hashes(home) == before


def test_init_prompts_twice_and_passphrase_file(cli: Cli, home: Path, tmp_path: Path) -> None:
    mismatch = cli("init", passphrase=None, input="one passphrase\nother passphrase\n")
    assert mismatch.exit_code != 0 and not home.exists()
    ok(cli("init", passphrase=None, input=f"{PASSPHRASE}\n{PASSPHRASE}\n"))
    pfile = tmp_path / "pass.txt"
    pfile.write_text(PASSPHRASE + "\n")
    assert ok(cli("id", "--passphrase-file", str(pfile), passphrase=None)).startswith("12D3")
    pfile.write_text("wrong passphrase\n")
    fails(
        cli("id", "--passphrase-file", str(pfile), passphrase=None), EXIT_ERROR, "wrong passphrase"
    )


def test_init_refuses_weak_passphrase(cli: Cli, home: Path) -> None:
    fails(cli("init", passphrase="short"), EXIT_ERROR, "at least 8")
    assert not home.exists()


def test_set_get_unset_show(initialised: Cli) -> None:
    cli = initialised
    ok(cli("set", "contact.email", "anna@example.org"))
    ok(cli("set", "address.home.city", "Utrecht"))
    ok(cli("set", "preferences.newsletter", "true"))
    ok(cli("set", "interests", "jazz, cycling"))
    ok(cli("set", "birth_date", "1990-05-17"))
    ok(cli("set", "custom.shoe_size", "39"))
    assert ok(cli("get", "contact.email")) == "anna@example.org\n"
    assert ok(cli("get", "interests")) == "jazz, cycling\n"
    assert ok(cli("get", "preferences.newsletter")) == "true\n"
    assert json.loads(ok(cli("get", "custom.shoe_size", "--json")))["value"] == 39
    assert "version 2" in ok(cli("set", "contact.email", "anna@example.com"))
    assert "unchanged" in ok(cli("set", "contact.email", "anna@example.com"))
    shown = json.loads(ok(cli("show", "--json")))
    by_path = {f["path"]: f for f in shown["fields"]}
    assert by_path["contact.email"]["version"] == 2
    assert by_path["interests"]["value"] == ["jazz", "cycling"]
    assert by_path["preferences.newsletter"]["value"] is True
    assert all(isinstance(f["updated_at"], int) for f in shown["fields"])
    assert "Utrecht" in ok(cli("show"))
    assert [f["path"] for f in json.loads(ok(cli("show", "address", "--json")))["fields"]] == [
        "address.home.city"
    ]
    assert "version 2" in ok(cli("unset", "interests"))
    fails(cli("get", "interests"), EXIT_ERROR, "field not set: interests")


def test_clear_errors_leave_state_unchanged(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "contact.email", "anna@example.org"))
    before = file_hashes(home)
    fails(
        cli("set", "contact.email", "not-an-email"), EXIT_ERROR, "invalid value for contact.email"
    )
    fails(cli("set", "birth_date", "1990-02-31"), EXIT_ERROR, "invalid value for birth_date")
    fails(cli("set", "favourite.colour", "green"), EXIT_ERROR, "unknown field: favourite.colour")
    fails(cli("get", "nope"), EXIT_ERROR, "unknown field: nope")
    fails(cli("unset", "nope"), EXIT_ERROR, "unknown field: nope")
    assert file_hashes(home) == before
    assert ok(cli("get", "contact.email")) == "anna@example.org\n"


def test_wrong_passphrase_touches_nothing(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "name.given", "Anna"))
    before = file_hashes(home)
    for command in (
        ("show",),
        ("get", "name.given"),
        ("set", "name.given", "Bo"),
        ("audit",),
        ("id",),
        ("passphrase",),
    ):
        fails(cli(*command, passphrase="wrong passphrase"), EXIT_ERROR, "wrong passphrase")
    assert file_hashes(home) == before


def test_missing_vault(cli: Cli, home: Path) -> None:
    fails(cli("show"), EXIT_ERROR, "no vault in")
    fails(cli("id"), EXIT_ERROR, "no vault in")
    assert not home.exists()


def _profile_rid(home: Path, path: str) -> bytes:
    with Vault.open(home, PASSPHRASE, audit_unlock=False) as v:
        return v.store.record_id("profile", path)


def test_tampered_record_is_named_and_the_rest_stays_readable(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "contact.email", "anna@example.org"))
    ok(cli("set", "name.given", "Anna"))
    ok(cli("set", "address.home.city", "Utrecht"))
    rid = _profile_rid(home, "contact.email")
    (sealed,) = db_rows(home, f"SELECT sealed FROM records WHERE rid=x'{rid.hex()}'")[0]
    flipped = bytearray(sealed)  # type: ignore[arg-type]
    flipped[-5] ^= 0x01
    db_exec(home, "UPDATE records SET sealed=? WHERE rid=?", (bytes(flipped), rid))

    fails(cli("get", "contact.email"), EXIT_ERROR, "corrupt record: contact.email")
    assert ok(cli("get", "name.given")) == "Anna\n"
    result = cli("show", "--json")
    assert result.exit_code == EXIT_ERROR
    shown = json.loads(result.stdout)
    assert {f["path"] for f in shown["fields"]} == {"name.given", "address.home.city"}
    assert shown["corrupt"] == [f"profile record {rid.hex()[:16]}"]
    assert rid.hex()[:16] in result.stderr
    # the owner repairs it by setting the field again
    ok(cli("set", "contact.email", "anna@example.net"))
    assert ok(cli("get", "contact.email")) == "anna@example.net\n"


def test_swapped_ciphertexts_are_detected(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "name.given", "Anna"))
    ok(cli("set", "name.family", "Jansen"))
    a, b = _profile_rid(home, "name.given"), _profile_rid(home, "name.family")
    rows = dict(db_rows(home, "SELECT rid, sealed FROM records WHERE kind='profile'"))  # type: ignore[arg-type]
    db_exec(home, "UPDATE records SET sealed=? WHERE rid=?", (rows[b], a))
    db_exec(home, "UPDATE records SET sealed=? WHERE rid=?", (rows[a], b))
    fails(cli("get", "name.given"), EXIT_ERROR, "corrupt record: name.given")
    fails(cli("get", "name.family"), EXIT_ERROR, "corrupt record: name.family")
    fails(cli("show"), EXIT_ERROR, "2 corrupt records")


def test_audit_show_verify_and_tamper(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "name.given", "Anna"))
    data = json.loads(ok(cli("audit", "--json", "--verify")))
    kinds = [e["kind"] for e in data["entries"]]
    assert kinds[:3] == ["vault.create", "vault.unlock", "profile.set"]
    assert kinds[-1] == "vault.unlock"
    assert data["verify"]["ok"] is True
    assert {"seq", "timestamp", "kind", "details", "prev_hash", "hash", "signature"} <= set(
        data["entries"][0]
    )
    assert "chain intact" in ok(cli("audit", "--verify"))
    assert len(json.loads(ok(cli("audit", "--json", "--tail", "2")))["entries"]) == 2

    (sealed,) = db_rows(home, "SELECT sealed FROM audit WHERE seq=3")[0]
    bad = bytearray(sealed)  # type: ignore[arg-type]
    bad[40] ^= 0x04
    db_exec(home, "UPDATE audit SET sealed=? WHERE seq=3", (bytes(bad),))
    result = cli("audit", "--verify")
    assert result.exit_code == 1
    assert "seq 3" in result.stdout and "error: audit chain broken at seq 3" in result.stderr
    data = json.loads(cli("audit", "--verify", "--json").stdout)
    assert data["verify"]["first_bad"] == 3 and data["verify"]["ok"] is False
    fails(cli("audit"), EXIT_ERROR, "corrupt record: audit entry 3")


def test_export_import_round_trip(initialised: Cli, home: Path, tmp_path: Path) -> None:
    cli = initialised
    ok(cli("set", "contact.email", "anna@example.org"))
    ok(cli("set", "interests", "jazz, chess"))
    peer_id = ok(cli("id")).strip()
    backup = tmp_path / "backup.kluis"
    ok(cli("export", str(backup)))
    fails(cli("export", str(backup)), EXIT_ERROR, "exists")
    ok(cli("export", str(backup), "--force"))
    assert b"anna" not in backup.read_bytes() and b"contact" not in backup.read_bytes()
    original = json.loads(ok(cli("show", "--json")))["fields"]

    new_home = tmp_path / "restored"
    env = {"KLUIS_HOME": str(new_home)}
    fails(
        cli("import", str(backup), passphrase="wrong passphrase", env=env),
        EXIT_ERROR,
        "wrong passphrase",
    )
    assert not new_home.exists()
    ok(cli("import", str(backup), env=env))
    assert ok(cli("id", env=env)).strip() == peer_id
    assert json.loads(ok(cli("show", "--json", env=env)))["fields"] == original
    audit = json.loads(ok(cli("audit", "--verify", "--json", env=env)))
    assert audit["verify"]["ok"] is True
    assert "backup.import" in [e["kind"] for e in audit["entries"]]

    fails(cli("import", str(backup)), EXIT_ERROR, "not empty")  # original home is a vault
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    fails(cli("import", str(backup), env={"KLUIS_HOME": str(other)}), EXIT_ERROR, "not empty")
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a backup at all")
    fails(
        cli("import", str(garbage), env={"KLUIS_HOME": str(tmp_path / "g")}),
        EXIT_ERROR,
        "not a kluis backup",
    )


def test_passphrase_change_rewraps_without_reencrypting(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "contact.email", "anna@example.org"))
    ok(cli("set", "name.given", "Anna"))
    sql = "SELECT kind, rid, sealed FROM records WHERE kind IN ('profile','identity')"
    records_before = db_rows(home, sql)
    audit_before = db_rows(home, "SELECT seq, sealed FROM audit")
    new = "a much better passphrase"
    ok(cli("passphrase", env={"KLUIS_NEW_PASSPHRASE": new}))
    assert db_rows(home, sql) == records_before
    assert db_rows(home, "SELECT seq, sealed FROM audit")[: len(audit_before)] == audit_before
    fails(cli("show"), EXIT_ERROR, "wrong passphrase")
    assert ok(cli("get", "contact.email", passphrase=new)) == "anna@example.org\n"
    kinds = [e["kind"] for e in json.loads(ok(cli("audit", "--json", passphrase=new)))["entries"]]
    assert "passphrase.change" in kinds
    # prompted twice when no env/file is given
    ok(cli("passphrase", passphrase=new, input=f"{PASSPHRASE}\n{PASSPHRASE}\n"))
    assert ok(cli("get", "name.given")) == "Anna\n"
    fails(cli("passphrase", env={"KLUIS_NEW_PASSPHRASE": "short"}), EXIT_ERROR, "at least 8")


def test_sealed_value_is_bound_to_its_row(initialised: Cli, home: Path) -> None:
    cli = initialised
    ok(cli("set", "name.given", "Anna"))
    rid = _profile_rid(home, "name.given")
    assert record_ad("profile", rid).endswith(rid)
    conn = sqlite3.connect(home / "vault.db")
    assert conn.execute("SELECT count(*) FROM records WHERE kind='profile'").fetchone() == (1,)
    conn.close()


def test_help_describes_commands_and_env(cli: Cli) -> None:
    out = ok(cli("--help"))
    for word in (
        "init",
        "id",
        "set",
        "get",
        "unset",
        "show",
        "audit",
        "export",
        "import",
        "passphrase",
        "demo",
        "KLUIS_HOME",
        "KLUIS_PASSPHRASE",
    ):
        assert word in out
    assert "address.<label>.city" in ok(cli("set", "--help"))


def test_demo_exits_zero(cli: Cli, home: Path) -> None:
    result = cli("demo")
    assert result.exit_code == 0, result.output
    counted = re.search(r"all (\d+) steps behaved", result.stdout)
    assert counted, result.stdout
    assert int(counted.group(1)) == result.stdout.count("✔")  # every mark is one counted step
    assert "Act 2" in result.stdout  # the network act ran: a vault and two businesses
    assert "✘" not in result.stdout
    assert not home.exists()  # the demo never touches KLUIS_HOME


def test_real_process_one_line_error_and_exit_code(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "KLUIS_HOME": str(tmp_path / "none"), "KLUIS_PASSPHRASE": PASSPHRASE}
    proc = subprocess.run(
        [sys.executable, "-m", "vault", "show"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == EXIT_ERROR
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: no vault")


def test_version_and_short_help(cli: Cli) -> None:
    from importlib.metadata import version

    assert ok(cli("--version")).strip() == f"kluis {version('kluis')}"
    assert ok(cli("-V")).strip() == f"kluis {version('kluis')}"
    assert "Usage: kluis" in ok(cli("-h"))
    assert "Usage: kluis set" in ok(cli("set", "-h"))


def test_set_reads_the_value_from_stdin(initialised: Cli) -> None:
    ok(initialised("set", "contact.email", "-", input="stdin@example.org\n"))
    assert ok(initialised("get", "contact.email")).strip() == "stdin@example.org"
    fails(
        initialised("set", "contact.email", "-", input="x" * (64 * 1024 + 1)),
        EXIT_ERROR,
        "longer than 65536 characters",
    )
    fails(
        initialised("set", "contact.email", "-", input="a@b.nl\n", env={"KLUIS_PASSPHRASE": None}),
        EXIT_ERROR,
        "give the passphrase with $KLUIS_PASSPHRASE or --passphrase-file",
    )
    assert ok(initialised("get", "contact.email")).strip() == "stdin@example.org"


def test_init_refuses_a_folder_with_other_files(cli: Cli, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "holiday.jpg").write_bytes(b"someone's photo")
    fails(cli("init"), EXIT_ERROR, "KLUIS_HOME is not empty")
    assert sorted(p.name for p in home.iterdir()) == ["holiday.jpg"]  # nothing written
    (home / "holiday.jpg").unlink()
    (home / "config.toml").write_text("[network]\nmdns = false\n")
    ok(cli("init"))
