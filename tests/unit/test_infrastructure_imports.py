"""Infrastructure does not reach up into the features: the Redis journal, leadership,
cluster streams (``cti/journal``, ``cti/cluster``), the SQL store and the outbox
(``cti/store``), the ARI and AMI
clients (``cti/asterisk``) and the engine's plumbing at the top of ``cti/`` (the
runtime, lanes, health, notifications ...) import no feature folder, counting imports
inside functions and under ``TYPE_CHECKING``. Where they need a feature, they name a
small Protocol (``cti.cluster.streams.CarriesOut``)."""

from __future__ import annotations

import ast
from pathlib import Path

CTI = Path(__file__).resolve().parents[2] / "cti"
FEATURES = ("agents", "calls", "desk", "ivr", "orders", "outbound", "recording", "reports", "supervision")
INFRASTRUCTURE = [*(path for folder in ("journal", "cluster", "store", "asterisk") for path in sorted((CTI / folder).glob("*.py"))),
                  *(CTI / f"{name}.py" for name in ("background", "configreader", "deadlines", "errors", "health",
                                                    "lanes", "masking", "notify", "runtime"))]


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # every import, wherever it stands
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_infrastructure_module_imports_a_feature() -> None:
    assert all(path.exists() for path in INFRASTRUCTURE)
    reaching = {str(path.relative_to(CTI.parent)): found for path in INFRASTRUCTURE
                if (found := sorted(m for m in imported(path) if m.split(".")[:2] in [["cti", f] for f in FEATURES]))}
    assert not reaching, reaching
