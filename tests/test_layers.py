"""The dependency direction from DESIGN.md, checked on every import statement.

    examples/ ──> vault/ ──> agents/ ──> protocol/

``protocol`` imports nothing of ours, ``agents`` only ``protocol``; ``vault``
may use both. The check reads the source with ``ast`` so that a lazy import
inside a function is caught too.
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


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_downward(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        illegal = _imported_packages(path) - ALLOWED[package]
        if illegal:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(illegal)}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def test_the_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import vault.store\nfrom agents import x\nimport os\n")
    assert _imported_packages(sample) == {"vault", "agents"}
