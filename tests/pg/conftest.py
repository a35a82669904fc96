"""A real PostgreSQL server for the business store's tests, one per test session.

The server is Debian's (``apt-get install postgresql``; ``.ci/run`` installs it)
or any ``initdb``/``pg_ctl`` on the PATH. PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` user (``runuser``). Each test gets
a fresh database from pytest-postgresql's :class:`DatabaseJanitor`. Where no
server can start, every test here skips with a one-line reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install '.[test]')")
janitor = pytest.importorskip("pytest_postgresql.janitor", reason="pytest-postgresql is missing")

USER = "kluis"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return Path(dirs[0]) if dirs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A throwaway cluster on 127.0.0.1 (trust auth, fsync off: test data only)."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.data = root / "data"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120, cwd="/")

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data} -F -c max_connections=60"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.data / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            [*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
             "stop"],
            capture_output=True, timeout=60, cwd="/",
        )  # fmt: skip

    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL will not start as root")
    root = Path(tempfile.mkdtemp(prefix="kluis-pg-"))
    server = Server(bindir, root)
    try:
        server.start()
    except (subprocess.SubprocessError, OSError, LookupError) as exc:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL server did not start: {type(exc).__name__}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


_counter = iter(range(1_000_000))


@pytest.fixture
def pg_url(pg_server: Server) -> Iterator[str]:
    """A fresh, empty database on the session's server; dropped afterwards."""
    dbname = f"kluis_test_{next(_counter)}"
    with janitor.DatabaseJanitor(
        user=USER, host="127.0.0.1", port=pg_server.port, dbname=dbname, version=15
    ):
        yield pg_server.url(dbname)
