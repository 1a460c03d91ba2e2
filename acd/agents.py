"""The agent state machine, as a table (agents' requests that go through it: ``presence``).

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
from types import MappingProxyType

from acd import commands as c
from acd.errors import InvalidTransition
from acd.model import AgentState, Strategy
from acd.routing import Key
from acd.state import Agent, Call, Queue

S = AgentState
TRANSITIONS: Mapping[AgentState, frozenset[AgentState]] = MappingProxyType({
    S.LOGGED_OUT: frozenset({S.READY, S.NOT_READY}),
    S.READY: frozenset({S.OFFERED, S.NOT_READY, S.LOGGED_OUT}),
    S.OFFERED: frozenset({S.ON_CALL, S.READY, S.NOT_READY, S.LOGGED_OUT}),
    S.ON_CALL: frozenset({S.WRAP_UP, S.READY, S.NOT_READY, S.LOGGED_OUT}),
    S.WRAP_UP: frozenset({S.READY, S.NOT_READY, S.LOGGED_OUT}),
    S.NOT_READY: frozenset({S.READY, S.NOT_READY, S.LOGGED_OUT}),
})
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


def available(agent: Agent) -> bool:
    """Whether the agent may be offered a call now."""
    return agent.state is AgentState.READY and agent.reachable


def offer(call: Call, agent: Agent, ring_timeout_s: float) -> c.OfferCall:
    """The offer of ``call`` to ``agent``. Several Asterisk nodes, one agent pool: an
    agent whose phone the call's node does not see is rung through the node that does
    (``via``); one node, or a phone the call's node sees: rung directly."""
    via = ""
    if agent.phones and not agent.phones.get(call.node, False):
        via = next((node for node, up in sorted(agent.phones.items()) if up), "")
    return c.OfferCall(call.call_id, agent.agent_id, agent.config.endpoint, ring_timeout_s, via)
