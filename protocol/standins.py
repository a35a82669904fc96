"""Import a third-party module with a few of *its* imports deferred until first use.

Some libraries import, at their top, a heavy module for a feature kluis never
uses: typer's help renderer imports a Markdown parser and a traceback renderer
(``typer.rich_utils``), py-libp2p's host imports its AutoTLS ACME client
(``libp2p.host.basic_host`` → ``httpx``, ``requests``, and through httpx's own
command line, ``rich`` and ``pygments``). :func:`defer_imports` arranges that,
when ``target`` is first imported, the named modules are stand-ins while it
runs: each imported name is a small class that imports the real module and
hands over to the real object when it is called or an attribute is read.
Afterwards the stand-ins leave ``sys.modules``, so a later ``import`` of those
modules is the real one. Nothing changes for a caller that does use the
feature; it pays the import then.

A library that renames what it imports fails loudly (``ImportError`` at the
target's import names the missing stand-in), not silently: see
``tests/protocol/test_standins.py`` and the tests of each use.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["defer_imports", "deferred"]


def deferred(module: str, name: str) -> type:
    """A stand-in for ``module.name``: calling it, or reading an attribute, uses the real one."""

    def real() -> Any:
        return getattr(importlib.import_module(module), name)

    class Meta(type):
        def __getattr__(cls, attr: str) -> Any:
            return getattr(real(), attr)

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return real()(*args, **kwargs)

    return Meta(name, (), {"__module__": module, "__qualname__": name, "__doc__": None})


class _StandInLoader(importlib.abc.Loader):
    """Runs ``target``'s real loader with stand-in modules in ``sys.modules``."""

    def __init__(self, real: importlib.abc.Loader, standins: Mapping[str, Sequence[str]]) -> None:
        self.real = real
        self.standins = standins

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        placed: dict[str, types.ModuleType] = {}
        for name, names in self.standins.items():
            if name not in sys.modules:  # already imported for real: use it
                stand_in = types.ModuleType(name, "a stand-in (protocol.standins)")
                for attr in names:
                    setattr(stand_in, attr, deferred(name, attr))
                placed[name] = sys.modules[name] = stand_in
        try:
            self.real.exec_module(module)
        finally:
            for name, stand_in in placed.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]  # the next import of it is the real module


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``target`` once and hands it to :class:`_StandInLoader`."""

    def __init__(self, target: str, standins: Mapping[str, Sequence[str]]) -> None:
        self.target = target
        self.standins = standins

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.target:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _StandInLoader(spec.loader, self.standins)
        return spec


def defer_imports(target: str, standins: Mapping[str, Sequence[str]]) -> None:
    """When ``target`` is first imported, ``standins`` (module -> names it takes from
    it) are stand-ins during its import. Idempotent; does nothing if ``target`` is
    imported already."""
    if target in sys.modules:
        return
    if any(isinstance(f, _Finder) and f.target == target for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder(target, dict(standins)))
