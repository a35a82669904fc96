"""One exception tree, drawn in one place, and the drawing kept true.

Every exception class that ``protocol``, ``agents`` or ``vault`` defines must be
a :class:`protocol.KluisError`, and must be drawn in the tree in the docstring
of :mod:`protocol._exceptions` under its real parent. The check imports every
module of the three packages, so a class added anywhere, in any module, is
found; and it reads the drawing line by line, so a stale entry (a class that
was renamed or removed) fails too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterable
from types import ModuleType

import protocol._exceptions
from protocol import KluisError

PACKAGES = ("protocol", "agents", "vault")

#: One drawn line: the tree's indentation (4 columns a level), then the class name.
_LINE = re.compile(r"^    (?P<prefix>(?:[│ ]   )*)(?P<branch>[├└]── )?(?P<name>[A-Z]\w*)\b")


def _modules(packages: Iterable[str]) -> list[ModuleType]:
    found = []
    for name in packages:
        package = importlib.import_module(name)
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if info.name.endswith(".__main__"):  # runs the CLI on import
                continue
            found.append(importlib.import_module(info.name))
    return found


def our_exceptions(modules: Iterable[ModuleType]) -> list[type[BaseException]]:
    """Every exception class defined (not merely imported) in ``modules``."""
    seen: dict[type[BaseException], None] = {}
    for module in modules:
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                seen[value] = None
    return list(seen)


def drawn_tree(doc: str) -> dict[str, str | None]:
    """The drawing as ``{class name: drawn parent}`` (the root's parent is None)."""
    lines = doc.splitlines()
    start = lines.index("    KluisError")
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        match = _LINE.match(line)
        if match is None:  # a note inside the drawing, e.g. AccessDenied's codes
            continue
        depth = len(match["prefix"]) // 4 + (1 if match["branch"] else 0)
        name = match["name"]
        assert name not in parents, f"{name} is drawn twice"
        del stack[depth:]
        parents[name] = stack[-1] if stack else None
        stack.append(name)
    return parents


def problems(classes: Iterable[type[BaseException]], doc: str) -> list[str]:
    """Everything wrong between ``classes`` and the drawing in ``doc`` (empty: all true)."""
    drawn = drawn_tree(doc)
    found: list[str] = []
    by_name: dict[str, type[BaseException]] = {}
    for cls in classes:
        where = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__name__ in by_name:
            other = by_name[cls.__name__]
            found.append(f"{where}: same name as {other.__module__}.{other.__qualname__}")
        by_name[cls.__name__] = cls
        if not issubclass(cls, KluisError):
            found.append(f"{where}: not a KluisError")
            continue
        if cls.__name__ not in drawn:
            found.append(f"{where}: not drawn in protocol/_exceptions.py")
            continue
        parents = [b.__name__ for b in cls.__bases__ if issubclass(b, KluisError)]
        want = drawn[cls.__name__]
        if cls is not KluisError and parents != [want]:
            found.append(f"{where}: drawn under {want}, defined under {parents}")
    for name in drawn.keys() - by_name.keys():
        found.append(f"{name}: drawn, but no such class")
    return sorted(found)


def test_every_exception_is_a_kluis_error_drawn_under_its_parent() -> None:
    classes = our_exceptions(_modules(PACKAGES))
    assert len(classes) > 50  # the walk found the packages' modules
    doc = protocol._exceptions.__doc__
    assert doc is not None
    assert problems(classes, doc) == []


def test_the_check_can_fail() -> None:
    class Stray(Exception):
        pass

    class Undrawn(KluisError):
        pass

    class Misplaced(KluisError):
        pass

    class Twin(KluisError):
        pass

    class OtherTwin(KluisError):
        pass

    OtherTwin.__name__ = "Twin"
    doc = (
        "The tree::\n\n"
        "    KluisError\n"
        "    ├── Gone                   a class that no longer exists\n"
        "    ├── Twin\n"
        "    └── Parent\n"
        "        │ (a note line is skipped)\n"
        "        └── Misplaced\n"
        "\n"
        "    Undrawn (after the blank line: not part of the drawing)\n"
    )
    found = problems([KluisError, Stray, Undrawn, Misplaced, Twin, OtherTwin], doc)
    here = __name__ + ".test_the_check_can_fail.<locals>"
    assert found == sorted(
        [
            f"{here}.Stray: not a KluisError",
            f"{here}.Undrawn: not drawn in protocol/_exceptions.py",
            f"{here}.Misplaced: drawn under Parent, defined under ['KluisError']",
            f"{here}.OtherTwin: same name as {here}.Twin",
            "Gone: drawn, but no such class",
            "Parent: drawn, but no such class",
        ]
    )
