"""Events the routing core consumes.

Every event is a small frozen value carrying the wall-clock time ``at`` (seconds since
the epoch) at which it happened: the core has no clock of its own, so feeding the same
events again rebuilds the same state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tick:
    """Time has passed; expire ring timeouts and wrap-ups due by ``at``."""

    at: float


@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    agent_id: str
    at: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class AgentLoggedOut:
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentReady:
    """The agent asks for calls (also ends wrap-up early)."""

    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentPaused:
    """The agent stops taking calls, with a reason code (break, training, ...)."""

    agent_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CallArrived:
    """A caller entered the engine and waits in ``queue``.

    ``skills`` are required (name, minimum level) pairs; ``priority`` 0..100 orders the
    queue (higher first); an ``emergency`` call (R8) outranks every priority."""

    call_id: str
    queue: str
    caller: str
    at: float
    priority: int = 0
    kind: str = ""
    skills: tuple[tuple[str, int], ...] = ()
    emergency: bool = False
    node: str = ""  # the Asterisk node the call is on (several nodes share one router)


@dataclass(frozen=True, slots=True)
class OfferAnswered:
    """The agent's phone answered the offer for ``call_id``."""

    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class OfferFailed:
    """The offer ended before answer on the agent's side (busy, rejected, unreachable)."""

    call_id: str
    agent_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class CallerChoseCallback:
    """A waiting caller asked to be called back instead of waiting (R9 plan action)."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentHungUp:
    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class HoldStarted:
    """R3: the caller was put on hold (agent's phone re-INVITE or the agent API)."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class HoldEnded:
    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class AnnouncementFinished:
    """R15: the agent's ID has been played to the caller; the bridge may follow."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundStarted:
    """R2: an outbound attempt (callback, return visit) started ringing the customer."""

    attempt_id: str
    queue: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundAnswered:
    attempt_id: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundEnded:
    attempt_id: str
    at: float


Event = (
    Tick
    | AgentLoggedIn
    | AgentLoggedOut
    | AgentReady
    | AgentPaused
    | CallArrived
    | OfferAnswered
    | OfferFailed
    | CallerHungUp
    | CallerChoseCallback
    | AgentHungUp
    | HoldStarted
    | HoldEnded
    | AnnouncementFinished
    | OutboundStarted
    | OutboundAnswered
    | OutboundEnded
)
