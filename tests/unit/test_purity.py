"""The pure core imports the standard library only (STYLE.md rule 1)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_acd_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"acd"}
    banned_std = {"asyncio", "socket", "time", "threading", "subprocess"}
    for path in (ROOT / "acd").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path.name} imports {name}"
                assert top not in banned_std, f"{path.name} imports {name}: the core has no I/O or clock"
