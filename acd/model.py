"""The domain's configuration values and states."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AgentState(enum.Enum):
    LOGGED_OUT = "logged-out"
    READY = "ready"
    OFFERED = "offered"
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"
    NOT_READY = "not-ready"


class CallState(enum.Enum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"


RING_NO_ANSWER = "ring-no-answer"


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    ring_cycle_s: float = 5.0
    answer_within_rings: int = 2  # R1
    wrap_up_s: float = 10.0

    @property
    def ring_timeout_s(self) -> float:
        """R1: an offer rings at most this long before it is taken back."""
        return self.ring_cycle_s * self.answer_within_rings


@dataclass(frozen=True, slots=True)
class AgentConfig:
    agent_id: str
    endpoint: str  # e.g. "PJSIP/agent1001"
    queues: tuple[str, ...]
