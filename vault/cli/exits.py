"""The one place where an exception becomes an exit code (docs/architecture.md, D4, D36).

:data:`EXIT_CODES` is the one exit-code table: ``kluis --help``, docs/cli.md and
the tests read it from here. :class:`KluisGroup` wraps every command and sub-app:

* a :class:`protocol.KluisError` -> ``error: <one line>`` on stderr, exit 3
  (exit 4 when the command needs a running node and none runs);
* a click usage error (unknown option, bad value) -> click's own exit 2;
* ``kluis audit --verify`` on a broken chain, ``kluis receipts verify`` on a
  signature that does not hold -> exit 1 (a result, not an error);
* anything else -> ``error: internal error``, exit 70; the traceback is shown
  only with ``KLUIS_DEBUG=1`` (it could hold personal values).
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from protocol import KluisError
from vault.cli.console import stderr

__all__ = [
    "ENV_DEBUG",
    "EXIT_CODES",
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_NO_NODE",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VERIFY_FAILED",
    "KluisGroup",
    "exit_code_help",
]

ENV_DEBUG = "KLUIS_DEBUG"

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2  # click's own code for a usage error; kept so shells see one meaning
EXIT_ERROR = 3
EXIT_NO_NODE = 4
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h

#: The one exit-code table: code -> what it means (shown in ``kluis --help``).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_VERIFY_FAILED: "a check failed (audit --verify, receipts verify)",
    EXIT_USAGE: "usage error (unknown option, missing or bad argument)",
    EXIT_ERROR: "refused or failed (the one-line error says why)",
    EXIT_NO_NODE: "needs a running node (`kluis start`) and none runs",
    EXIT_INTERNAL: "internal error (a bug; KLUIS_DEBUG=1 shows the traceback)",
}


def exit_code_help() -> str:
    """The table as help text, one code a line."""
    return "\n\n".join(f"  {code:<3} {meaning}" for code, meaning in EXIT_CODES.items())


def _code_for(exc: KluisError) -> int:
    from vault.cli.client import NoRunningNode

    return EXIT_NO_NODE if isinstance(exc, NoRunningNode) else EXIT_ERROR


class KluisGroup(TyperGroup):
    """Turns exceptions into one-line errors and exit codes, for every (sub)command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KluisError as exc:
            stderr().print(f"error: {exc.message}", markup=False)
            raise typer.Exit(_code_for(exc)) from None
        except Exception as exc:
            if os.environ.get(ENV_DEBUG) == "1":
                traceback.print_exc()
            stderr().print(
                f"error: internal error ({type(exc).__name__}); rerun with {ENV_DEBUG}=1 "
                "for details",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None
