"""Shared fixtures: a temp KLUIS_HOME, a CLI runner with env, a vault with a fake clock."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import PASSPHRASE, START_MS
from vault.cli.main import app
from vault.store.vault import Vault


class FakeClock:
    """Deterministic milliseconds: starts at 2025-01-01, +1 s per call."""

    def __init__(self, start: int = START_MS) -> None:
        self._ticks = itertools.count(start, 1000)

    def __call__(self) -> int:
        return next(self._ticks)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    """Run the real CLI in-process with KLUIS_HOME/KLUIS_PASSPHRASE set."""
    runner = CliRunner()

    def invoke(
        *args: str,
        passphrase: str | None = PASSPHRASE,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Result:
        full_env: dict[str, str | None] = {
            "KLUIS_HOME": str(home),
            "KLUIS_PASSPHRASE": passphrase,
            "KLUIS_DEBUG": None,
            "KLUIS_NEW_PASSPHRASE": None,
        }
        full_env.update(env or {})
        return runner.invoke(app, list(args), env=full_env, input=input)

    return invoke


@pytest.fixture
def vault(home: Path) -> Iterator[Vault]:
    with Vault.create(home, PASSPHRASE, clock=FakeClock()) as v:
        yield v


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def db_rows(home: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(home / "vault.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def db_exec(home: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(home / "vault.db", isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()
