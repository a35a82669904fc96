"""The CLI's client of a running node's control API (D2: the running node is the one writer).

Commands read ``control.url`` and ``control.token`` from ``KLUIS_HOME`` and call
``/api/v1/...``. An error answer is an RFC 9457 problem
(``application/problem+json``); it becomes :class:`ApiProblem`, whose ``code``
is the problem's stable code and whose message is its ``detail``, so the CLI
prints the node's one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from protocol import ErrorCode
from vault._exceptions import VaultError
from vault.api.media import PROBLEM_JSON
from vault.home.lock import running_pid
from vault.home.paths import TOKEN_FILE, URL_FILE, resolve_home

__all__ = [
    "ApiProblem",
    "ControlClient",
    "NoRunningNode",
    "check_given_passphrase",
    "node_client",
    "require_client",
]

_CODES = {c.value: c for c in ErrorCode}


class NoRunningNode(VaultError):
    """No node runs on this ``KLUIS_HOME``."""

    def __init__(self, message: str = "no running node; start one with `kluis start`") -> None:
        super().__init__(message)


class ApiProblem(VaultError):
    """The running node's control API answered with a problem (RFC 9457).

    ``code`` is the problem's code (:data:`protocol.ErrorCode.LOCAL` for one this
    client does not know), ``status`` the HTTP status, ``type`` the problem type.
    """

    def __init__(self, detail: str, *, code: ErrorCode, status: int, type: str = "") -> None:
        super().__init__(detail, code=code)
        self.status = status
        self.type = type

    @classmethod
    def from_response(cls, status: int, content_type: str, raw: bytes) -> ApiProblem:
        """Read a problem answer; anything else becomes a plain ``HTTP <status>`` problem."""
        try:
            body = json.loads(raw) if content_type == PROBLEM_JSON else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            return cls(f"HTTP {status}", code=ErrorCode.HTTP_ERROR, status=status)
        detail = body.get("detail") or body.get("title") or f"HTTP {status}"
        return cls(
            str(detail)[:500],
            code=_CODES.get(body["code"], ErrorCode.LOCAL),
            status=status,
            type=str(body.get("type", "")),
        )


class ControlClient:
    """A small synchronous client for the control API (stdlib urllib; no event loop)."""

    #: True for a node started for one command, without network (:mod:`vault.cli.local`)
    local = False

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_home(cls, home: Path) -> ControlClient:
        """The client for the node running on ``home``; :class:`NoRunningNode` if none."""
        if running_pid(home) is None:
            raise NoRunningNode()
        try:
            url = (home / URL_FILE).read_text(encoding="ascii").strip()
            token = (home / TOKEN_FILE).read_text(encoding="ascii").strip()
        except OSError as exc:
            raise VaultError("the node is starting or stopping; try again") from exc
        return cls(url, token)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.error  # here, not at the top: `kluis --help` and offline commands skip it
        import urllib.request

        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(  # noqa: S310 (our own loopback URL)
            f"{self.url}/api/v1/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            content_type = exc.headers.get_content_type() if exc.headers else ""
            raise ApiProblem.from_response(exc.code, content_type, exc.read()) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise VaultError(f"cannot reach the running node: {exc}") from exc

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


def check_given_passphrase(client: ControlClient, passphrase: str | None = None) -> None:
    """A passphrase given while the node runs is checked by the node, never ignored (D39).

    The running node needs none (the control token in ``KLUIS_HOME`` authenticates
    the command), so one given — ``passphrase``, else ``$KLUIS_PASSPHRASE`` — would
    pass unnoticed, and the owner would learn it was wrong only at the next
    ``kluis start``. The node answers a right one in microseconds from memory and
    a wrong one after a KDF run (``wrong passphrase``: one line, exit 3). Without
    one given, nothing is checked and no KDF runs.
    """
    import os

    from vault.cli.options import ENV_PASSPHRASE

    given = passphrase if passphrase is not None else os.environ.get(ENV_PASSPHRASE)
    if given:
        client.post("passphrase/check", {"passphrase": given})


def node_client(home: Path | None, passphrase_file: Path | None = None) -> ControlClient | None:
    """A client if a node runs on ``home`` (resolved like the CLI does), else None.

    A passphrase given (``passphrase_file``, else ``$KLUIS_PASSPHRASE``) is checked
    by the node (:func:`check_given_passphrase`)."""
    folder = resolve_home(home)
    if running_pid(folder) is None:
        return None
    client = ControlClient.from_home(folder)
    given = None
    if passphrase_file is not None:
        from vault.cli.options import read_passphrase

        given = read_passphrase(passphrase_file)
    check_given_passphrase(client, given)
    return client


def require_client(home: Path | None) -> ControlClient:
    client = ControlClient.from_home(resolve_home(home))
    check_given_passphrase(client)
    return client
