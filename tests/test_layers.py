"""The dependency direction from DESIGN.md and docs/architecture.md, checked on every import.

    examples/ ──> vault/ ──> agents/ ──> protocol/

``protocol`` imports nothing of ours, ``agents`` only ``protocol``; ``vault``
may use both. Inside ``vault`` the sub-packages form floors of their own
(docs/architecture.md, "The vault's floors"): a module may import from its own
floor and the floors below it, never from above. The check reads the source
with ``ast`` so that a lazy import inside a function is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"protocol", "agents", "vault", "examples", "tests", "benchmarks"}
ALLOWED = {
    "protocol": {"protocol"},
    "agents": {"agents", "protocol"},
    "vault": {"vault", "agents", "protocol"},
}

#: ``vault``'s sub-packages and what each may import. ``_exceptions`` (the error
#: tree) is the ground floor that everything stands on.
VAULT_FLOORS: dict[str, set[str]] = {
    "_exceptions": set(),
    "home": {"_exceptions"},
    "store": {"_exceptions", "home"},
    "services": {"_exceptions", "home", "store"},
    "api": {"_exceptions", "home", "store", "services"},
    "node": {"_exceptions", "home", "store", "services", "api"},
    "requester": {"_exceptions", "home", "store"},
    "business": {"_exceptions", "home", "store", "api", "requester"},
    "demo": {"_exceptions", "home", "store", "services", "node", "requester"},
    "cli": {
        "_exceptions",
        "home",
        "store",
        "services",
        "api",
        "node",
        "requester",
        "demo",
        "business",
    },
}


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Dotted names of everything ``path`` imports; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(root).parent.parts)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


def _floor_of(module: str) -> str | None:
    """``vault.store.audit`` -> ``store``; ``vault`` itself -> None (the facade)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "vault" and len(parts) > 1 else None


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_downward(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        illegal = _imported_packages(path) - ALLOWED[package]
        if illegal:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(illegal)}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def _floor_violations(root: Path) -> list[str]:
    bad = []
    for path in sorted((root / "vault").rglob("*.py")):
        rel = path.relative_to(root)
        own = rel.parts[1].removesuffix(".py")
        if own not in VAULT_FLOORS:  # vault/__init__.py, vault/__main__.py: the doors
            continue
        for name in sorted(_imports(path, root)):
            floor = _floor_of(name)
            if name == "vault" or (floor is not None and floor != own):
                if floor not in VAULT_FLOORS[own]:
                    bad.append(f"{rel} ({own}) imports {name}")
    return bad


def test_vault_floors_import_only_downward() -> None:
    bad = _floor_violations(ROOT)
    assert not bad, "vault's floors violated:\n" + "\n".join(bad)


def test_every_vault_subpackage_has_a_floor() -> None:
    subpackages = {p.parent.name for p in (ROOT / "vault").glob("*/__init__.py")}
    assert subpackages <= set(VAULT_FLOORS), subpackages - set(VAULT_FLOORS)


def test_the_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import vault.store.records\nfrom agents import x\nimport os\n")
    assert _imported_packages(sample) == {"vault", "agents"}
    for floor in ("store", "cli"):
        (tmp_path / "vault" / floor).mkdir(parents=True)
    (tmp_path / "vault" / "store" / "bad.py").write_text("from vault.cli.main import app\n")
    (tmp_path / "vault" / "cli" / "ok.py").write_text("from vault.store.vault import Vault\n")
    assert _floor_violations(tmp_path) == ["vault/store/bad.py (store) imports vault.cli.main"]
