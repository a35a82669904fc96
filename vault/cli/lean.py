"""Two things typer does on every run that kluis does not need, skipped (issue 14 §2).

typer 0.29 offers no setting for either, so :func:`install` patches them once,
when the CLI is built (like :mod:`vault.cli.help`). Both are guarded by
``tests/vault/test_cli_lean.py`` and ``tests/vault/test_cli_imports.py``, so a
typer upgrade that renames what is patched fails loudly there.

* **An unset option builds a pydantic validator.** typer coerces every
  parameter value through a ``pydantic.TypeAdapter`` it builds on first use,
  even for ``None`` (an option not given), which its coercion maps to ``None``
  (or ``()`` for a repeatable one) without looking at the type. Building the
  adapter imports pydantic (~50 ms), so ``kluis get --help`` paid for it through
  the root group's unset ``--help``. :func:`_process_value` answers ``None`` the
  way typer's coercion does, without building the adapter; any other value
  goes through typer unchanged.
* **Help imports a Markdown parser and a traceback renderer.** ``typer.rich_utils``
  (help and usage errors) imports ``rich.markdown`` (markdown-it, pygments) and
  ``rich.traceback`` at its top, ~50 ms, for ``rich_markup_mode="markdown"`` and
  pretty exceptions, neither of which kluis uses (``"rich"`` markup; pretty
  exceptions off). :func:`protocol.standins.defer_imports` imports
  ``typer.rich_utils`` with stand-ins for those two names that import the real
  class when first used, so nothing changes if they ever are.
"""

from __future__ import annotations

from typing import Any

from typer import _click
from typer.core import _TyperParameter

from protocol.standins import defer_imports

__all__ = ["install"]

_ORIGINAL_PROCESS = _TyperParameter.process_value


def _process_value(self: _TyperParameter, ctx: _click.Context, value: Any) -> Any:
    if value is None and self._runtime_param is None:
        # what typer's RuntimeParam.coerce answers for None, before any type work
        value = () if (self.multiple or self.nargs == -1) else None
        if self.required and self.value_is_missing(value):
            raise _click.exceptions.MissingParameter(ctx=ctx, param=self)
        if self.callback is not None:
            value = self.callback(ctx, self, value)
        return value
    return _ORIGINAL_PROCESS(self, ctx, value)


def install() -> None:
    """Apply both (idempotent)."""
    _TyperParameter.process_value = _process_value  # type: ignore[method-assign]
    defer_imports(
        "typer.rich_utils", {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}
    )
