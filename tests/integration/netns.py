"""Linux network namespaces for the reach tests: subnets, NAT routers, and nodes in them.

A :class:`Net` makes namespaces (names carry a random tag, so two runs at once
do not collide), joins them with veth pairs, turns a namespace into a home
router (forwarding + nftables masquerade, unsolicited inbound dropped, as a
home router does) and runs kluis nodes in them as real processes
(``ip netns exec``). :meth:`Net.close` kills every process and deletes every
namespace, whatever happened before. :func:`unavailable` says in one line why
namespaces cannot be made here (not root, no ``ip``/``nft``, no permission).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: How long one expected event may take (a relayed DHT lookup, a Python start-up).
EVENT_TIMEOUT = 30.0


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


def unavailable() -> str | None:
    """Why namespace tests cannot run here, in one line; None if they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (iproute2 / nftables)"
    probe = f"klprobe{secrets.token_hex(3)}"
    try:
        _run("ip", "netns", "add", probe)
        try:
            _run("ip", "netns", "exec", probe, "nft", "list", "ruleset")
        finally:
            _run("ip", "netns", "del", probe)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        return f"cannot create a network namespace here ({type(exc).__name__})"
    return None


class Proc:
    """A node process in a namespace; reads its JSON (or text) lines as events."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []

    async def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def line(self, timeout: float = EVENT_TIMEOUT) -> str:
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name}: nothing within {timeout} s{self._tail()}") from None
        if not raw:
            raise AssertionError(f"{self.name} exited{self._tail()}")
        text = raw.decode().rstrip("\n")
        self.lines.append(text)
        return text

    async def expect(self, key: str, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
        """The next event that has ``key``; an ``error`` event fails the test at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = await self.line(max(0.1, deadline - loop.time()))
            try:
                event = json.loads(text)
            except ValueError:
                continue
            self.events.append(event)
            if key in event:
                return event
            if "error" in event:
                raise AssertionError(f"{self.name}: {event['error']}{self._tail()}")

    def _tail(self) -> str:
        said = "".join(f"\n  said: {line}" for line in self.lines[-4:])
        with contextlib.suppress(OSError):
            tail = self.log.read_text(errors="replace").strip().splitlines()[-15:]
            return said + "".join(f"\n  stderr: {line}" for line in tail)
        return said

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def wait_dead(self) -> None:
        self.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)


class Net:
    """Namespaces, links and processes of one test; :meth:`close` undoes all of it."""

    def __init__(self, workdir: Path) -> None:
        self.tag = secrets.token_hex(2)
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.procs: list[Proc] = []
        self._links = 0

    def ns(self, name: str) -> str:
        full = f"kl{self.tag}{name}"
        _run("ip", "netns", "add", full)
        self.namespaces.append(full)
        _run("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def link(self, a: str, a_cidr: str, b: str, b_cidr: str) -> tuple[str, str]:
        """A veth pair between namespaces ``a`` and ``b``; returns the two interface names."""
        self._links += 1
        ia, ib = f"v{self.tag}{self._links}a", f"v{self.tag}{self._links}b"
        _run("ip", "link", "add", ia, "type", "veth", "peer", "name", ib)
        for ns, iface, cidr in ((a, ia, a_cidr), (b, ib, b_cidr)):
            _run("ip", "link", "set", iface, "netns", ns)
            _run("ip", "-n", ns, "addr", "add", cidr, "dev", iface)
            _run("ip", "-n", ns, "link", "set", iface, "up")
        return ia, ib

    def add_addr(self, ns: str, iface: str, cidr: str) -> None:
        _run("ip", "-n", ns, "addr", "add", cidr, "dev", iface)

    def route(self, ns: str, via: str) -> None:
        _run("ip", "-n", ns, "route", "add", "default", "via", via)

    def forwarding(self, ns: str, on: bool) -> None:
        _run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.ip_forward={int(on)}")

    def home_router(self, ns: str, wan: str) -> None:
        """Forward and masquerade out of ``wan``; drop what nobody inside asked for."""
        self.forwarding(ns, True)
        rules = f"""
table ip kluisnat {{
  chain nat_out {{ type nat hook postrouting priority srcnat; oifname "{wan}" masquerade; }}
  chain through {{
    type filter hook forward priority filter; policy accept;
    iifname "{wan}" ct state established,related accept
    iifname "{wan}" drop
  }}
  chain to_router {{
    type filter hook input priority filter; policy accept;
    iifname "{wan}" ct state established,related accept
    iifname "{wan}" drop
  }}
}}
"""
        subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"],
            input=rules.encode(),
            check=True,
            capture_output=True,
            timeout=10,
        )

    async def spawn(self, ns: str, name: str, *argv: str) -> Proc:
        log = self.workdir / f"{name}.stderr"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", ns, *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )  # fmt: skip
        handle = Proc(name, proc, log)
        self.procs.append(handle)
        return handle

    async def actor(self, ns: str, name: str, role: str, *args: str) -> Proc:
        home = self.workdir / name
        return await self.spawn(
            ns, name, sys.executable, "-m", "tests.integration.netns_actor", role,
            "--home", str(home), *args,
        )  # fmt: skip

    async def relay(self, ns: str, name: str, port: int, *bootstrap: str) -> tuple[Proc, str]:
        """A ``kluis relay`` process; returns it and its peer id."""
        args = ["--home", str(self.workdir / name), "--listen", f"/ip4/0.0.0.0/tcp/{port}"]
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        proc = await self.spawn(
            ns, name, sys.executable, "-c", "from vault.cli.main import main; main()",
            "relay", *args, "--health-every", "0",
        )  # fmt: skip
        while True:
            text = await proc.line()
            if text.startswith("relay ") and text.endswith(" running"):
                return proc, text.split()[1]

    async def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            await proc.wait_dead()
        for ns in reversed(self.namespaces):
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                _run("ip", "netns", "del", ns)
