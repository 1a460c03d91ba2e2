"""What the core emits: *actions* to carry out and *notices* of what happened.

- ``CallAction``: carried out on the Asterisk node the call is on (by its adapter);
- ``Notification``: told to the outside world (webhooks), wherever the router runs;
- ``Notice``: for logs, metrics and history; asks for nothing.

``Command`` is any of them. The unions are the only lists of each kind: the runtime
sorts by them, the codec registers them, and an adapter's ``match`` over
``CallAction`` is checked complete by mypy (``assert_never``).
"""

from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------ call actions


@dataclass(frozen=True, slots=True)
class AnswerCall:
    """Answer the caller's channel (once, when it reaches the engine)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class StartRecording:
    """R4: record the caller's channel from now until it ends (as ``recording_id``
    when not the call's id: a callback's conversation, after its waiting part)."""

    call_id: str
    caller: str
    recording_id: str = ""


@dataclass(frozen=True, slots=True)
class LabelRecording:
    """R4: the call left the core: file its recording under these details."""

    call_id: str
    queue: str
    kind: str
    agent_id: str | None


@dataclass(frozen=True, slots=True)
class StartIvr:
    """Run the IVR for the caller (R7/R8); it reports ``IvrRouted``."""

    call_id: str
    caller: str


@dataclass(frozen=True, slots=True)
class PlayWaitingMedia:
    """What the waiting caller hears: ``prompts`` then music; with ``loop`` the prompts
    again and again instead of music (R8 safety instructions). No prompts: music.
    ``offer_callback``: key 1 during the wait means ``CallerChoseCallback`` (R9)."""

    call_id: str
    prompts: tuple[str, ...] = ()
    loop: bool = False
    offer_callback: bool = False


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring ``endpoint`` for ``call_id``; the core cancels it after ``ring_timeout_s``.
    ``via``: the Asterisk node the agent's phone is registered on, when the call's own
    node does not see it (the call's node rings it through its trunk to that node)."""

    call_id: str
    agent_id: str
    endpoint: str
    ring_timeout_s: float
    via: str = ""


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
class StartSurvey:
    """R17: instead of hanging up the caller, whose agent hung up first, ask them for a
    score from 1 to 5 (the queue's survey, prompts in the channel's language), wait at
    most ``timeout_s`` for the key, report ``SurveyEnded``, thank them and hang up."""

    call_id: str
    queue: str
    agent_id: str
    kind: str
    timeout_s: float


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
class Farewell:
    """Play ``prompt`` to the caller, then hang up at once (queue full, callback taken)."""

    call_id: str
    prompt: str
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
class DialCustomer:
    """R11: dial a callback's customer for the agent who took it (``number``, through
    the trunk); R2: the core hangs it up at ``ring_timeout_s``. The customer's channel
    takes the call's id."""

    call_id: str
    number: str
    agent_id: str
    ring_timeout_s: float
    attempt: int


@dataclass(frozen=True, slots=True)
class CancelOutbound:
    """R2: the outbound attempt rang its maximum: hang it up."""

    attempt_id: str


# ------------------------------------------------------------------ notifications


@dataclass(frozen=True, slots=True)
class NotifyEmergency:
    """R8: an emergency was reported: tell the emergency service at once."""

    call_id: str
    caller: str
    queue: str
    kind: str
    reported_at: float


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """A caller asked to be called back instead of waiting (R11 takes it from there)."""

    call_id: str
    caller: str
    queue: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class NotifyStandbyCallIn:
    """R9: the standby agents of a plan level are logged in: tell them to come."""

    level: str
    agents: tuple[str, ...]
    at: float


# ------------------------------------------------------------------ notices


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
    # What the record of the call needs (R10 recent contacts, R12, R13).
    caller: str = ""
    kind: str = ""
    emergency: bool = False
    arrived_at: float = 0.0
    held_s: float = 0.0  # on hold, within talked_s
    ended_by: str = ""  # "caller" or "agent" hung up ("": neither, the engine ended it)


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """R17: a caller's survey ended: ``score`` 1 to 5, None for no response (no key in
    time, a wrong key twice, hung up)."""

    call_id: str
    queue: str
    agent_id: str
    kind: str
    score: int | None
    at: float


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """R11/R2: how one dial-out of a callback ended: answered, no-answer (R2's ring cap),
    busy, rejected, unreachable, ...; ``next_at``: the retry, None when closed."""

    call_id: str
    queue: str
    attempt: int
    outcome: str
    rang_s: float
    at: float
    next_at: float | None = None


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
class PlanApplied:
    """R9: the core now applies ``level``'s actions to new calls of ``queue``."""

    queue: str
    level: str | None
    at: float


@dataclass(frozen=True, slots=True)
class HoldCaller:
    """R3: the engine holds the caller (asked from the desk or the API, or while the
    agent consults a transfer's target): out of the agent's hearing, with music.
    ``TakeOffHold`` brings it back."""

    call_id: str


@dataclass(frozen=True, slots=True)
class ConnectConsult:
    """An attended transfer's target answered: join its leg to the transferring agent
    (the caller stays on hold)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class DropAgentLeg:
    """Hang up one agent's leg of a call that goes on (a transfer's agent leaving)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class TransferOut:
    """Dial ``number`` through the trunk and bridge the caller with it: the call has
    left the core (a blind transfer to an external number)."""

    call_id: str
    number: str


CallAction = (
    AnswerCall
    | StartRecording
    | LabelRecording
    | StartIvr
    | PlayWaitingMedia
    | OfferCall
    | CancelOffer
    | ConnectCall
    | HangUpCaller
    | StartSurvey
    | HangUpAgent
    | RouteToFallback
    | Farewell
    | AnnounceAgent
    | RemindAgent
    | PlayApology
    | TakeOffHold
    | CancelOutbound
    | DialCustomer
    | HoldCaller
    | ConnectConsult
    | DropAgentLeg
    | TransferOut
)
Notification = NotifyEmergency | CallbackRequested | NotifyStandbyCallIn
Action = CallAction | Notification
@dataclass(frozen=True, slots=True)
class CallTransferred:
    """An agent's part of a call ended in a transfer (R13 credits each agent with its
    part: ``talked_s`` from its answer to the transfer, ``held_s`` within it)."""

    call_id: str
    agent_id: str
    to: str  # agent, queue, external
    target: str
    attended: bool
    talked_s: float
    held_s: float
    at: float
    queue: str = ""


Notice = (
    CallTransferred
    | AgentStateChanged
    | RingNoAnswer
    | CallEnded
    | CallOverflowed
    | HoldOverrun
    | SupervisorAlert
    | OutboundNoAnswer
    | PlanApplied
    | CallbackAttempt
    | SurveyAnswered
)
Command = Action | Notice
