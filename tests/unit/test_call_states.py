"""The call state machine is a table (``acd.calls``): every change of a call's state
goes through it, and a change it does not allow is an error (a bug in the core)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from acd import AcdError, AgentConfig, CallState, Engine, QueueConfig
from acd import calls
from acd import events as e
from acd.errors import InvalidCallTransition
from acd.model import Intake
from acd.state import Call

ROOT = Path(__file__).resolve().parents[2]
S = CallState
ALLOWED = {  # the theory at the top of acd/calls.py, edge by edge
    (S.WAITING, S.WAITING), (S.WAITING, S.OFFERED),
    (S.OFFERED, S.WAITING), (S.OFFERED, S.CONNECTED), (S.OFFERED, S.DIALING),
    (S.CONNECTED, S.WAITING), (S.CONNECTED, S.OFFERED),
    (S.DIALING, S.CONNECTED), (S.DIALING, S.RETRY),
    (S.RETRY, S.WAITING),
}


def a_call(state: CallState) -> Call:
    return Call("k1", "q", "13800000001", "", 0, (), (), 1.0, 1, 1.0, state=state)


def test_the_table_has_a_row_for_every_state_and_is_the_theory() -> None:
    assert set(calls.TRANSITIONS) == set(CallState)
    assert {(a, b) for a, targets in calls.TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(("before", "after"), list(itertools.product(CallState, CallState)))
def test_a_change_the_table_does_not_allow_is_an_error_and_changes_nothing(
        before: CallState, after: CallState) -> None:
    call = a_call(before)
    if (before, after) in ALLOWED:
        calls.set_state(call, after)
        assert call.state is after
        return
    with pytest.raises(InvalidCallTransition) as refused:
        calls.set_state(call, after)
    assert isinstance(refused.value, AcdError)
    assert (refused.value.call_id, refused.value.state, refused.value.target) == ("k1", before.value, after.value)
    assert str(refused.value) == f"call 'k1' is {before.value}: cannot become {after.value}"
    assert call.state is before


def state_assignments(source: str) -> list[tuple[int, str]]:
    """(line, target) of each assignment to a ``.state`` attribute, or setattr of one."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value == "state"):
            found.append((node.lineno, ast.unparse(node)))
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute) and t.attr == "state":
                    found.append((node.lineno, ast.unparse(t)))
    return sorted(found)


def test_the_assignment_check_sees_tuples_and_setattr() -> None:
    source = "call.state = 1\na, b.state = 1, 2\nsetattr(k, 'state', 3)\nx.states = 4\n"
    assert state_assignments(source) == [(1, "call.state"), (2, "b.state"), (3, "setattr(k, 'state', 3)")]


def test_every_assignment_of_a_calls_state_goes_through_the_table() -> None:
    """Only the tables assign a state: ``acd/calls.py`` a call's, ``acd/agents.py`` an
    agent's; elsewhere only an object's own ``self.state`` (an error's field)."""
    allowed = {"acd/calls.py": {"call.state"}, "acd/agents.py": {"agent.state"}}
    found = []
    for path in sorted((ROOT / "acd").rglob("*.py")):
        name = str(path.relative_to(ROOT))
        for line, target in state_assignments(path.read_text(encoding="utf-8")):
            if target != "self.state" and target not in allowed.get(name, set()):
                found.append(f"{name}:{line}: {target}")
    assert not found, found
    assert state_assignments((ROOT / "acd" / "calls.py").read_text(encoding="utf-8")) == [
        (next(i for i, text in enumerate((ROOT / "acd" / "calls.py").read_text().splitlines(), 1)
              if "call.state = state" in text), "call.state")]


def test_R11_a_callbacks_life_walks_the_table() -> None:
    """Seen after each event: waiting, offered, dialing, retry, then (through waiting, at
    the retry instant) offered, dialing, connected."""
    cfg = QueueConfig("q", ring_cycle_s=5.0, outbound_max_rings=6, wrap_up_s=0, announce_agent_id=False,
                      callback_retry_s=60.0, callback_max_attempts=2)
    eng = Engine([cfg], [AgentConfig("a1", "PJSIP/a1", ("q",))], Intake(default_queue="q"))
    seen: list[str] = []

    def step(event: e.Event) -> None:
        eng.handle(event)
        states = [k.state for k in eng.calls()]
        if states and (not seen or seen[-1] != states[0]):
            seen.append(states[0])

    step(e.OutboundQueued("v1", "q", "13800000001", 1.0, max_attempts=2))
    step(e.AgentLoggedIn("a1", 2.0))
    step(e.OfferAnswered("v1", "a1", 3.0))
    step(e.CustomerNotReached("v1", "busy", 4.0))
    step(e.Tick(64.0))
    step(e.OfferAnswered("v1", "a1", 65.0))
    step(e.CustomerAnswered("v1", 66.0))
    assert seen == ["waiting", "offered", "dialing", "retry", "offered", "dialing", "connected"]
