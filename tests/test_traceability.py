"""Every service rule of docs/requirements.md (the project's own list, inside the
repository) is named by a test that proves it (in the test's name or docstring), or is
in the short reviewed list below of rules not built yet, each with the issue that builds
it. A rule that loses its last test fails here, and so does a rule still listed as not
built once a test names it (the list cannot go stale).

Beside the shared brief (../shared/REQUIREMENTS.md, when that folder exists) the two
lists of rule IDs must agree; a clone on its own checks docs/requirements.md alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "docs" / "requirements.md"
SHARED = ROOT.parent / "shared" / "REQUIREMENTS.md"
RULE = re.compile(r"(?<![A-Za-z0-9])R(\d{1,2})(?![0-9])")
ROW = re.compile(r"^\|\s*R(\d+)\s*\|", re.M)

# Reviewed: rules not built yet, each with the issue that builds it.
NOT_BUILT: dict[str, str] = {}


def rule_ids(path: Path) -> set[str]:
    return {f"R{m.group(1)}" for m in ROW.finditer(path.read_text(encoding="utf-8"))}


def by_number(ids: set[str]) -> list[str]:
    return sorted(ids, key=lambda r: int(r[1:]))


def rules() -> set[str]:
    return rule_ids(REQUIREMENTS)


def named_by_tests() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path.resolve() == Path(__file__).resolve():
            continue  # this file names rules as data, not as proof
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                text = node.name.replace("_", " ") + " " + (ast.get_docstring(node) or "")
                for m in RULE.finditer(text):
                    found.setdefault(f"R{m.group(1)}", []).append(f"{path.relative_to(ROOT)}::{node.name}")
    return found


def test_every_rule_is_proved_by_a_named_test_or_listed_as_not_built() -> None:
    all_rules = rules()
    assert len(all_rules) >= 20, f"no rule table found in {REQUIREMENTS}"
    traced = named_by_tests()
    missing = by_number(all_rules - set(traced) - set(NOT_BUILT))
    assert not missing, f"rules no test names: {missing}"
    unknown = by_number(set(traced) - all_rules)
    assert not unknown, f"tests name rules that do not exist: { {r: traced[r] for r in unknown} }"


def test_a_rule_listed_as_not_built_is_a_rule_and_no_test_names_it_yet() -> None:
    """Once a test names a rule, it is built (or being built): take it off NOT_BUILT."""
    assert set(NOT_BUILT) <= rules(), f"NOT_BUILT names unknown rules: {by_number(set(NOT_BUILT) - rules())}"
    traced = named_by_tests()
    stale = {r: traced[r] for r in by_number(set(NOT_BUILT) & set(traced))}
    assert not stale, f"rules listed as not built that tests name (remove them from NOT_BUILT): {stale}"
    assert all(re.match(r"issue \d+: ", why) for why in NOT_BUILT.values()), "each entry names its issue"


def test_the_rule_table_has_each_id_once() -> None:
    ids = [f"R{m.group(1)}" for m in ROW.finditer(REQUIREMENTS.read_text(encoding="utf-8"))]
    assert len(ids) == len(set(ids)), f"a rule appears twice: {sorted(ids)}"
    assert by_number(set(ids)) == [f"R{n}" for n in range(1, len(ids) + 1)], "rule IDs run R1, R2, ... without gaps"


def test_the_rules_agree_with_the_shared_brief_when_it_is_beside_the_clone() -> None:
    """docs/requirements.md lists exactly the rule IDs of ../shared/REQUIREMENTS.md when
    the brief is beside the clone (as in CI); a clone alone has only its own list, whose
    shape the test above checks."""
    ours = rules()
    if not SHARED.exists():
        assert len(ours) >= 20, "a clone alone: docs/requirements.md must still hold R1-R20"
        return
    shared = rule_ids(SHARED)
    assert len(shared) >= 15, f"no rule table found in {SHARED}"
    assert not shared - ours, f"rules of {SHARED} missing from docs/requirements.md: {by_number(shared - ours)}"
    assert not ours - shared, f"rules of docs/requirements.md not in {SHARED}: {by_number(ours - shared)}"


# Rules whose proof must include a test on real calls (SIPp through the sandbox), and
# the e2e file that has it.
ON_REAL_CALLS: dict[str, str] = {
    "R17": "tests/e2e/test_satisfaction.py",  # issue 30: the survey after the agent hangs up
}


def test_rules_that_need_real_calls_are_named_by_an_e2e_test() -> None:
    traced = named_by_tests()
    for rule, path in ON_REAL_CALLS.items():
        assert any(t.startswith(f"{path}::") for t in traced.get(rule, [])), (
            f"{rule} is proved on real calls by {path}, and no test there names it: {traced.get(rule)}")
        assert "| yes |" in next(line for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
                                 if line.startswith(f"| {rule} |")), f"{rule} is built: its row says yes"
