"""Every service rule of ../shared/REQUIREMENTS.md is named by a test that proves it
(in the test's name or docstring), or is in the short list below of rules not built
yet, each with the issue that builds it. A rule that loses its last test fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT.parent / "shared" / "REQUIREMENTS.md"
RULE = re.compile(r"(?<![A-Za-z0-9])R(\d{1,2})(?![0-9])")

# Reviewed: rules with no end-to-end proof yet, and why.
NOT_BUILT: dict[str, str] = {}


def rules() -> set[str]:
    text = REQUIREMENTS.read_text(encoding="utf-8")
    return {f"R{m.group(1)}" for m in re.finditer(r"^\|\s*R(\d+)\s*\|", text, re.M)}


def named_by_tests() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                text = node.name.replace("_", " ") + " " + (ast.get_docstring(node) or "")
                for m in RULE.finditer(text):
                    found.setdefault(f"R{m.group(1)}", []).append(f"{path.relative_to(ROOT)}::{node.name}")
    return found


def test_every_rule_is_proved_by_a_named_test_or_listed_as_not_built() -> None:
    all_rules = rules()
    assert len(all_rules) >= 15, f"no rule table found in {REQUIREMENTS}"
    traced = named_by_tests()
    missing = sorted(all_rules - set(traced) - set(NOT_BUILT), key=lambda r: int(r[1:]))
    assert not missing, f"rules no test names: {missing}"
    unknown = sorted(set(traced) - all_rules)
    assert not unknown, f"tests name rules that do not exist: { {r: traced[r] for r in unknown} }"
    assert set(NOT_BUILT) <= all_rules
