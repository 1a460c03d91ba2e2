"""The lock file is the truth of what gets installed (issue 26): `make venv` installs
exactly `requirements.lock` (hashes required), and these checks fail when
`pyproject.toml` and the lock disagree, or when the virtualenv running the tests holds
anything else. To upgrade: `make lock` (then the whole suite, `make test`)."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
# What a virtualenv has of its own, and the project itself (installed editable, no deps).
NOT_LOCKED = {"pip", "cti-engine"}


def parse_lock(text: str) -> tuple[dict[str, str], dict[str, set[str]], set[str]]:
    """(pins, parents of each pin, entries without a hash)."""
    pins: dict[str, str] = {}
    parents: dict[str, set[str]] = {}
    unhashed: set[str] = set()
    current: str | None = None
    in_via = False
    for line in text.splitlines():
        m = PIN.match(line)
        if m:
            current = canonicalize_name(m.group(1))
            pins[current] = m.group(2)
            parents[current] = set()
            unhashed.add(current)
            in_via = False
            continue
        stripped = line.strip()
        if current is None:
            continue
        if stripped.startswith("--hash=sha256:"):
            unhashed.discard(current)
        elif stripped.startswith("# via"):
            rest = stripped[len("# via"):].strip()
            in_via = not rest
            if rest:
                parents[current].add(rest)
        elif in_via and stripped.startswith("#   "):
            parents[current].add(stripped[4:].strip())
        elif not stripped.startswith("#"):
            in_via = False
    return pins, parents, unhashed


def declared() -> list[Requirement]:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    reqs = list(data["project"]["dependencies"]) + list(data["build-system"]["requires"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += list(extra)
    return [Requirement(r) for r in reqs]


def test_every_declared_dependency_is_pinned_in_the_lock_within_its_range() -> None:
    pins, _, unhashed = parse_lock(LOCK.read_text(encoding="utf-8"))
    problems = []
    for req in declared():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req} but the lock pins {name}=={pins[name]}")
    assert not problems, "pyproject.toml and requirements.lock disagree (run `make lock`):\n" + "\n".join(problems)
    assert not unhashed, f"lock entries without a hash: {sorted(unhashed)}"
    assert len(pins) >= 40, f"only {len(pins)} pins read from {LOCK}: the parser no longer reads it"


def test_every_pin_of_the_lock_is_needed_by_pyproject() -> None:
    """A dependency removed from pyproject.toml (or an extra dropped) leaves stale pins:
    every pin must be reachable from pyproject.toml through the lock's `via` notes."""
    pins, parents, _ = parse_lock(LOCK.read_text(encoding="utf-8"))
    direct = {canonicalize_name(r.name) for r in declared()}
    reached = set(direct) & set(pins)
    changed = True
    while changed:
        changed = False
        for name, via in parents.items():
            if name in reached:
                continue
            if any(canonicalize_name(p.split(" ")[0]) in reached for p in via) or \
                    any(p.startswith("cti-engine (pyproject.toml") for p in via):
                reached.add(name)
                changed = True
    stale = sorted(set(pins) - reached)
    assert not stale, f"pins nothing in pyproject.toml needs (run `make lock`): {stale}"


def test_the_virtualenv_holds_exactly_the_lock() -> None:
    """`pip freeze` of the interpreter running the tests against the lock: same names,
    same versions, nothing more (a fresh machine must get what CI tested)."""
    pins, _, _ = parse_lock(LOCK.read_text(encoding="utf-8"))
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {n: (installed.get(n), v) for n, v in pins.items() if installed.get(n) != v}
    extra = sorted(set(installed) - set(pins) - NOT_LOCKED)
    hint = f"the virtualenv ({sys.prefix}) is not the lock: `make clean venv`"
    assert not wrong, f"{hint}; installed vs locked: {wrong}"
    assert not extra, f"{hint}; installed but not locked: {extra}"


def test_the_lock_parser_reads_both_via_forms_and_notices_a_missing_hash() -> None:
    text = (
        "a==1.0 \\\n    --hash=sha256:00\n    # via b\n"
        "b==2.0 \\\n    --hash=sha256:11\n    # via\n    #   c\n    #   cti-engine (pyproject.toml)\n"
        "c==3.0\n    # via cti-engine (pyproject.toml)\n"
    )
    pins, parents, unhashed = parse_lock(text)
    assert pins == {"a": "1.0", "b": "2.0", "c": "3.0"}
    assert parents["b"] == {"c", "cti-engine (pyproject.toml)"}
    assert parents["a"] == {"b"}
    assert unhashed == {"c"}
