"""How ``--help`` looks: a flag shows no type, and the type column stays for real values.

typer 0.29 labels every option with its Python type, flags included, so each
``--json`` and even ``--help`` read ``<bool>``: noise where nothing is typed in.
Typer offers no setting for it, so :func:`quiet_flag_types` wraps the one method
that draws the label, once, when the CLI is built. A flag (``is_flag``) then
shows no type; every other option keeps its ``<path>``, ``<int>`` and so on.
``tests/vault/test_cli_help.py`` renders every command's help and fails on a
``<bool>`` (so a typer upgrade that renames the method fails loudly there).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

__all__ = ["quiet_flag_types"]

_ORIGINAL = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag:
        return None
    return _ORIGINAL(self, ctx)


def quiet_flag_types() -> None:
    """Make flags show no ``<bool>`` in help (idempotent)."""
    TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
