"""The public APIs of ``vault`` and ``vault.requester`` are exactly these lists; changing
one is a decision.

Each package's ``__init__`` re-exports its names explicitly (no ``*``), and
every name is documented: a class or function by its own docstring, a constant
or type alias by a ``#:`` comment where it is defined.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

import vault
import vault.requester
from tests.lazy_exports import check_lazy_exports

VAULT = {
    # the vault and its parts
    "Vault", "VaultPaths", "default_home", "resolve_home", "Store", "Profile", "ProfileField",
    "ChangeListener", "AuditLog", "AuditEntry", "VerifyReport", "Clock",
    # errors
    "VaultError", "VaultExists", "VaultNotFound", "WrongPassphrase", "WeakPassphrase",
    "StorageError", "CorruptRecord", "AuditError", "BackupError", "UnknownField",
    "FieldNotSet", "InvalidValue",
}  # fmt: skip

REQUESTER = {
    # the requester and what it hands out
    "Requester", "DEFAULT_LISTEN", "GrantRef", "GrantHandle", "GrantInfo", "GrantStatus",
    "PendingRequest", "RequestRecord", "Offer", "Update", "OfferAgent", "parse_purpose",
    "vault_peer_of",
    # errors
    "RequesterError", "DecisionPending", "InvalidGrant", "UnknownGrant", "UnknownRequest",
    "AccessDenied", "RateLimited", "RemoteError", "TransportError", "error_to_exception",
    "MutedByCustomer",
}  # fmt: skip

PACKAGES = [(vault, VAULT), (vault.requester, REQUESTER)]
IDS = ["vault", "vault.requester"]


@pytest.mark.parametrize(("package", "expected"), PACKAGES, ids=IDS)
def test_all_is_exactly_the_expected_set(package: ModuleType, expected: set[str]) -> None:
    assert len(package.__all__) == len(set(package.__all__)), "duplicates in __all__"
    assert set(package.__all__) == expected


def _tree(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))


#: Modules a package ``__init__`` imports to re-export lazily, not to re-export from.
_MACHINERY = {"__future__", "typing", "protocol.reexport"}


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """A module's top-level statements, with those of its ``if TYPE_CHECKING:`` block
    (where a lazily re-exporting package writes its imports)."""
    nodes: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            nodes.extend(node.body)
        else:
            nodes.append(node)
    return nodes


def _imports(module: str) -> dict[str, str]:
    """Public name -> the module it is imported from, for one module's top level."""
    found = {}
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in _top_level(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module not in _MACHINERY:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                assert alias.name != "*", f"{module} imports * from {base}"
                found[alias.asname or alias.name] = base
    return {name: origin for name, origin in found.items() if not name.startswith("_")}


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


@pytest.mark.parametrize(("package", "expected"), PACKAGES, ids=IDS)
def test_every_name_is_an_explicit_re_export(package: ModuleType, expected: set[str]) -> None:
    imported = _imports(package.__name__)
    assert set(imported) == set(package.__all__), "imported but not public, or public by accident"
    for name in package.__all__:
        origin = importlib.import_module(imported[name])
        assert getattr(origin, name) is getattr(package, name), name


def _doc_comment(module: str, name: str, depth: int = 0) -> str | None:
    """The ``#:`` comment above ``name``'s assignment, following re-exports to the definer."""
    assert depth < 5, f"re-export loop for {name}"
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    lines = Path(spec.origin).read_text(encoding="utf-8").splitlines()
    for node in _top_level(_tree(module)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            return above.removeprefix("#:").strip() if above.startswith("#:") else None
    origin = _imports(module).get(name)
    assert origin is not None, f"{name} is neither defined nor imported in {module}"
    return _doc_comment(origin, name, depth + 1)


def _own_docstring(obj: object) -> str | None:
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    name = getattr(obj, "__name__", "")
    if doc and doc.startswith(f"{name}("):  # the signature a dataclass writes for itself
        return None
    return doc


@pytest.mark.parametrize(("package", "expected"), PACKAGES, ids=IDS)
def test_every_name_is_importable_and_documented(package: ModuleType, expected: set[str]) -> None:
    undocumented = []
    for name in package.__all__:
        namespace: dict[str, object] = {}
        exec(f"from {package.__name__} import {name}", namespace)
        obj = namespace[name]
        if inspect.isclass(obj) or inspect.isfunction(obj):
            doc = _own_docstring(obj)
        else:  # a constant or a type alias
            doc = _doc_comment(package.__name__, name)
        if not doc or not doc.strip():
            undocumented.append(name)
    assert not undocumented, f"undocumented in {package.__name__}: {undocumented}"


@pytest.mark.parametrize(("package", "expected"), PACKAGES, ids=IDS)
def test_the_lazy_table_is_the_public_api(package: ModuleType, expected: set[str]) -> None:
    check_lazy_exports(package)


def test_the_documentation_check_can_fail() -> None:
    class Bare:
        pass

    def bare() -> None:
        pass

    from dataclasses import dataclass

    @dataclass
    class Data:
        x: int

    assert _own_docstring(Bare) is None
    assert _own_docstring(bare) is None
    assert _own_docstring(Data) is None
    assert _doc_comment("vault.requester", "DEFAULT_LISTEN")
    assert _doc_comment("vault.store.audit", "HEAD_KIND") is None  # a name without a comment
