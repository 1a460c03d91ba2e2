"""The domain's configuration values and states."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from acd.hours import BusinessHours

# A skill requirement or an agent's skills: sorted ((skill, level), ...), levels 1..5.
Skills = tuple[tuple[str, int], ...]

EMERGENCY_PRIORITY = 1_000_000  # R8: outranks every configurable priority
MAX_PRIORITY = 100  # configurable priorities are 0..MAX_PRIORITY


class AgentState(enum.Enum):
    # Members are singletons compared by identity; Enum's own hash hashes the name in
    # Python, which the state table pays on every change.
    __hash__ = object.__hash__

    LOGGED_OUT = "logged-out"
    READY = "ready"
    OFFERED = "offered"
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"
    NOT_READY = "not-ready"


class CallState(enum.Enum):
    __hash__ = object.__hash__  # (as AgentState: the calls' table looks states up)

    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"
    DIALING = "dialing"  # R11: a callback's agent answered; the customer is being dialled (R2)
    RETRY = "retry"  # R11: a callback not reached waits for its next attempt


class Strategy(enum.Enum):
    LONGEST_IDLE = "longest-idle"
    ROUND_ROBIN = "round-robin"  # with memory: the next agent after the last one offered
    FEWEST_CALLS = "fewest-calls"
    LEAST_TALK_TIME = "least-talk-time"
    LINEAR = "linear"  # always in the configured order
    RING_ALL = "ring-all"  # every matching ready agent at once; the first to answer wins
    BEST_SKILL = "best-skill"  # the highest skill levels on the call's required skills


class HoldAction(enum.Enum):
    """R3: what happens when a caller has been on hold for hold_max_s."""

    REMIND_AGENT = "remind-agent"
    APOLOGIZE = "apologize"
    UNHOLD = "unhold"


RING_NO_ANSWER = "ring-no-answer"
# An offer whose ring timeout ran out while no router was running (taken back, no miss).
UNWATCHED = "unwatched"


def skills(mapping: dict[str, int] | Skills) -> Skills:
    """Normalise a skill mapping to the sorted tuple the core indexes by."""
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return tuple(sorted((str(k), int(v)) for k, v in items))


@dataclass(frozen=True, slots=True)
class RelaxStep:
    """After ``after_s`` of waiting, widen the call's requirement: lower every required
    level by ``lower_levels_by`` (never below 1) and drop the skills in ``drop``
    (``"*"`` drops them all: any agent of the queue may take the call)."""

    after_s: float
    lower_levels_by: int = 0
    drop: tuple[str, ...] = ()

    def apply(self, requirement: Skills) -> Skills:
        if "*" in self.drop:
            return ()
        return tuple(
            (name, max(1, level - self.lower_levels_by))
            for name, level in requirement
            if name not in self.drop
        )


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    ring_cycle_s: float = 5.0
    answer_within_rings: int = 2  # R1
    wrap_up_s: float = 10.0
    strategy: Strategy = Strategy.LONGEST_IDLE
    # An agent in several queues takes the best call of the heaviest queue first.
    weight: int = 0
    relaxation: tuple[RelaxStep, ...] = ()
    max_waiting: int | None = None  # at this many waiting, new calls overflow or are refused
    overflow_queue: str | None = None
    overflow_after_s: float | None = None
    overflow_at_waiting: int | None = None
    sticky_window_s: float = 0.0  # R10: a repeat caller within this window ...
    sticky_hold_s: float = 20.0  # ... waits this long for their last agent
    rona_not_ready_after: int = 1  # consecutive misses that make the agent not ready
    rona_logout_after: int = 0  # consecutive misses that log the agent out (0: never)
    hold_max_s: float = 30.0  # R3
    hold_actions: tuple[HoldAction, ...] = (HoldAction.REMIND_AGENT, HoldAction.APOLOGIZE)
    outbound_max_rings: int = 6  # R2
    announce_agent_id: bool = True  # R15
    # What ends wrap-up (R12): "timer" (wrap_up_s), "disposition" (the agent records
    # the call; no timer), or "first" (whichever comes first).
    wrap_up_ends: str = "timer"
    # R11 queued callbacks: the next attempt after a customer not reached, and how many.
    callback_retry_s: float = 120.0
    callback_max_attempts: int = 3
    # When waiting callers are offered a callback: "plan" (only at a plan level that
    # offers them), "always", or "above-wait" (expected wait >= callback_above_wait_s).
    offer_callbacks: str = "plan"
    callback_above_wait_s: float = 60.0
    # R17: after the agent hangs up first, the caller is asked for a score (1-5) and
    # given this long to key it.
    survey: bool = False
    survey_timeout_s: float = 8.0

    @property
    def ring_timeout_s(self) -> float:
        """R1: an offer rings at most this long before it is taken back."""
        return self.ring_cycle_s * self.answer_within_rings

    @property
    def outbound_ring_timeout_s(self) -> float:
        """R2: an outbound attempt rings at most this long."""
        return self.ring_cycle_s * self.outbound_max_rings


@dataclass(frozen=True, slots=True)
class AgentConfig:
    agent_id: str
    endpoint: str  # e.g. "PJSIP/agent1001"
    queues: tuple[str, ...]
    skills: Skills = ()
    wrap_up_s: float | None = None  # overrides the queue's wrap-up for this agent
    # The number announced to the caller before the bridge (R15); the id by default.
    number: str = field(default="")

    @property
    def announced_number(self) -> str:
        return self.number or self.agent_id


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes: a queue, with the call's skills, priority and kind (R7), or
    an emergency (R8). A dialled extension (``[[routes]]``) or an IVR option names one."""

    queue: str
    skills: Skills = ()
    priority: int = 0
    kind: str = ""
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class Intake:
    """How a call that reaches the engine is treated before it waits (one place for
    every path: direct route, IVR, re-queue, overflow).

    - ``routes``: dialled extension -> route; any other extension -> ``default_queue``;
      an extension in ``ivr_extensions`` goes through the IVR first;
    - ``record``: R4, every call is recorded from its answer;
    - ``hours``: a direct route to a closed queue hears ``after_hours_prompt`` and the
      call ends (the IVR decides the same for its routes, with a callback offer);
    - ``emergency_prompt``: R8, what an emergency caller hears, again and again, while
      waiting; ``callback_offer_prompt``: R9, the offer a plan level may add."""

    routes: Mapping[str, Route] = field(default_factory=dict)
    default_queue: str = ""
    ivr_extensions: frozenset[str] = frozenset()
    record: bool = False
    emergency_prompt: str = "safety-instructions"
    callback_offer_prompt: str = "callback-offer"
    callback_taken_prompt: str = "callback-taken"
    queue_full_prompt: str = "queue-full"
    # Business hours per queue (a queue not listed: always open), in local time.
    hours: Mapping[str, BusinessHours] = field(default_factory=dict)
    after_hours_prompt: str = "after-hours"
    utc_offset_s: int = 8 * 3600

    def route(self, exten: str) -> Route:
        return self.routes.get(exten) or Route(self.default_queue)

    def closed(self, route: Route, at: float) -> bool:
        """Whether ``route`` is closed at ``at`` (emergencies are always taken, R8)."""
        hours = self.hours.get(route.queue)
        if hours is None or route.emergency:
            return False
        local = datetime.fromtimestamp(at + self.utc_offset_s, timezone.utc).replace(tzinfo=None)
        return not hours.is_open(local)


@dataclass(frozen=True, slots=True)
class PlanActions:
    """R9: what an active plan level does to the calls of the queue it watches."""

    level: str
    standby_agents: tuple[str, ...] = ()
    overflow_to: str | None = None  # new calls (not emergencies) go to this queue
    announcement: str | None = None  # new callers hear this, then music
    offer_callbacks: bool = False  # new callers may press 1 to be called back
