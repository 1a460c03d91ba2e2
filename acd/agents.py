"""The agent state machine, as a table, and agents' requests (login, ready, pause,
logout) applied through it.

Theory of operation
-------------------
Every change of an agent's state goes through ``set_state``, which refuses a change
the table does not allow (a bug in the core, not a user error) and keeps the queues'
ready-agent indexes in step: an agent is in a queue's index exactly while READY.

    logged-out --login--> ready | not-ready
    ready --offer--> offered --answer--> on-call --hang-up--> wrap-up --timer--> ready
    wrap-up --disposition recorded (when the call's queue says so, R12)--> ready
    offered --ring timeout (R1)--> not-ready (ring-no-answer) or logged-out, per the
              RONA policy, or stays ready below both thresholds
    offered --caller gone / answered elsewhere (ring-all)--> ready, same idle place
    offered --offer failed (busy, unreachable)--> not-ready (the failure)
    ready | wrap-up | not-ready --pause--> not-ready; --ready--> ready; --logout--> out
    offered | on-call: pause and logout are kept pending and apply when the call ends
    wrap-up is the agent's, not a queue's: it holds in every queue the agent is in
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from acd import commands as c
from acd import events as e
from acd.errors import InvalidTransition
from acd.model import AgentState, QueueConfig, Strategy
from acd.routing import Key
from acd.timers import TimerKind
from acd.state import Agent, Call, Queue

if TYPE_CHECKING:
    from acd.engine import Engine

S = AgentState
TRANSITIONS: Mapping[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.READY, S.NOT_READY}),
    S.READY: frozenset({S.OFFERED, S.NOT_READY, S.LOGGED_OUT}),
    S.OFFERED: frozenset({S.ON_CALL, S.READY, S.NOT_READY, S.LOGGED_OUT}),
    S.ON_CALL: frozenset({S.WRAP_UP, S.READY, S.NOT_READY, S.LOGGED_OUT}),
    S.WRAP_UP: frozenset({S.READY, S.NOT_READY, S.LOGGED_OUT}),
    S.NOT_READY: frozenset({S.READY, S.NOT_READY, S.LOGGED_OUT}),
}
IN_CALL = (S.OFFERED, S.ON_CALL)


def set_state(
    agent: Agent, state: AgentState, reason: str | None, at: float,
    queues: Mapping[str, Queue], out: list[c.Command],
) -> None:
    agent_id = agent.config.agent_id
    if state not in TRANSITIONS[agent.state]:
        raise InvalidTransition(agent_id, agent.state.value, f"become {state.value}")
    if agent.state is S.READY and agent.reachable:  # (only a reachable one is indexed)
        for name in agent.config.queues:
            queues[name].ready.remove(agent_id)
    if state is S.READY and agent.reachable:  # (an unreachable phone is offered nothing)
        for name in agent.config.queues:
            queue = queues[name]
            queue.ready.add(agent_id, agent.profile, strategy_key(agent, queue))
    if state is not agent.state or reason != agent.reason:
        agent.since = at
    agent.state = state
    agent.reason = reason
    out.append(c.AgentStateChanged(agent_id, state.value, reason, at))


def strategy_key(agent: Agent, queue: Queue) -> Key:
    """Where the agent sorts among the queue's ready agents (smallest first)."""
    strategy = queue.config.strategy
    if strategy in (Strategy.LINEAR, Strategy.ROUND_ROBIN):
        return (float(queue.positions[agent.agent_id]),)
    if strategy is Strategy.FEWEST_CALLS:
        return (float(agent.calls_by_queue.get(queue.config.name, 0)), agent.idle_since)
    if strategy is Strategy.LEAST_TALK_TIME:
        return (agent.talk_time_s, agent.idle_since)
    return (agent.idle_since,)


# ----------------------------------------------------------------- agent requests

def login(eng: Engine, ev: e.AgentLoggedIn, out: list[c.Command]) -> None:
    agent = eng._get_agent(ev.agent_id)
    if agent.state is not AgentState.LOGGED_OUT:
        return  # already logged in: logging in again changes nothing
    agent.consecutive_misses = 0
    if ev.ready:
        become_ready(eng, agent, ev.at, out)
    else:
        set_state(agent, AgentState.NOT_READY, "login", ev.at, eng._queues, out)


def request(eng: Engine, agent_id: str, target: AgentState, reason: str | None, at: float, what: str,
             out: list[c.Command]) -> None:
    """An agent asks to be ready, paused or logged out."""
    agent = eng._get_agent(agent_id)
    if agent.state is AgentState.LOGGED_OUT:
        if target is AgentState.LOGGED_OUT:
            return
        raise InvalidTransition(agent_id, agent.state.value, what)
    if agent.state in IN_CALL:
        # Never cut a call: a pause or logout waits for the call's end; asking to be
        # ready cancels a pending one.
        agent.pending = None if target is AgentState.READY else (target, reason)
        return
    if agent.state is target and agent.reason == reason:
        return
    agent.wrap_up_until = None
    if target is AgentState.READY:  # misses keep counting: RONA escalates
        become_ready(eng, agent, at, out)
    else:
        set_state(agent, target, reason, at, eng._queues, out)


def end_offer(eng: Engine, agent: Agent, target: AgentState, reason: str | None, at: float,
               out: list[c.Command], idle_since: float | None = None) -> None:
    """An offer ended without a call for this agent: a pending logout or pause
    wins over going back to ready."""
    if agent.pending is not None and (
        agent.pending[0] is AgentState.LOGGED_OUT or target is AgentState.READY
    ):
        target, reason = agent.pending
    agent.pending = None
    if target is AgentState.READY:
        become_ready(eng, agent, at, out, idle_since)
    else:
        set_state(agent, target, reason, at, eng._queues, out)


def leave_call(eng: Engine, agent: Agent, at: float, out: list[c.Command]) -> None:
    """A call and its wrap-up are over: ready, unless a pause or logout is pending."""
    pending, agent.pending = agent.pending, None
    if pending is None:
        become_ready(eng, agent, at, out)
    else:
        set_state(agent, pending[0], pending[1], at, eng._queues, out)


def become_ready(eng: Engine, agent: Agent, at: float, out: list[c.Command], idle_since: float | None = None) -> None:
    agent.idle_since = at if idle_since is None else idle_since
    set_state(agent, AgentState.READY, None, at, eng._queues, out)
    eng._match_agent(agent, at, out)


def start_wrap_up(eng: Engine, agent: Agent, queue: QueueConfig, call_id: str, at: float,
                  out: list[c.Command]) -> None:
    """The call is over: wrap-up as the call's queue says (``wrap_up_ends``), or
    straight on when there is none."""
    agent.last_call_id = call_id
    wrap_up_s = agent.config.wrap_up_s if agent.config.wrap_up_s is not None else queue.wrap_up_s
    agent.wrap_ends_on_disposition = queue.wrap_up_ends in ("disposition", "first")
    agent.wrap_up_until = None
    if queue.wrap_up_ends != "disposition":
        if wrap_up_s <= 0:
            leave_call(eng, agent, at, out)
            return
        agent.wrap_up_until = at + wrap_up_s
        agent.wrap_gen = eng._new_gen()
        eng._timers.push(agent.wrap_up_until, TimerKind.WRAP, agent.agent_id, agent.wrap_gen)
    set_state(agent, AgentState.WRAP_UP, None, at, eng._queues, out)


def disposition_recorded(eng: Engine, ev: e.DispositionRecorded, out: list[c.Command]) -> None:
    """R12: a recorded disposition ends the agent's wrap-up if its queue says so."""
    agent = eng._get_agent(ev.agent_id)
    if agent.state is AgentState.WRAP_UP and agent.wrap_ends_on_disposition:
        agent.wrap_up_until = None
        agent.wrap_gen = eng._new_gen()
        leave_call(eng, agent, ev.at, out)


def offer(call: Call, agent: Agent, ring_timeout_s: float) -> c.OfferCall:
    """The offer of ``call`` to ``agent``. Several Asterisk nodes, one agent pool: an
    agent whose phone the call's node does not see is rung through the node that does
    (``via``); one node, or a phone the call's node sees: rung directly."""
    via = ""
    if agent.phones and not agent.phones.get(call.node, False):
        via = next((node for node, up in sorted(agent.phones.items()) if up), "")
    return c.OfferCall(call.call_id, agent.agent_id, agent.config.endpoint, ring_timeout_s, via)
