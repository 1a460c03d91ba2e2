"""The record of what happened (R13), built once per notice of the core.

``RecordBuilder.observe(command)`` follows the core's output: offers (``OfferCall``,
``CancelOffer``, ``RingNoAnswer``, ``ConnectCall``), holds that ran over, overflows and
callbacks, until ``CallEnded`` closes the call's ``CallRecord``; every
``AgentStateChanged`` closes the agent's previous ``AgentSpan``. What is finished waits
in ``calls`` and ``spans`` for the writer to take (``take``). Calls still open are
bounded (the oldest dropped beyond ``MAX_OPEN``): a notice never grows memory for
ever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from acd import commands as c

MAX_OPEN = 100_000  # calls in progress followed at once


@dataclass(frozen=True, slots=True)
class Offer:
    agent_id: str
    at: float
    rang_s: float
    result: str  # answered, no-answer (RONA), or why it was cancelled


@dataclass(frozen=True, slots=True)
class Transfer:
    """An agent's part of a call that ended in a transfer."""

    agent_id: str
    at: float
    to: str  # agent, queue, external
    target: str
    attended: bool
    talked_s: float
    held_s: float


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str
    queue: str
    caller: str
    kind: str
    emergency: bool
    arrived_at: float
    ended_at: float
    outcome: str  # handled, abandoned, rejected, callback-unreached
    agent_id: str | None
    waited_s: float
    talked_s: float  # answer to hang-up, hold included
    held_s: float
    ended_by: str  # caller, agent, "" (the engine)
    rona: int = 0
    hold_overruns: int = 0
    overflowed_from: tuple[str, ...] = ()
    callback: bool = False
    offers: tuple[Offer, ...] = ()
    overflowed_at: tuple[float, ...] = ()  # when it left each of overflowed_from
    transfers: tuple[Transfer, ...] = ()  # the earlier agents' parts (talked_s and held_s include them)

    @property
    def answered_at(self) -> float | None:
        return self.arrived_at + self.waited_s if self.outcome == "handled" else None

    def ended(self) -> c.CallEnded:
        """The core's notice again (to rebuild the live windows after a restart)."""
        return c.CallEnded(self.call_id, self.outcome, self.agent_id, self.waited_s, self.talked_s, self.ended_at,
                           self.queue, self.caller, self.kind, self.emergency, self.arrived_at, self.held_s,
                           self.ended_by)


@dataclass(frozen=True, slots=True)
class AgentSpan:
    agent_id: str
    state: str  # logged-out, ready, not-ready, offered, on-call, wrap-up
    reason: str | None
    started_at: float
    ended_at: float
    queue: str = ""  # wrap-up: the queue of the call it follows (its handle time)


@dataclass(slots=True)
class _Open:
    offers: list[list[object]] = field(default_factory=list)  # [agent, at, rang, result]
    rona: int = 0
    hold_overruns: int = 0
    overflowed_from: list[str] = field(default_factory=list)
    overflowed_at: list[float] = field(default_factory=list)
    callback: bool = False
    transfers: list[Transfer] = field(default_factory=list)


class RecordBuilder:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._open: dict[str, _Open] = {}
        self._agents: dict[str, tuple[str, str | None, float]] = {}  # agent -> state, reason, since
        self._last_queue: dict[str, str] = {}  # agent -> queue of its last call
        self.calls: list[CallRecord] = []
        self.spans: list[AgentSpan] = []

    def _call(self, call_id: str) -> _Open:
        found = self._open.get(call_id)
        if found is None:
            if len(self._open) >= MAX_OPEN:
                del self._open[next(iter(self._open))]
            found = self._open[call_id] = _Open()
        return found

    def _offer_ends(self, call_id: str, agent_id: str, result: str, at: float) -> None:
        """The agent's latest offer of the call ends; a ring-no-answer names the offer
        even when its cancel came first."""
        for offer in reversed(self._call(call_id).offers):
            if offer[0] == agent_id and (offer[3] == "" or result == "no-answer"):
                if offer[3] == "":
                    offer[2] = max(0.0, at - float(offer[1]))  # type: ignore[arg-type]
                offer[3] = result
                return

    def observe(self, cmd: c.Command) -> None:
        match cmd:
            case c.OfferCall(call_id=k, agent_id=a):
                self._call(k).offers.append([a, self.clock(), 0.0, ""])
            case (c.ConnectCall(call_id=k, agent_id=a) | c.AnnounceAgent(call_id=k, agent_id=a)
                  | c.ConnectConsult(call_id=k, agent_id=a)):
                self._offer_ends(k, a, "answered", self.clock())  # (the announcement first: R15)
            case c.CancelOffer(call_id=k, agent_id=a, reason=why):
                self._offer_ends(k, a, why, self.clock())
            case c.RingNoAnswer(call_id=k, agent_id=a, at=at):
                self._call(k).rona += 1
                self._offer_ends(k, a, "no-answer", at)
            case c.HoldOverrun(call_id=k):
                self._call(k).hold_overruns += 1
            case c.CallOverflowed(call_id=k, from_queue=q, at=at):
                self._call(k).overflowed_from.append(q)
                self._call(k).overflowed_at.append(at)
            case c.CallbackRequested(call_id=k):
                self._call(k).callback = True
            case c.CallTransferred(call_id=k):
                self._call(k).transfers.append(Transfer(cmd.agent_id, cmd.at, cmd.to, cmd.target, cmd.attended,
                                                        cmd.talked_s, cmd.held_s))
            case c.CallEnded():
                self._ended(cmd)
            case c.AgentStateChanged(agent_id=a, state=state, reason=reason, at=at):
                before = self._agents.get(a)
                if before is not None and at > before[2]:  # (a state left at once is no span)
                    queue = self._last_queue.get(a, "") if before[0] == "wrap-up" else ""
                    self.spans.append(AgentSpan(a, before[0], before[1], before[2], at, queue))
                self._agents[a] = (state, reason, at)
            case _:
                pass

    def _ended(self, cmd: c.CallEnded) -> None:
        k = self._open.pop(cmd.call_id, None) or _Open()
        if cmd.agent_id is not None:
            self._last_queue[cmd.agent_id] = cmd.queue
        offers = tuple(Offer(str(a), float(t), float(r), str(res) or "open")  # type: ignore[arg-type]
                       for a, t, r, res in k.offers)
        self.calls.append(CallRecord(
            cmd.call_id, cmd.queue, cmd.caller, cmd.kind, cmd.emergency, cmd.arrived_at, cmd.at, cmd.outcome,
            cmd.agent_id, cmd.waited_s, cmd.talked_s, cmd.held_s, cmd.ended_by, k.rona, k.hold_overruns,
            tuple(k.overflowed_from), k.callback, offers, tuple(k.overflowed_at), tuple(k.transfers)))

    def open_spans(self, now: float) -> list[AgentSpan]:
        """The agents' states going on now, as spans up to ``now``."""
        return [AgentSpan(a, state, reason, since, now) for a, (state, reason, since) in self._agents.items()]

    def take(self) -> tuple[list[CallRecord], list[AgentSpan]]:
        calls, spans = self.calls, self.spans
        self.calls, self.spans = [], []
        return calls, spans
