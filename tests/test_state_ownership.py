"""Who may change what (issue 27): no module holds mutable state of its own, and in
``cti/`` no object is wired up or changed from outside by setting its attributes.

- A module's top-level names are constants: no list, dict or set (displays,
  comprehensions, ``dict()``, ``defaultdict()``, ``deque()`` ...), no ``global``. Tables
  are read-only mappings, tuples and frozensets; memos are ``functools.cache``. The
  features' ``ROUTES`` (aiohttp route tables its handlers declare themselves in, at
  import) are the one kind of table filled as a module is read.
- In ``cti/`` an assignment ``x.attr = ...`` where ``x`` is not ``self`` updates a record:
  a field of a dataclass of the project (a leg, a dialog, an outbox entry, a work
  order) or of a class of the same module, or it configures one of the few library
  objects made that way (below). Services (the runtime, the authenticator, the
  features) are never changed from outside: what the composition root gives an object,
  it gives in the constructor or through a method of the object's own class
  (``Runtime.follow``, ``Plan.attach_incident``). (Names, not types, are compared: an
  attribute that happens to share a record field's name passes.)
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layout import ROOT

PACKAGES = ("acd", "cti", "ivr", "recording", "reports", "workorders")
MUTABLE_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "collections.defaultdict", "deque",
                 "collections.deque", "OrderedDict", "collections.OrderedDict", "Counter", "collections.Counter"}
# (file, attribute): a library's object configured by assigning its attribute.
LIBRARY_ATTRIBUTES = {
    ("cti/store/sql.py", "row_factory"),  # sqlite3.Connection
    ("cti/masking.py", "msg"), ("cti/masking.py", "args"),  # logging.LogRecord, in a logging.Filter
    ("cti/asterisk/ami.py", "log"),  # panoramisk's Manager logger
}


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def mutable_module_state(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{path.relative_to(ROOT)}:{n.lineno}: global {', '.join(n.names)}"
             for n in ast.walk(tree) if isinstance(n, ast.Global)]
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        names = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                 if isinstance(t, ast.Name)]
        if names == ["__all__"]:
            continue
        value = node.value
        mutable = isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)) or (
            isinstance(value, ast.Call) and ast.unparse(value.func) in MUTABLE_CALLS)
        if mutable:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {', '.join(names)}")
    return found


def own_attributes(tree: ast.Module) -> set[str]:
    """The attributes of the classes this module defines (fields and ``self.x =``)."""
    names: set[str] = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
    return names


def record_fields() -> set[str]:
    """The fields of every dataclass of the project."""
    fields: set[str] = set()
    for path in modules():
        for cls in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(cls, ast.ClassDef) and any("dataclass" in ast.unparse(d) for d in cls.decorator_list):
                fields.update(n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)
                              and isinstance(n.target, ast.Name))
    return fields


def set_from_outside(path: Path, records: frozenset[str] = frozenset()) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = own_attributes(tree) | records
    rel = str(path.relative_to(ROOT))
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            for sub in ast.walk(target):
                if not (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)):
                    continue
                if isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"):
                    continue
                if sub.attr in own or (rel, sub.attr) in LIBRARY_ATTRIBUTES:
                    continue
                found.append(f"{rel}:{sub.lineno}: {ast.unparse(sub)}")
    return found


def test_no_module_holds_mutable_state() -> None:
    assert len(modules()) > 100
    found = [hit for path in modules() for hit in mutable_module_state(path)]
    assert not found, found


def test_no_object_in_cti_is_changed_from_outside_its_class() -> None:
    records = frozenset(record_fields())
    assert {"attempts", "status", "answered"} <= records
    found = [hit for path in modules() if path.parts[len(ROOT.parts)] == "cti"
             for hit in set_from_outside(path, records)]
    assert not found, found


def test_the_checks_see_what_they_forbid() -> None:
    """The two scans on a sample of what they refuse (so that a scan broken by a change
    of the AST does not pass everything)."""
    sample = ROOT / "var" / "state_ownership_sample.py"
    sample.parent.mkdir(exist_ok=True)
    sample.write_text("import collections\nCACHE = {}\nSEEN = collections.deque()\n"
                      "def f(runtime):\n    global CACHE\n    runtime.observers = []\n", encoding="utf-8")
    try:
        assert len(mutable_module_state(sample)) == 3
        assert [hit.split(": ")[1] for hit in set_from_outside(sample)] == ["runtime.observers"]
    finally:
        sample.unlink()
