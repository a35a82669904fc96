"""The one place where an exception becomes an exit code (docs/architecture.md, D4).

:class:`KluisGroup` wraps every command and sub-app:

* a :class:`protocol.KluisError` -> ``error: <one line>`` on stderr, exit 2;
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

__all__ = ["ENV_DEBUG", "EXIT_ERROR", "EXIT_INTERNAL", "EXIT_VERIFY_FAILED", "KluisGroup"]

ENV_DEBUG = "KLUIS_DEBUG"


EXIT_ERROR = 2


EXIT_VERIFY_FAILED = 1


EXIT_INTERNAL = 70


class KluisGroup(TyperGroup):
    """Turns exceptions into one-line errors and exit codes, for every (sub)command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KluisError as exc:
            stderr().print(f"error: {exc.message}", markup=False)
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            if os.environ.get(ENV_DEBUG) == "1":
                traceback.print_exc()
            stderr().print(
                f"error: internal error ({type(exc).__name__}); rerun with {ENV_DEBUG}=1 "
                "for details",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None
