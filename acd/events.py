"""Events the routing core consumes.

Every event is a small frozen value carrying the wall-clock time ``at`` (seconds since
the epoch) at which it happened: the core has no clock of its own, so feeding the same
events again rebuilds the same state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tick:
    """Time has passed; expire ring timeouts and wrap-ups due by ``at``.

    ``resumed``: the first tick of a router that starts or takes over. What fell due
    before it fell due while no router watched: an offer whose ring timeout ran out
    then is taken back without counting as the agent's miss (R1's RONA is for an
    agent who let the phone ring, and nobody saw whether it rang)."""

    at: float
    resumed: bool = False


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
class CallEntered:
    """A caller reached the engine by dialling ``exten``: the core answers it, starts
    its recording (R4) and sends it through the IVR or straight to the extension's
    route (``Intake``)."""

    call_id: str
    caller: str
    exten: str
    at: float
    node: str = ""  # the Asterisk node the call is on


@dataclass(frozen=True, slots=True)
class IvrRouted:
    """The IVR chose where the caller goes (R7), or that it is an emergency (R8)."""

    call_id: str
    queue: str
    at: float
    skills: tuple[tuple[str, int], ...] = ()
    priority: int = 0
    kind: str = ""
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class IvrCallbackRequested:
    """After hours, a caller in the IVR asked to be called back (R11 takes it)."""

    call_id: str
    queue: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class PlanLevelChanged:
    """R9: the plan watching ``queue`` is now at ``level`` (None: no plan), whose
    actions are given: the core carries them out for every new call of that queue."""

    queue: str
    level: str | None
    at: float
    standby_agents: tuple[str, ...] = ()
    overflow_to: str | None = None
    announcement: str | None = None
    offer_callbacks: bool = False


@dataclass(frozen=True, slots=True)
class CallArrived:
    """An answered caller starts waiting in ``queue`` (what ``CallEntered`` and
    ``IvrRouted`` lead to; also usable on its own).

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
    """A waiting caller who was offered a callback took it (R11), confirming the
    number it called from (``number`` empty) or keying in another."""

    call_id: str
    at: float
    number: str = ""


@dataclass(frozen=True, slots=True)
class AgentHungUp:
    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class SurveyEnded:
    """R17: the caller's survey after the call (``StartSurvey``) ended with ``score``
    (None: no response)."""

    call_id: str
    queue: str
    agent_id: str
    kind: str
    score: int | None
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


@dataclass(frozen=True, slots=True)
class DispositionRecorded:
    """The agent recorded what the call ``call_id`` was about (R12): wrap-up ends now
    if the queue of that call says so (``QueueConfig.wrap_up_ends``)."""

    agent_id: str
    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class CustomerAnswered:
    """R11: the customer of a callback answered the dial-out (the call id stays)."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class CustomerScreening:
    """R11: the customer's line answered and Asterisk's answering-machine detection
    listens (a trunk with ``detect_machines``): the ringing is over (R2's cap no longer
    applies); a person is ``CustomerAnswered``, a machine ``CustomerNotReached("machine")``."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class CustomerNotReached:
    """R11/R2: the dial-out to a callback's customer ended before an answer (busy,
    rejected, unreachable, refused by the trunk's rules ...)."""

    call_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class OutboundQueued:
    """R11: a customer to call (a return visit) waits for an agent of ``queue`` like a
    callback: offered to the agent first, then dialled (R2). Its ``priority`` is below
    every inbound call's (emergencies and callers always win); ``max_attempts`` in this
    pass (the return-visit schedule retries later, in its call window)."""

    call_id: str
    queue: str
    number: str
    at: float
    kind: str = "return-visit"
    priority: int = -1
    max_attempts: int = 1
    # R16: an agent's own call (a complaint's feedback): offered to that agent only,
    # agent first as ever; not taken within ``acd.callbacks.PINNED_WAIT_S``, it ends.
    agent_id: str = ""


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """The agent on ``call_id`` (desk, API, or the phone's REFER) transfers it to
    ``target``: an agent id (``to`` = "agent"), a queue ("queue") or an external
    number ("external"). Blind: the agent leaves at once. Attended: the caller waits
    on hold while the agent consults the target; ``TransferCompleted`` joins them,
    ``TransferCancelled`` (or the target not answering) returns the caller."""

    call_id: str
    agent_id: str
    to: str
    target: str
    attended: bool
    at: float


@dataclass(frozen=True, slots=True)
class TransferCompleted:
    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class TransferCancelled:
    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class HoldRequested:
    """R3: the agent asks (desk, API) to put the caller on hold (``hold``) or take it
    off; the engine holds the caller itself (music, out of the agent's hearing)."""

    call_id: str
    agent_id: str
    hold: bool
    at: float


@dataclass(frozen=True, slots=True)
class AgentReachable:
    """The agent's phone registered (``reachable``) or went away, as Asterisk node
    ``node`` sees it: an agent unreachable on every node that reported is not offered
    calls, whatever its state."""

    agent_id: str
    reachable: bool
    at: float
    node: str = ""


Event = (
    Tick
    | TransferRequested
    | TransferCompleted
    | TransferCancelled
    | HoldRequested
    | AgentReachable
    | OutboundQueued
    | CustomerAnswered
    | CustomerScreening
    | CustomerNotReached
    | DispositionRecorded
    | AgentLoggedIn
    | AgentLoggedOut
    | AgentReady
    | AgentPaused
    | CallEntered
    | IvrRouted
    | IvrCallbackRequested
    | PlanLevelChanged
    | CallArrived
    | OfferAnswered
    | OfferFailed
    | CallerHungUp
    | CallerChoseCallback
    | AgentHungUp
    | SurveyEnded
    | HoldStarted
    | HoldEnded
    | AnnouncementFinished
    | OutboundStarted
    | OutboundAnswered
    | OutboundEnded
)
