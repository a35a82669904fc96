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
  exceptions off). :class:`_LeanRichUtils` imports ``typer.rich_utils`` with
  stand-ins for those two names that import the real class when first called,
  so nothing changes if they ever are used.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

from typer import _click
from typer.core import _TyperParameter

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


def _deferred(module: str, name: str) -> type:
    """A stand-in for class ``module.name``: using it imports the real one."""

    def real() -> Any:
        return getattr(importlib.import_module(module), name)

    class Meta(type):
        def __getattr__(cls, attr: str) -> Any:
            return getattr(real(), attr)

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return real()(*args, **kwargs)

    return Meta(name, (), {"__module__": module, "__qualname__": name})


_STANDINS = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


class _StandInLoader(importlib.abc.Loader):
    """Runs the real loader of ``typer.rich_utils`` with stand-in modules in place."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        placed: dict[str, types.ModuleType] = {}
        for name, cls in _STANDINS.items():
            if name not in sys.modules:  # already imported for real: use it
                stand_in = types.ModuleType(name)
                setattr(stand_in, cls, _deferred(name, cls))
                placed[name] = sys.modules[name] = stand_in
        try:
            self.real.exec_module(module)
        finally:
            for name, stand_in in placed.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]  # the next `import rich.markdown` is the real one


class _LeanRichUtils(importlib.abc.MetaPathFinder):
    """Finds ``typer.rich_utils`` (once) and hands it to :class:`_StandInLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "typer.rich_utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _StandInLoader(spec.loader)
        return spec


def install() -> None:
    """Apply both (idempotent)."""
    _TyperParameter.process_value = _process_value  # type: ignore[method-assign]
    if "typer.rich_utils" not in sys.modules and not any(
        isinstance(f, _LeanRichUtils) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _LeanRichUtils())
