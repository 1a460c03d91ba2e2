"""The core's state, with one owner: calls, agents, queues, calls in the IVR, plan
levels, timers, and the indexes that make routing cheap.

Theory of operation
-------------------
``Center`` holds every record of ``acd.state`` and every index over them; the rule
modules (``intake``, ``matching``, ``answers``, ``presence``, ``timeouts``, ``holds``,
``outbound``, ``callbacks``, ``transfers``) change the state only through its
operations: add or remove a call, park a call in (or take it out of) the waiting
indexes, set an agent's state (the agents' table, which keeps the ready indexes in
step), arm a timer, draw a timer generation or an arrival sequence number. Call states
change through the calls' table (``acd.calls``).

Indexes are never saved: ``save`` holds the records, the counters and the live timers,
and ``load`` rebuilds the indexes from the records in the order the live core built
them, so a restored core makes the same decisions. Format version 1; a snapshot of
another version is refused.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from acd import agents as ag
from acd import calls as cs
from acd import commands as c
from acd.errors import UnknownAgent
from acd.model import AgentConfig, AgentState, CallState, Intake, PlanActions, QueueConfig, skills
from acd.routing import WaitingCalls
from acd.saving import dump, load, restore_into
from acd.state import Agent, Call, Entering, Queue
from acd.timers import TimerKind, Timers

VERSION = 1


class Center:
    def __init__(self, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig],
                 intake: Intake | None = None) -> None:
        agents = list(agents)
        self._queues: dict[str, Queue] = {}
        for q in queues:
            members = [a.agent_id for a in agents if q.name in a.queues]
            self._queues[q.name] = Queue(q, {aid: i for i, aid in enumerate(members)})
        for queue in self._queues.values():
            target = queue.config.overflow_queue
            if target is not None and target not in self._queues:
                raise ValueError(f"queue {queue.config.name!r} overflows to unknown queue {target!r}")
        for a in agents:
            for name in a.queues:
                if name not in self._queues:
                    raise ValueError(f"agent {a.agent_id!r} names unknown queue {name!r}")
        self.intake = intake or Intake(default_queue=next(iter(self._queues), ""))
        self._agents = {a.agent_id: Agent(a, skills(a.skills)) for a in agents}
        self._calls: dict[str, Call] = {}
        self._entering: dict[str, Entering] = {}  # calls in the IVR
        self._plans: dict[str, PlanActions] = {}  # R9: queue -> active level's actions
        self._called_in: dict[str, tuple[str, ...]] = {}  # R9: queue -> standby agents
        self._sticky: dict[str, WaitingCalls] = {}  # agent id -> calls held for them (R10)
        self._last_agent: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()
        self._sticky_window = max((q.config.sticky_window_s for q in self._queues.values()), default=0.0)
        self._outbound: dict[str, tuple[str, float]] = {}  # R2: attempt -> (queue, started)
        self._timers = Timers()
        self._seq = 0
        self._gen = 0  # one counter for all timer generations: ids may be reused

    # ----------------------------------------------------------------- queues

    @property
    def queues(self) -> Mapping[str, Queue]:
        return self._queues

    def queue(self, name: str) -> Queue:
        return self._queues[name]

    def find_queue(self, name: str) -> Queue | None:
        return self._queues.get(name)

    # ----------------------------------------------------------------- agents

    def agent(self, agent_id: str) -> Agent:
        """The agent, or ``UnknownAgent`` (an agent's request names it)."""
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def find_agent(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    def agents(self) -> Iterable[Agent]:
        return self._agents.values()

    def set_agent_state(self, agent: Agent, state: AgentState, reason: str | None, at: float,
                        out: list[c.Command]) -> None:
        """Through the agents' table, which keeps the ready indexes in step."""
        ag.set_state(agent, state, reason, at, self._queues, out)

    def index_ready(self, agent: Agent) -> None:
        """A ready agent whose phone came back joins its queues' ready indexes."""
        for name in agent.config.queues:
            queue = self._queues[name]
            queue.ready.add(agent.agent_id, agent.profile, ag.strategy_key(agent, queue))

    def unindex_ready(self, agent: Agent) -> None:
        """A ready agent whose phone went away leaves its queues' ready indexes."""
        for name in agent.config.queues:
            self._queues[name].ready.remove(agent.agent_id)

    # ----------------------------------------------------------------- calls

    def call(self, call_id: str) -> Call:
        return self._calls[call_id]

    def find_call(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def has_call(self, call_id: str) -> bool:
        return call_id in self._calls

    def calls(self) -> Iterable[Call]:
        return self._calls.values()

    def add_call(self, call: Call) -> None:
        self._calls[call.call_id] = call

    def remove_call(self, call_id: str) -> Call | None:
        """The call leaves the core (its record; its indexes are the caller's concern)."""
        return self._calls.pop(call_id, None)

    def next_seq(self) -> int:
        """The arrival sequence number of a new call (ties at one instant keep it)."""
        self._seq += 1
        return self._seq

    def park(self, call: Call) -> None:
        """Index a call as waiting: for its sticky agent only (R10), or for its queue."""
        cs.set_state(call, CallState.WAITING)
        if call.sticky_agent is not None:
            self._sticky.setdefault(call.sticky_agent, WaitingCalls()).add(call.call_id, (), call.order)
        else:
            self._queues[call.queue].waiting.add(call.call_id, call.requirement, call.order)

    def unindex(self, call: Call) -> None:
        """Take a waiting call out of whichever index holds it."""
        self._queues[call.queue].waiting.remove(call.call_id)
        if call.sticky_agent is not None and call.sticky_agent in self._sticky:
            self._sticky[call.sticky_agent].remove(call.call_id)

    def held_for(self, agent_id: str) -> WaitingCalls | None:
        """R10: the calls waiting for this agent only."""
        return self._sticky.get(agent_id)

    # ----------------------------------------------------------------- R10 memory

    def last_agent(self, caller: str) -> tuple[str, float] | None:
        """R10: the agent who ended this caller's last call, and when."""
        return self._last_agent.get(caller)

    def remember_agent(self, caller: str, agent_id: str, at: float) -> None:
        """R10: remember who took the caller, forgetting what is past every window."""
        if not caller or self._sticky_window <= 0:
            return
        self._last_agent.pop(caller, None)
        self._last_agent[caller] = (agent_id, at)
        while self._last_agent:
            _, (_, ended) = next(iter(self._last_agent.items()))
            if at - ended <= self._sticky_window:
                break
            self._last_agent.popitem(last=False)

    # ----------------------------------------------------------------- calls in the IVR

    def enter_ivr(self, call_id: str, entering: Entering) -> None:
        self._entering[call_id] = entering

    def in_ivr(self, call_id: str) -> Entering | None:
        return self._entering.get(call_id)

    def leave_ivr(self, call_id: str) -> Entering | None:
        return self._entering.pop(call_id, None)

    def in_ivr_count(self) -> int:
        return len(self._entering)

    # ----------------------------------------------------------------- R9 plans

    def plan(self, queue: str) -> PlanActions | None:
        return self._plans.get(queue)

    def set_plan(self, queue: str, actions: PlanActions | None) -> None:
        if actions is None:
            self._plans.pop(queue, None)
        else:
            self._plans[queue] = actions

    def called_in(self, queue: str) -> tuple[str, ...]:
        """R9: the standby agents a plan level of this queue logged in."""
        return self._called_in.get(queue, ())

    def set_called_in(self, queue: str, agents: tuple[str, ...]) -> None:
        if agents:
            self._called_in[queue] = agents
        else:
            self._called_in.pop(queue, None)

    # ----------------------------------------------------------------- R2 attempts

    def start_attempt(self, attempt_id: str, queue: str, at: float) -> bool:
        """An outbound attempt starts ringing (False: already known)."""
        if attempt_id in self._outbound:
            return False
        self._outbound[attempt_id] = (queue, at)
        return True

    def end_attempt(self, attempt_id: str) -> tuple[str, float] | None:
        """The attempt is over: its (queue, started), if it was running."""
        return self._outbound.pop(attempt_id, None)

    def attempt_running(self, attempt_id: str) -> bool:
        return attempt_id in self._outbound

    # ----------------------------------------------------------------- timers

    def new_gen(self) -> int:
        """A new timer generation (a timer armed with an older one is stale)."""
        self._gen += 1
        return self._gen

    @property
    def last_gen(self) -> int:
        return self._gen

    def arm(self, at: float, kind: TimerKind, key: str, gen: int) -> None:
        self._timers.push(at, kind, key, gen)

    def next_timer(self) -> tuple[float, TimerKind, str, int] | None:
        return self._timers.peek()

    def drop_timer(self) -> None:
        """Forget the timer ``next_timer`` returned."""
        self._timers.pop()

    # ----------------------------------------------------------------- snapshot

    def save(self, timer_valid: Callable[[TimerKind, str, int], bool]) -> dict[str, Any]:
        """The whole state as JSON-ready data (live timers only)."""
        return {
            "version": VERSION, "seq": self._seq, "gen": self._gen,
            "agents": {aid: dump(a) for aid, a in self._agents.items()},
            "calls": {k.call_id: dump(k) for k in self._calls.values()},
            "queues": {name: dump(q) for name, q in self._queues.items()},
            "last_agent": [[caller, aid, t] for caller, (aid, t) in self._last_agent.items()],
            "outbound": {k: [q, t] for k, (q, t) in sorted(self._outbound.items())},
            "timer_seq": self._timers.seq,
            "timers": sorted([at, seq, kind.value, key, gen] for at, seq, kind, key, gen
                             in self._timers.entries() if timer_valid(kind, key, gen)),
            "entering": dump(self._entering), "plans": dump(self._plans), "called_in": dump(self._called_in),
        }

    def load(self, data: dict[str, Any]) -> None:
        """Fill a new center (same configuration) with the state ``save`` returned."""
        if data.get("version") != VERSION:
            raise ValueError(f"unknown snapshot version {data.get('version')!r}")
        self._seq, self._gen = data["seq"], data["gen"]
        for aid, d in data["agents"].items():
            if aid in self._agents:  # else: an agent removed from the configuration
                restore_into(self._agents[aid], d)
        for call_id, d in data["calls"].items():
            self._calls[call_id] = load(Call, {"call_id": call_id, **d})
        for name, d in data["queues"].items():
            if name in self._queues:
                restore_into(self._queues[name], d)
        for caller, aid, t in data["last_agent"]:
            self._last_agent[caller] = (aid, t)
        self._outbound = {k: (q, t) for k, (q, t) in data["outbound"].items()}
        for at, seq, kind, key, gen in data["timers"]:
            self._timers.restore(at, seq, TimerKind(kind), key, gen)
        self._timers.seq = data["timer_seq"]
        self._entering = load(dict[str, Entering], data.get("entering", {}))
        self._plans = load(dict[str, PlanActions], data.get("plans", {}))
        self._called_in = load(dict[str, tuple[str, ...]], data.get("called_in", {}))
        for a in self._agents.values():  # indexes: ready agents, then waiting calls
            if a.state is AgentState.READY and a.reachable:
                self.index_ready(a)
        for k in sorted(self._calls.values(), key=lambda k: k.order):
            if k.state is CallState.WAITING:
                self.park(k)
