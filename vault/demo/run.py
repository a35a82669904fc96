"""``kluis demo``: the whole story, end to end, on 127.0.0.1 in a temporary folder.

Act 1 is the owner's own encrypted vault; the next acts run a libp2p network of
businesses asking for access, contact and erasure
(:mod:`vault.demo.network_act`, :mod:`vault.demo.contact_act`) and agents
negotiating (:mod:`vault.demo.agents_act`); one act reaches a vault that has no
address of its own, by peer id alone, through a relay (:mod:`vault.demo.relay_act`).
Each step states what should happen and checks that it did; the demo exits 0
only if every step behaved. It never touches the owner's real vault: everything
happens under a fresh temporary folder.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from protocol import KluisError
from vault._exceptions import InvalidValue, UnknownField, WrongPassphrase
from vault.demo.agents_act import run_agents_story
from vault.demo.network_act import run_network_act
from vault.demo.relay_act import run_relay_act
from vault.demo.steps import Steps
from vault.store.profile import ProfileField
from vault.store.schema import format_value
from vault.store.vault import Vault

__all__ = ["DEMO_PROFILE", "run_demo"]

#: A throwaway vault in a temp folder; the passphrase is part of the show.
DEMO_PASSPHRASE = "correct horse battery staple"  # noqa: S105

DEMO_PROFILE: dict[str, object] = {
    "name.given": "Anna",
    "name.family": "de Vries",
    "contact.email": "anna.devries@example.org",
    "address.home.street": "Prinsengracht 263",
    "address.home.city": "Amsterdam",
    "address.home.postal_code": "1016 GV",
    "address.home.country": "nl",
    "birth_date": "1987-04-12",
    "language": "nl-nl",
    "preferences.newsletter": False,
    "interests": ["cycling", "jazz", "cooking"],
    "custom.shoe_size": 39,
}


def _profile_table(records: list[ProfileField]) -> Table:
    table = Table(title="profile", title_justify="left")
    for column in ("field", "value", "version"):
        table.add_column(column)
    for rec in records:
        assert rec.value is not None
        table.add_row(rec.path, format_value(rec.value), str(rec.version))
    return table


def run_demo(console: Console | None = None) -> int:
    """Run the demo; 0 if every step behaved, 1 otherwise."""
    con = console or Console(highlight=False)
    steps = Steps(con)
    started = time.perf_counter()
    con.rule("[b]kluis demo[/b]: a personal data vault, and the businesses that ask it")
    with tempfile.TemporaryDirectory(prefix="kluis-demo-") as tmp:
        try:
            steps.act("Act 1: your own encrypted vault")
            _run(Path(tmp) / "vault", Path(tmp), con, steps)
            asyncio.run(run_network_act(Path(tmp), DEMO_PASSPHRASE, con, steps))
            steps.act("Act 4: a vault at home, reached by its peer id alone through a relay")
            asyncio.run(run_relay_act(Path(tmp), DEMO_PASSPHRASE, con, steps))
            steps.act("Act 5: Anna's agent negotiates a phone contract")
            asyncio.run(run_agents_story(con, steps))
        except KluisError as exc:
            steps.check("demo ran to the end", False, f"{exc.code.value}: {exc.message}")
    elapsed = time.perf_counter() - started
    con.print()
    if steps.ok:
        con.rule(f"[green]all {steps.count} steps behaved[/green] [dim]({elapsed:.1f} s)[/dim]")
    else:
        con.rule(f"[red]{len(steps.failed)} of {steps.count} steps failed[/red]")
        for title in steps.failed:
            con.print(f"[red]✘[/red] {title}")
    return 0 if steps.ok else 1


def _run(home: Path, tmp: Path, con: Console, steps: Steps) -> None:
    with con.status("Creating a vault (Argon2id)…"):
        vault = Vault.create(home, DEMO_PASSPHRASE)
    with vault:
        steps.check("created a vault with a fresh Ed25519 identity", True, vault.peer_id)
        peer_id = vault.peer_id
        seen: list[ProfileField] = []
        vault.profile.on_change(seen.append)
        for path, value in DEMO_PROFILE.items():
            vault.profile.set(path, value)
        steps.check(
            f"filled {len(DEMO_PROFILE)} profile fields",
            len(vault.profile.fields()) == len(DEMO_PROFILE),
        )
        steps.check("the change hook saw every change", len(seen) == len(DEMO_PROFILE))
        steps.expect_error(
            "an invalid e-mail address is refused",
            InvalidValue,
            lambda: vault.profile.set("contact.email", "anna-at-example"),
        )
        steps.check(
            "…and nothing was stored",
            vault.profile.get("contact.email") == DEMO_PROFILE["contact.email"],
        )
        steps.expect_error(
            "an unknown field is refused",
            UnknownField,
            lambda: vault.profile.set("favourite.colour", "green"),
        )
        rec = vault.profile.set("contact.email", "anna@example.org")
        steps.check("a change bumps the field's version", rec.version == 2, f"v{rec.version}")

    steps.expect_error(
        "a wrong passphrase does not unlock",
        WrongPassphrase,
        lambda: Vault.open(home, "not my passphrase"),
    )

    with con.status("Unlocking (Argon2id)…"):
        vault = Vault.open(home, DEMO_PASSPHRASE)
    with vault:
        records = vault.profile.fields()
        con.print(_profile_table(records))
        steps.check("the profile survived closing and reopening", len(records) == len(DEMO_PROFILE))
        table = Table(title="audit log", title_justify="left")
        for column in ("seq", "kind", "details"):
            table.add_column(column)
        for entry in vault.audit.entries():
            table.add_row(
                str(entry.seq),
                entry.kind,
                ", ".join(f"{k}={v}" for k, v in sorted(entry.details.items())),
            )
        con.print(table)
        report = vault.audit.verify()
        steps.check(
            "the audit chain verifies (hashes, links, Ed25519 signatures)",
            report.ok,
            f"{report.checked} entries",
        )
        backup = tmp / "backup.kluis"
        vault.export_backup(backup, DEMO_PASSPHRASE)

    leaked = [
        str(value)
        for value in ("anna@example.org", "Prinsengracht", "contact.email", "Amsterdam")
        if any(value.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file())
    ]
    steps.check(
        "no value or field name is readable in the vault's files", not leaked, ", ".join(leaked)
    )

    with con.status("Restoring the backup (Argon2id)…"):
        restored = Vault.restore(tmp / "restored", backup, DEMO_PASSPHRASE)
    with restored:
        steps.check("the backup restores the same identity", restored.peer_id == peer_id)
        steps.check("…the same profile", restored.profile.get("address.home.city") == "Amsterdam")
        steps.check("…and an intact audit chain", restored.audit.verify().ok)
