"""Agents' requests and their way back to ready: login, ready, pause, logout, wrap-up
and its end (the timer, or a disposition, R12), and an agent's phone coming and going.

Theory of operation
-------------------
Every state change goes through the agents' table (``acd.agents``), by way of
``Center.set_agent_state``. A pause or logout asked for during an offer or a call is
kept pending and applied when it ends (a call is never cut); an agent who becomes
ready takes the best call waiting for it at once (``matching.match_agent``), so no
ready agent and call it could take ever coexist. An agent whose phone is not
registered on any node keeps its state but is in no ready index (offered nothing).
"""

from __future__ import annotations

from acd import agents as ag
from acd import commands as c
from acd import events as e
from acd import matching
from acd.center import Center
from acd.errors import InvalidTransition
from acd.model import AgentState, QueueConfig
from acd.state import Agent
from acd.timers import TimerKind


def login(center: Center, ev: e.AgentLoggedIn, out: list[c.Command]) -> None:
    agent = center.agent(ev.agent_id)
    if agent.state is not AgentState.LOGGED_OUT:
        return  # already logged in: logging in again changes nothing
    agent.consecutive_misses = 0
    if ev.ready:
        become_ready(center, agent, ev.at, out)
    else:
        center.set_agent_state(agent, AgentState.NOT_READY, "login", ev.at, out)


def request(center: Center, agent_id: str, target: AgentState, reason: str | None, at: float, what: str,
            out: list[c.Command]) -> None:
    """An agent asks to be ready, paused or logged out."""
    agent = center.agent(agent_id)
    if agent.state is AgentState.LOGGED_OUT:
        if target is AgentState.LOGGED_OUT:
            return
        raise InvalidTransition(agent_id, agent.state.value, what)
    if agent.state in ag.IN_CALL:
        # Never cut a call: a pause or logout waits for the call's end; asking to be
        # ready cancels a pending one.
        agent.pending = None if target is AgentState.READY else (target, reason)
        return
    if agent.state is target and agent.reason == reason:
        return
    agent.wrap_up_until = None
    if target is AgentState.READY:  # misses keep counting: RONA escalates
        become_ready(center, agent, at, out)
    else:
        center.set_agent_state(agent, target, reason, at, out)


def end_offer(center: Center, agent: Agent, target: AgentState, reason: str | None, at: float,
              out: list[c.Command], idle_since: float | None = None) -> None:
    """An offer ended without a call for this agent: a pending logout or pause
    wins over going back to ready."""
    if agent.pending is not None and (
        agent.pending[0] is AgentState.LOGGED_OUT or target is AgentState.READY
    ):
        target, reason = agent.pending
    agent.pending = None
    if target is AgentState.READY:
        become_ready(center, agent, at, out, idle_since)
    else:
        center.set_agent_state(agent, target, reason, at, out)


def leave_call(center: Center, agent: Agent, at: float, out: list[c.Command]) -> None:
    """A call and its wrap-up are over: ready, unless a pause or logout is pending."""
    pending, agent.pending = agent.pending, None
    if pending is None:
        become_ready(center, agent, at, out)
    else:
        center.set_agent_state(agent, pending[0], pending[1], at, out)


def become_ready(center: Center, agent: Agent, at: float, out: list[c.Command],
                 idle_since: float | None = None) -> None:
    agent.idle_since = at if idle_since is None else idle_since
    center.set_agent_state(agent, AgentState.READY, None, at, out)
    matching.match_agent(center, agent, at, out)


def start_wrap_up(center: Center, agent: Agent, queue: QueueConfig, call_id: str, at: float,
                  out: list[c.Command]) -> None:
    """The call is over: wrap-up as the call's queue says (``wrap_up_ends``), or
    straight on when there is none."""
    agent.last_call_id = call_id
    wrap_up_s = agent.config.wrap_up_s if agent.config.wrap_up_s is not None else queue.wrap_up_s
    agent.wrap_ends_on_disposition = queue.wrap_up_ends in ("disposition", "first")
    agent.wrap_up_until = None
    if queue.wrap_up_ends != "disposition":
        if wrap_up_s <= 0:
            leave_call(center, agent, at, out)
            return
        agent.wrap_up_until = at + wrap_up_s
        agent.wrap_gen = center.new_gen()
        center.arm(agent.wrap_up_until, TimerKind.WRAP, agent.agent_id, agent.wrap_gen)
    center.set_agent_state(agent, AgentState.WRAP_UP, None, at, out)


def wrap_up_over(center: Center, agent: Agent, at: float, out: list[c.Command]) -> None:
    """The wrap-up timer ran out."""
    agent.wrap_up_until = None
    leave_call(center, agent, at, out)


def disposition_recorded(center: Center, ev: e.DispositionRecorded, out: list[c.Command]) -> None:
    """R12: a recorded disposition ends the agent's wrap-up if its queue says so."""
    agent = center.agent(ev.agent_id)
    if agent.state is AgentState.WRAP_UP and agent.wrap_ends_on_disposition:
        agent.wrap_up_until = None
        agent.wrap_gen = center.new_gen()
        leave_call(center, agent, ev.at, out)


def reachable(center: Center, ev: e.AgentReachable, out: list[c.Command]) -> None:
    """The agent's phone registered or went away: while away it is in no queue's
    ready index (its state is kept: it comes back as it was)."""
    agent = center.agent(ev.agent_id)
    agent.phones[ev.node] = ev.reachable
    reachable = any(agent.phones.values())  # registered on some node
    if agent.reachable == reachable:
        return
    agent.reachable = reachable
    if agent.state is not AgentState.READY:
        return
    if reachable:
        center.index_ready(agent)
        matching.match_agent(center, agent, ev.at, out)
    else:
        center.unindex_ready(agent)
