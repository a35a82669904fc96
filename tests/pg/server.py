"""A throwaway PostgreSQL server for tests and benchmarks, run as ``postgres`` when root."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path

__all__ = ["USER", "Server", "bindir"]

USER = "kluis"


def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: the PATH, else Debian's newest; None if nowhere."""
    found = shutil.which("pg_ctl")
    dirs = [Path(found).resolve().parent] if found else []
    dirs += [Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return next((d for d in dirs if (d / "initdb").exists()), None)


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

    def start(self, *, fsync: bool = False) -> None:
        """initdb and start; ``fsync=True`` for figures that should compare with SQLite's FULL."""
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data} -c max_connections=60"
        if not fsync:
            options += " -F"
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
