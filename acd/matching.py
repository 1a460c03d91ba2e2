"""Who takes a call: a call is matched when it starts waiting, an agent when it
becomes ready, and an offer rings the agent(s) the queue's strategy chooses.

Theory of operation
-------------------
A call is matched when it starts waiting (arrival, re-queue, relaxation, overflow, end
of a sticky hold, R10), an agent when it becomes ready. Because each of those matches
at once, the rules below hold after every event:
- an agent holds at most one offer or call;
- work conservation: no ready agent and waiting call that it could take coexist
  (calls held for a sticky agent wait only for that agent);
- a queue serves by priority (emergencies first, R8), then enqueue time; a re-queued
  or overflowed call keeps its enqueue time;
- an agent in several queues takes, among the calls it can serve, the one with the
  highest priority, then of the heaviest queue, then waiting longest;
- among agents who can take a call, the queue's strategy chooses.
An offer rings at most the queue's ring timeout (R1: ``OFFER`` timer).
"""

from __future__ import annotations

from acd import agents as ag
from acd import calls as cs
from acd import commands as c
from acd.center import Center
from acd.model import AgentState, CallState, Strategy
from acd.routing import WaitingCalls
from acd.state import Agent, Call, Queue
from acd.timers import TimerKind


def enter_queue(center: Center, call: Call, queue: Queue, at: float, out: list[c.Command],
                match: bool = True) -> None:
    """The call starts waiting in ``queue``: arm its timers and try to match it."""
    call.queue = queue.config.name
    if (call.sticky_agent is not None
            and queue.config.name not in center.agent(call.sticky_agent).config.queues):
        call.sticky_agent = None  # R10 holds a call only for an agent of its queue
    call.entered_queue_at = at
    call.gen = center.new_gen()
    call.queue_gen = center.new_gen()
    call.relax_step = 0
    call.requirement = call.base_requirement
    cfg = queue.config
    if cfg.relaxation:
        center.arm(at + cfg.relaxation[0].after_s, TimerKind.RELAX, call.call_id, call.queue_gen)
    if cfg.overflow_queue is not None and cfg.overflow_after_s is not None:
        center.arm(at + cfg.overflow_after_s, TimerKind.OVERFLOW, call.call_id, call.queue_gen)
    if match:
        match_call(center, call, at, out)
    else:
        center.park(call)


def match_call(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    """Offer a call that starts waiting to the agent(s) the strategy picks, or index
    it as waiting."""
    cs.set_state(call, CallState.WAITING)
    queue = center.queue(call.queue)
    if call.sticky_agent is not None:
        agent = center.agent(call.sticky_agent)
        if ag.available(agent):
            offer(center, call, [agent], queue, at, out)
        else:
            center.park(call)
        return
    strategy = queue.config.strategy
    if strategy is Strategy.RING_ALL:
        # In configured order, whatever order the agents became ready in.
        ids = sorted(queue.ready.all_matching(call.requirement), key=queue.positions.__getitem__)
        if ids:
            offer(center, call, [center.agent(aid) for aid in ids], queue, at, out)
            return
    else:
        aid = queue.ready.best(call.requirement, strategy, queue.rr_last)
        if aid is not None:
            offer(center, call, [center.agent(aid)], queue, at, out)
            return
    center.park(call)


def match_agent(center: Center, agent: Agent, at: float, out: list[c.Command]) -> None:
    """A ready agent takes the best call it can serve, if any."""
    if not agent.reachable:
        return
    best: tuple[tuple[object, ...], str, WaitingCalls] | None = None
    sticky = center.held_for(agent.agent_id)
    if sticky is not None:
        head = sticky.best_for(())
        if head is not None:
            best = ((head[0][0], -(1 << 30), head[0][1], head[0][2]), head[1], sticky)
    for name in agent.config.queues:
        queue = center.queue(name)
        head = queue.waiting.best_for(agent.profile)
        if head is None:
            continue
        (neg_priority, arrived, seq), call_id = head
        rank = (neg_priority, -queue.config.weight, arrived, seq)
        if best is None or rank < best[0]:
            best = (rank, call_id, queue.waiting)
    if best is None:
        return
    call = center.call(best[1])
    center.unindex(call)
    offer(center, call, [agent], center.queue(call.queue), at, out)


def offer(center: Center, call: Call, agents: list[Agent], queue: Queue, at: float,
          out: list[c.Command]) -> None:
    cfg = queue.config
    cs.set_state(call, CallState.OFFERED)
    call.offered_to = {a.agent_id for a in agents}
    call.gen = center.new_gen()
    center.arm(at + cfg.ring_timeout_s, TimerKind.OFFER, call.call_id, call.gen)
    for agent in agents:
        agent.call_id = call.call_id
        center.set_agent_state(agent, AgentState.OFFERED, None, at, out)
        queue.rr_last = float(queue.positions[agent.agent_id])
        out.append(ag.offer(call, agent, cfg.ring_timeout_s))
