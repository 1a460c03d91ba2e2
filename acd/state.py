"""The core's records (one per agent, call, queue, and call still in the IVR) and the
read-only views the adapters and the API see. Fields marked ``NOT_SAVED`` come from
the configuration or are indexes: a snapshot (``Center.save``) holds the rest."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from acd.model import AgentConfig, AgentState, CallState, QueueConfig, Skills
from acd.routing import Order, ReadyAgents, WaitingCalls
from acd.saving import NOT_SAVED


@dataclass(slots=True)
class Agent:
    config: AgentConfig = field(metadata=NOT_SAVED)
    profile: Skills = field(metadata=NOT_SAVED)
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    idle_since: float = 0.0
    call_id: str | None = None
    wrap_up_until: float | None = None
    wrap_gen: int = 0
    since: float = 0.0  # when the agent entered its current state
    wrap_ends_on_disposition: bool = False  # the last call's queue ends wrap-up on a disposition
    last_call_id: str | None = None  # the call this agent answered last (its disposition)
    # A pause or logout asked for during an offer or call; applied when it ends.
    pending: tuple[AgentState, str | None] | None = None
    consecutive_misses: int = 0
    ring_no_answer_total: int = 0
    hold_overruns: int = 0
    calls_by_queue: dict[str, int] = field(default_factory=dict)
    talk_time_s: float = 0.0
    reachable: bool = True  # the phone is registered (an unreachable agent is offered nothing)
    phones: dict[str, bool] = field(default_factory=dict)  # node -> reachable there (as reported)

    @property
    def agent_id(self) -> str:
        return self.config.agent_id


@dataclass(slots=True)
class Call:
    call_id: str
    queue: str
    caller: str
    kind: str
    priority: int
    base_requirement: Skills
    requirement: Skills
    arrived_at: float  # the original enqueue time: kept through re-queue and overflow
    seq: int
    entered_queue_at: float
    state: CallState = CallState.WAITING
    offered_to: set[str] = field(default_factory=set)
    agent_id: str | None = None  # the agent who answered
    gen: int = 0  # bumped at every offer and re-queue: ring timers
    queue_gen: int = 0  # bumped when the call enters a queue: relax/overflow timers
    relax_step: int = 0
    answered_at: float | None = None
    bridged: bool = False
    hold_since: float | None = None
    hold_gen: int = 0
    held_s: float = 0.0  # R13: holds that ended (the one going on is hold_since)
    sticky_agent: str | None = None
    pinned: bool = False  # R16: for its sticky agent only, never another (an agent's own call)
    visited: tuple[str, ...] = ()
    node: str = ""
    recorded: bool = False  # R4: its recording was started (to be labelled at the end)
    callback_offered: bool = False  # R9: key 1 takes a callback while waiting
    emergency: bool = False
    # What the caller hears while waiting (PlayWaitingMedia), to resume it after a resync.
    waiting_prompts: tuple[str, ...] = ()
    waiting_loop: bool = False
    callback: bool = False  # R11: the caller hung up and is to be called back, in this place
    attempts: int = 0  # R11: dial attempts made to the customer
    dial_gen: int = 0  # the R2 timer of the current attempt
    dialed_at: float | None = None
    screened_at: float | None = None  # R11: answered, Asterisk telling a person from a machine
    outbound: bool = False  # R11: queued to be called (a return visit), not a caller who called
    callback_number: str = ""  # R11: the number the caller keyed in to be called back on
    max_attempts: int = 0  # 0: the queue's callback_max_attempts
    # Transfers: the first answer (waited_s), the earlier agents' parts (R13), and an
    # attended transfer's target while the agent consults it (the caller on hold).
    first_answered_at: float | None = None
    parts_talk_s: float = 0.0
    parts_held_s: float = 0.0
    consult: str = ""  # "agent:<id>" while consulting an agent
    consult_answered: bool = False
    consult_gen: int = 0
    engine_hold: bool = False  # the engine holds the caller (desk/API hold, consult)

    @property
    def order(self) -> Order:
        return (-self.priority, self.arrived_at, self.seq)


@dataclass(slots=True)
class Entering:
    """A caller answered and in the IVR: not waiting in any queue yet."""

    caller: str
    node: str
    at: float
    recorded: bool


@dataclass(slots=True)
class Queue:
    config: QueueConfig = field(metadata=NOT_SAVED)
    positions: dict[str, int] = field(metadata=NOT_SAVED)  # agent -> configured order
    waiting: WaitingCalls = field(default_factory=WaitingCalls, metadata=NOT_SAVED)
    ready: ReadyAgents = field(default_factory=ReadyAgents, metadata=NOT_SAVED)
    rr_last: float = -1.0
    handle_times: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=100)
    )


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    state: str
    reason: str | None
    call_id: str | None
    queues: tuple[str, ...]
    ring_no_answer_total: int
    hold_overruns: int
    since: float = 0.0  # in the current state since (epoch s)
    wrap_up_until: float | None = None  # wrap-up ends by timer then (None: no timer)
    calls: int = 0  # calls answered since the core started
    talk_time_s: float = 0.0
    last_call_id: str | None = None
    reachable: bool = True  # the phone is registered on some node (else offered nothing)
    pending: str | None = None  # a pause or logout asked for during a call: "not-ready" or "logged-out"
    pending_reason: str | None = None

    @classmethod
    def of(cls, a: Agent) -> AgentView:
        return cls(a.agent_id, a.state.value, a.reason, a.call_id, a.config.queues,
                   a.ring_no_answer_total, a.hold_overruns, a.since,
                   a.wrap_up_until if a.state.value == "wrap-up" else None,
                   sum(a.calls_by_queue.values()), a.talk_time_s, a.last_call_id, a.reachable,
                   a.pending[0].value if a.pending else None, a.pending[1] if a.pending else None)


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: str
    queue: str
    state: str
    agent_id: str | None
    arrived_at: float
    priority: int
    kind: str
    requirement: Skills
    offered_to: tuple[str, ...]
    on_hold: bool
    sticky_agent: str | None
    caller: str
    bridged: bool
    node: str
    emergency: bool
    waiting_prompts: tuple[str, ...]
    waiting_loop: bool
    answered_at: float | None = None
    hold_since: float | None = None
    callback: bool = False
    attempts: int = 0
    consult: str = ""
    consult_answered: bool = False
    engine_hold: bool = False  # the engine holds the caller out of the bridge

    @classmethod
    def of(cls, k: Call) -> CallView:
        return cls(k.call_id, k.queue, k.state.value, k.agent_id, k.arrived_at, k.priority,
                   k.kind, k.requirement, tuple(sorted(k.offered_to)), k.hold_since is not None,
                   k.sticky_agent, k.caller, k.bridged, k.node, k.emergency, k.waiting_prompts,
                   k.waiting_loop, k.answered_at, k.hold_since, k.callback, k.attempts, k.consult,
                   k.consult_answered, k.engine_hold)
