"""Checks shared by the ``test_public_api`` modules: a package's lazy re-export table
(:func:`protocol.reexport.lazy_exports`), its ``if TYPE_CHECKING:`` imports and its
``__all__`` name the same things, and every name resolves to its module's object."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path
from types import ModuleType


def type_checking_imports(package: ModuleType) -> dict[str, str]:
    """Name -> absolute module, for the ``from X import name`` lines under ``if TYPE_CHECKING:``."""
    spec = importlib.util.find_spec(package.__name__)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.unparse(stmt)
                base = importlib.util.resolve_name(
                    "." * stmt.level + (stmt.module or ""), package.__name__
                )
                for alias in stmt.names:
                    assert alias.name != "*" and alias.asname is None, ast.unparse(stmt)
                    found[alias.name] = base
    return found


def lazy_table(package: ModuleType) -> dict[str, str]:
    """Name -> absolute module, from the package's ``_EXPORTS`` table."""
    table: dict[str, tuple[str, ...]] = vars(package)["_EXPORTS"]
    return {
        name: importlib.util.resolve_name(module, package.__name__)
        for module, names in table.items()
        for name in names
    }


def check_lazy_exports(package: ModuleType) -> None:
    """The table, the ``TYPE_CHECKING`` imports and ``__all__`` agree, and each name
    is the very object its module defines (a lazy re-export, not a copy)."""
    table = lazy_table(package)
    assert sum(len(v) for v in vars(package)["_EXPORTS"].values()) == len(table), "a name twice"
    assert table == type_checking_imports(package), "the table and the TYPE_CHECKING block differ"
    assert set(table) == set(package.__all__), "the table and __all__ differ"
    for name, module in table.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name
    assert set(package.__all__) <= set(dir(package))
