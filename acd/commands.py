"""Commands the routing core emits for an adapter to carry out, and notices it emits
for logs and metrics (they ask for no action)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlayHoldMusic:
    """Play music on hold to the waiting caller."""

    call_id: str


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring ``endpoint`` for ``call_id``; the core cancels it after ``ring_timeout_s``."""

    call_id: str
    agent_id: str
    endpoint: str
    ring_timeout_s: float


@dataclass(frozen=True, slots=True)
class CancelOffer:
    """Stop ringing the agent (ring timeout, caller gone, or a late answer)."""

    call_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectCall:
    """Bridge the caller with the agent who answered."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class HangUpCaller:
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class HangUpAgent:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class RouteToFallback:
    """The engine cannot serve this call (unknown queue, nobody logged in): hand it back
    to the PBX's own fallback so the caller is not lost."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RejectCall:
    """The caller cannot be queued (queue full, nowhere to overflow): tell them, hang up."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AnnounceAgent:
    """R15: play the agent's number to the caller, then report AnnouncementFinished."""

    call_id: str
    agent_id: str
    number: str


@dataclass(frozen=True, slots=True)
class RemindAgent:
    """R3: the caller has been on hold too long: remind the agent."""

    call_id: str
    agent_id: str
    held_s: float


@dataclass(frozen=True, slots=True)
class PlayApology:
    """R3: apologize to the caller for the wait on hold."""

    call_id: str


@dataclass(frozen=True, slots=True)
class TakeOffHold:
    """R3: take the caller off hold."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CancelOutbound:
    """R2: the outbound attempt rang its maximum: hang it up."""

    attempt_id: str


# Notices: what happened, for logs, metrics and the event history.


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    agent_id: str
    state: str
    reason: str | None
    at: float


@dataclass(frozen=True, slots=True)
class RingNoAnswer:
    """R1: the agent let the offer ring past the ring timeout."""

    call_id: str
    agent_id: str
    misses: int
    at: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    outcome: str  # "handled", "abandoned", "rejected"
    agent_id: str | None
    waited_s: float
    talked_s: float
    at: float
    queue: str = ""


@dataclass(frozen=True, slots=True)
class CallOverflowed:
    call_id: str
    from_queue: str
    to_queue: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class HoldOverrun:
    """R3: a hold passed hold_max_s (one notice per overrun period)."""

    call_id: str
    agent_id: str
    held_s: float
    at: float


@dataclass(frozen=True, slots=True)
class SupervisorAlert:
    agent_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundNoAnswer:
    """R2: recorded as no-answer after outbound_max_rings rings."""

    attempt_id: str
    rang_s: float
    at: float


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """A caller left the queue asking to be called back (R11 takes it from there)."""

    call_id: str
    caller: str
    queue: str
    kind: str
    at: float


Command = (
    PlayHoldMusic
    | OfferCall
    | CancelOffer
    | ConnectCall
    | HangUpCaller
    | HangUpAgent
    | RouteToFallback
    | RejectCall
    | AnnounceAgent
    | RemindAgent
    | PlayApology
    | TakeOffHold
    | CancelOutbound
    | AgentStateChanged
    | RingNoAnswer
    | CallEnded
    | CallOverflowed
    | HoldOverrun
    | SupervisorAlert
    | OutboundNoAnswer
    | CallbackRequested
)
