"""Serve a local control API on 127.0.0.1 and publish its token and URL as files.

The owner's :class:`~vault.api.control.ControlServer` and the business node's API
(``vault/business/api.py``) both bind 127.0.0.1 (port 0: the OS picks), write
``control.token`` and ``control.url`` (0600, atomically) for their CLI clients,
and on stop remove those files only if they are still theirs (a second node that
started since owns them now). One copy of that, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from aiohttp import web

from vault.home.atomic import atomic_write

__all__ = ["LocalSite"]


class LocalSite:
    """One app on 127.0.0.1, its token file and its URL file."""

    def __init__(self, token_file: Path, url_file: Path) -> None:
        self.token_file = token_file
        self.url_file = url_file
        self._runner: web.AppRunner | None = None
        self._written: tuple[str, str] = ("", "")

    @property
    def app(self) -> web.Application | None:
        """The app being served (None before start and after stop)."""
        return None if self._runner is None else self._runner.app

    async def start(self, app: web.Application, port: int, token: str) -> tuple[int, str]:
        """Bind ``port`` (0: any), write the files; return the bound port and the URL."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        url = f"http://127.0.0.1:{port}"
        atomic_write(self.token_file, (token + "\n").encode("ascii"), mode=0o600)
        atomic_write(self.url_file, (url + "\n").encode("ascii"), mode=0o600)
        self._written = (token, url)
        return port, url

    async def stop(self) -> None:
        """Stop serving and remove the token and URL files (only if they are still ours)."""
        for path, mine in zip((self.token_file, self.url_file), self._written, strict=True):
            with contextlib.suppress(OSError):
                if mine and path.read_text(encoding="ascii").strip() == mine:
                    path.unlink()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
