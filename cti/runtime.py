"""Feeds the core one event at a time and carries out its actions in order.

``apply`` is synchronous, so each event is handled atomically on the loop whoever
sends it (websocket reader, HTTP handler, timer). Each event and its commands wait in
one queue drained by ``run_commands``, which first commits the events to the journal
(Redis, when configured) and only then carries out their actions: nothing is done on
Asterisk that a restarted router would not know about. Call actions go to the
``executor`` (the node's adapter, or the cluster dispatcher), notifications to the
``notifier``; every command, notices included, is logged and shown to the observers
(metrics, supervision). The timer task sleeps until the core's next deadline and sends
a ``Tick``. Both tasks live in the engine's TaskGroup.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from acd import AcdError, Engine
from acd import commands as c
from acd import events as e
from cti.health import Faults

log = logging.getLogger("cti.engine")

Executor = Callable[[c.CallAction], Awaitable[None]]
Notify = Callable[[c.Notification], None]


class Journal(Protocol):
    async def commit(self, events: list[e.Event], settled: Callable[[], bool],
                     snapshot: Callable[[], dict[str, Any]], input_id: str | None = None) -> None: ...


class Runtime:
    def __init__(self, engine: Engine, clock: Callable[[], float], journal: Journal | None = None,
                 executor: Executor | None = None, notify: Notify | None = None, faults: Faults | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.journal = journal
        self.executor = executor
        self.notify = notify
        self._pending: collections.deque[tuple[e.Event, list[c.Command]]] = collections.deque()
        self._input_id: str | None = None  # the router's last consumed adapter entry
        self._has_pending = asyncio.Event()
        self._wake = asyncio.Event()
        # Read-only followers of every command and notice (metrics, plans): ``follow``.
        self._observers: list[Callable[[c.Command], None]] = []
        self.faults = faults or Faults()  # the engine instance's

    def follow(self, *observers: Callable[[c.Command], None]) -> None:
        """Show every command and notice from now on to ``observers`` (in this order,
        after those already following): work orders, the record, supervision ..."""
        self._observers.extend(observers)

    def apply(self, event: e.Event, input_id: str | None = None) -> list[c.Command]:
        """Handle one event; raises the core's errors (for agent requests to report).
        ``input_id``: the adapter stream entry it came from (router role)."""
        out = self.engine.handle(event)
        if input_id is not None:
            self._input_id = input_id
        for cmd in out:
            _log_command(cmd)
            for observe in self._observers:
                observe(cmd)
        self._pending.append((event, out))
        self._has_pending.set()
        self._wake.set()
        return out

    def submit(self, event: e.Event, input_id: str | None = None) -> None:
        """Handle one event from the wire, where a refusal is only worth a log line."""
        self.accepted(event, input_id)

    def accepted(self, event: e.Event, input_id: str | None = None) -> bool:
        """Handle one event from the wire; False when the core refused it."""
        try:
            self.apply(event, input_id)
        except AcdError as exc:
            log.warning("event %s refused: %s", type(event).__name__, exc)
            return False
        return True

    async def run_commands(self) -> None:
        assert self.executor is not None
        while True:
            await self._has_pending.wait()
            batch = list(self._pending)
            self._pending.clear()
            self._has_pending.clear()
            if self.journal is not None:
                await self.journal.commit(
                    [ev for ev, _ in batch], lambda: not self._pending, self.engine.snapshot,
                    self._input_id,
                )
            for _, commands in batch:
                for cmd in commands:
                    try:
                        if isinstance(cmd, c.CallAction):
                            await self.executor(cmd)
                        elif isinstance(cmd, c.Notification) and self.notify is not None:
                            self.notify(cmd)
                    except Exception:  # one failed command must not stop the engine
                        log.exception("carrying out %s failed", cmd)

    async def run_timers(self) -> None:
        while True:
            self._wake.clear()
            deadline = self.engine.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                self.submit(e.Tick(max(self.clock(), deadline or 0.0)))


def _log_command(cmd: c.Command) -> None:
    match cmd:
        case c.OfferCall(call_id=k, agent_id=a, ring_timeout_s=t):
            log.info("offer call %s to agent %s (ring timeout %g s)", k, a, t)
        case c.ConnectCall(call_id=k, agent_id=a):
            log.info("answered: call %s by agent %s", k, a)
        case c.CancelOffer(call_id=k, agent_id=a, reason=r):
            log.info("offer of call %s to agent %s cancelled: %s", k, a, r)
        case c.RingNoAnswer(call_id=k, agent_id=a, misses=m):
            log.warning("RONA: agent %s did not answer call %s (miss %d in a row)", a, k, m)
        case c.AgentStateChanged(agent_id=a, state="offered" | "on-call" as s):
            log.debug("agent %s is %s", a, s)  # (the offer and the answer have their lines)
        case c.AgentStateChanged(agent_id=a, state=s, reason=r):
            log.info("agent %s is %s%s", a, s, f" ({r})" if r else "")
        case c.CallEnded(call_id=k, outcome=o, agent_id=a, waited_s=w, talked_s=t):
            log.info("hung up: call %s %s%s, waited %.1f s, talked %.1f s",
                     k, o, f" by agent {a}" if a else "", w, t)
        case c.CallOverflowed(call_id=k, from_queue=f, to_queue=t, reason="plan"):
            log.info("R9 plan: call %s overflows from %s to %s", k, f, t)
        case c.CallOverflowed(call_id=k, from_queue=f, to_queue=t, reason=r):
            log.info("overflow: call %s from queue %s to %s (%s)", k, f, t, r)
        case c.NotifyEmergency(call_id=k, queue=q):
            log.warning("EMERGENCY reported on call %s (queue %s): notifying", k, q)
        case c.CallbackRequested(call_id=k, queue=q):
            log.info("callback requested on call %s for queue %s", k, q)
        case c.PlanApplied(queue=q, level=lv):
            log.info("R9 plan level %s applies to new calls of %s", lv or "none", q)
        case c.HoldOverrun(call_id=k, agent_id=a, held_s=h):
            log.warning("hold overrun: agent %s has held call %s for %.1f s", a, k, h)
        case c.AnnounceAgent(call_id=k, number=n):
            log.info("announce agent %s to call %s", n, k)
        case c.SupervisorAlert(agent_id=a, reason=r):
            log.warning("supervisor alert: agent %s %s", a, r)
        case c.CallbackAttempt(call_id=k, attempt=n, outcome=o, rang_s=s, next_at=t):
            log.info("callback %s: attempt %d %s after %.1f s%s", k, n, o, s,
                     f"; next attempt in {t - cmd.at:.0f} s" if t is not None else "")
        case c.OutboundNoAnswer(attempt_id=k, rang_s=s):
            log.info("outbound %s: no answer after %.1f s", k, s)
        case _:
            pass
