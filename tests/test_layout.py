"""The shape issue 10 gave the code, kept: the routing core's engine module stays small
enough to read, no adapter module grows past 400 lines, and no package imports in a
cycle (imports under ``TYPE_CHECKING`` are for types only and do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("acd", "cti", "ivr", "recording", "reports", "workorders")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def runtime_imports(path: Path, known: set[str]) -> set[str]:
    """Project modules ``path`` imports when it runs (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    out.add(full if full in known else node.module)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit([n for n in inner if isinstance(n, ast.stmt)])

    visit(tree.body)
    return {m for m in out if m in known}


def test_no_import_cycle() -> None:
    mods = modules()
    graph = {name: runtime_imports(path, set(mods)) - {name} for name, path in mods.items()}
    # A package imports its __init__ first: a module importing its own package is no cycle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph[name]):
            if name.startswith(dep + "."):
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                walk(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)


def test_module_sizes() -> None:
    engine = len((ROOT / "acd" / "engine.py").read_text().splitlines())
    assert engine < 500, f"acd/engine.py has {engine} lines"
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / "cti").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 400}
    assert not big, big
