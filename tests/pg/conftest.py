"""A real PostgreSQL server for the business store's tests, one per test session.

The server is Debian's (``apt-get install postgresql``; ``.ci/run`` installs it)
or any ``initdb``/``pg_ctl`` on the PATH. PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` user (``runuser``). Each test gets
a fresh database from pytest-postgresql's :class:`DatabaseJanitor`. Where no
server can start, every test here skips with a one-line reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg.server import USER, Server, bindir

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install '.[test]')")
janitor = pytest.importorskip("pytest_postgresql.janitor", reason="pytest-postgresql is missing")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    found = bindir()
    if found is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL will not start as root")
    root = Path(tempfile.mkdtemp(prefix="kluis-pg-"))
    server = Server(found, root)
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
