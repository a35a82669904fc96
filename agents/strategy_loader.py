"""Load an agent developer's strategy from ``module:Class``: ``tournament --strategy``.

The module is imported by name, with the current directory on the import path
(as ``python -m`` does), or from a file when it ends in ``.py``
(``path/to/mine.py:MyStrategy``). ``Class`` is anything that makes a strategy
when called with no arguments: a class, or a factory function. Every failure is
a :class:`StrategyLoadError` whose message fits on one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ._errors import StrategyLoadError
from .strategy import Strategy

__all__ = ["StrategyLoadError", "load_strategy"]


def _import(module: str) -> ModuleType:
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise StrategyLoadError(f"no file {module}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise StrategyLoadError(f"cannot import {module}")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return importlib.import_module(module)


def load_strategy(spec: str) -> tuple[str, Callable[[], Strategy]]:
    """``"mymod:MyStrategy"`` → ``("MyStrategy", factory)``; the factory is tried once."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr.isidentifier():
        raise StrategyLoadError(f"strategy {spec!r}: expected MODULE:CLASS, e.g. mymod:MyStrategy")
    try:
        loaded = _import(module)
    except StrategyLoadError as exc:
        raise StrategyLoadError(f"cannot load strategy {spec!r}: {exc}") from exc
    except ModuleNotFoundError as exc:
        raise StrategyLoadError(
            f"cannot load strategy {spec!r}: no module named {exc.name!r}"
        ) from exc
    except Exception as exc:  # the developer's module failed while importing
        raise StrategyLoadError(
            f"cannot load strategy {spec!r}: importing {module} raised "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
        ) from exc
    factory = getattr(loaded, attr, None)
    if factory is None:
        raise StrategyLoadError(f"cannot load strategy {spec!r}: {module} has no {attr!r}")
    if not callable(factory):
        raise StrategyLoadError(f"cannot load strategy {spec!r}: {attr} is not callable")
    try:
        sample = factory()
    except Exception as exc:
        raise StrategyLoadError(
            f"cannot load strategy {spec!r}: {attr}() raised {type(exc).__name__}"
        ) from exc
    if not isinstance(sample, Strategy):
        raise StrategyLoadError(
            f"cannot load strategy {spec!r}: {attr}() has no start/propose/respond methods"
        )
    return attr, factory
