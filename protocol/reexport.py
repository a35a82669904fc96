"""Lazy re-exports for a package's ``__init__`` (PEP 562).

A package that re-exports its public names eagerly makes ``import pkg.small``
pay for every sibling: ``import protocol.clock`` built every pydantic message
model, and ``kluis --help`` imported aiohttp and libp2p. With :func:`lazy_exports`
a package lists ``module -> names`` once; a name's module is imported on first
access (``pkg.Name`` or ``from pkg import Name``) and the value is then cached
in the package, so later lookups cost nothing.

The package keeps an ``if TYPE_CHECKING:`` block with the same imports, so
mypy, IDEs and readers see every name; ``tests/*/test_public_api.py`` check that
block, the table and ``__all__`` agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, from ``{module: (name, ...)}``.

    ``module`` is relative to ``package`` (``".messages"``) or absolute
    (``"protocol.clock"``). A name listed twice is a bug and fails at import.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in where:
                raise ValueError(f"{package}: {name!r} is exported from two modules")
            where[name] = module

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        vars(importlib.import_module(package))[name] = value  # cache: next lookup is direct
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(where))

    return __getattr__, __dir__
