"""The project's import graph has no cycle, counting every import: at module level,
inside functions, and under ``TYPE_CHECKING`` (a cycle hidden in a function body or
behind a type-only import is still two modules that cannot be understood apart).
And no function of the routing core touches another object's private attribute: the
core's state has one owner (``acd.center.Center``), reached through its operations.

Reviewed exceptions: ``ALLOWED_CYCLES`` lists, by the modules on it, each cycle that may
exist for now, all inside cti/ and each with the issue that removes it. An entry that
no longer matches a cycle fails too (take it off: the list cannot go stale). acd/ and
the pure packages have none."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layout import PACKAGES, ROOT, modules

PURE = ("acd", "ivr", "recording", "reports", "workorders")

# Reviewed: the import cycles inside cti/ that may stay until its restructuring, each
# as the sorted modules of one strongly connected component, with
# "issue 27: cti/ restructure". Measured on 2026-12-04: there are none, and it stays so.
ALLOWED_CYCLES: dict[tuple[str, ...], str] = {}


def _known(name: str, known: set[str] | dict[str, Path]) -> str | None:
    """The project module ``name`` is, or is inside (``a.b.C`` -> ``a.b``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def all_imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every project module ``path`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(m for a in node.names if (m := _known(a.name, known)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                target = _known(full if full in known else base, known)
                if target:
                    found.add(target)
    # A module importing its own package (its __init__ runs first anyway) is no cycle.
    return {m for m in found if m != name and not name.startswith(m + ".")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: all_imports(name, path, mods) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(found)


def a_path(g: dict[str, set[str]], component: tuple[str, ...]) -> str:
    """One cycle through the component, to read in a failure: a -> b -> ... -> a."""
    inside = set(component)
    start = component[0]
    trail, seen = [start], {start}
    while True:
        nxt = sorted(g[trail[-1]] & inside)
        back = [m for m in nxt if m in seen]
        if back:
            return " -> ".join(trail[trail.index(back[0]):] + [back[0]])
        trail.append(nxt[0])
        seen.add(nxt[0])


def test_the_graph_sees_imports_in_functions_and_under_type_checking(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from acd.engine import Engine\n"
        "def f() -> None:\n    from acd import intake\n    import acd.calls\n"
        "from . import model\n", encoding="utf-8")
    known = {"acd": path, "acd.engine": path, "acd.intake": path, "acd.calls": path, "acd.model": path,
             "acd.m": path}
    assert all_imports("acd.m", path, known) == {"acd.engine", "acd.intake", "acd.calls", "acd.model"}
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [("a", "b", "c")]
    assert a_path(g, ("a", "b", "c")) == "a -> b -> c -> a"


def test_no_import_cycle_but_the_reviewed_ones() -> None:
    g = graph()
    found = cycles(g)
    unexpected = {c: a_path(g, c) for c in found if c not in ALLOWED_CYCLES}
    assert not unexpected, f"import cycles: {list(unexpected.values())}"
    stale = [c for c in ALLOWED_CYCLES if c not in found]
    assert not stale, f"listed cycles that are gone (take them off ALLOWED_CYCLES): {stale}"


def test_the_reviewed_cycles_are_inside_cti_and_name_their_issue() -> None:
    for component, why in ALLOWED_CYCLES.items():
        assert all(m.startswith("cti.") for m in component), f"only cti/ may have a listed cycle: {component}"
        assert why == "issue 27: cti/ restructure", (component, why)
    pure = [c for c in cycles(graph()) if any(m.split(".")[0] in PURE for m in c)]
    assert not pure, f"acd/ and the pure packages have no import cycle: {pure}"


def private_accesses(source: str) -> list[tuple[int, str]]:
    """(line, expression) of each ``x._name`` where ``x`` is not ``self`` or ``cls``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_private_attribute_check_sees_reads_and_writes() -> None:
    source = "def f(eng, self):\n    eng._calls[1] = eng._gen\n    self._x = 1\n    type(f).__name__\n"
    assert private_accesses(source) == [(2, "eng._calls"), (2, "eng._gen")]


def test_no_function_in_the_core_touches_another_objects_private_attributes() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {expr}"
             for path in sorted((ROOT / "acd").rglob("*.py"))
             for line, expr in private_accesses(path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
