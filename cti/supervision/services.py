"""Supervisors' view (R13) and the emergency plans (R9) of the running engine.

- ``Supervision.figures()``: every live figure, computed from the core's state and its
  notices (``acd.metrics``): the same numbers serve Prometheus ``/metrics`` and the
  wallboard's ``/wallboard.json``.
- ``Supervision.run()``: once a second, the plan (``acd.plans``) is evaluated on the
  watched queue's figures; a change (automatic, or a supervisor's through ``apply``)
  is logged to the audit log, posted to the plan webhook, and handed to the core as a
  ``PlanLevelChanged`` event: the core carries out the level's actions (standby
  agents, overflow, incident announcement, callback offer) for every new call, on one
  node or many, and keeps them through a restart. The event loop's lag is measured on
  the way.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import asdict
from typing import Any

from acd import Engine
from acd import commands as c
from acd import events as e
from acd.metrics import WINDOWS, MetricsBook, rates
from acd.plans import Figures, Plan, PlanChanged, PlanProposed
from cti.health import ConnectionState, Faults
from cti.notify import Notifier
from cti.runtime import Runtime
from cti.supervision.reasons import words
from cti.supervision.settings import SupervisionConfig
from cti.supervision.thresholds import STATES, waiting_per_agent, worst

log = logging.getLogger("cti.supervision")
audit = logging.getLogger("cti.audit")
STAFFED = frozenset({"ready", "offered", "on-call", "wrap-up"})  # can take a call soon


class Supervision:
    def __init__(
        self, config: SupervisionConfig, runtime: Runtime, connections: list[ConnectionState],
        notifier: Notifier, recording_coverage: Any = None, maintenance_errors: Any = None,
        faults: Faults | None = None, workorders_overdue: Any = None, campaigns: Any = None,
        complaints_escalated: Any = None, workorders_late_on_site: Any = None,
    ) -> None:
        self.faults = faults or Faults()
        self.config = config
        self.runtime = runtime
        self.engine: Engine = runtime.engine
        self.connections = connections
        self.notifier = notifier
        self.maintenance_errors = maintenance_errors  # () -> {step: failures}, when recording
        self.book = MetricsBook(config.sl_threshold_s, config.sl_target)
        self.plan = Plan(config.plan) if config.plan is not None else None
        if self.plan is not None:  # a restarted router goes on at the level the core keeps
            kept = self.engine.plan(self.plan.config.queue)
            if kept is not None and kept.level in self.plan.config.levels:
                self.plan.resume(kept.level, time.time())
        self.callbacks: list[dict[str, Any]] = []
        self.recording_coverage = recording_coverage
        self.loop_lag_s = 0.0
        self.changes: list[dict[str, Any]] = []
        self.workorders_overdue = workorders_overdue  # () -> open orders past due, when work orders run
        self.workorders_late_on_site = workorders_late_on_site  # () -> R20 late-on-site alerts so far
        self.campaigns = campaigns  # () -> campaign -> {name, status, entries by status} (R11)
        self.complaints_escalated = complaints_escalated  # () -> complaints sent up for late feedback (R16)
        # The wallboard's trend: waiting calls and service level, every 30 s, 4 hours.
        self.trend: collections.deque[dict[str, float | None]] = collections.deque(maxlen=480)
        self._sampled = 0.0
        self._watched = 0.0  # (monotonic) when the thresholds were last looked at
        # (queue, figure) -> its last threshold state, to log crossings (bounded: queues x 4)
        self.threshold_states: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------ figures

    def plan_figures(self, now: float) -> Figures:
        assert self.plan is not None
        queue = self.plan.config.queue
        waiting = [k for k in self.engine.calls() if k.queue == queue and k.state == "waiting"]
        recent = self.book.queue_figures(queue, now, "15m")
        return Figures(
            waiting=len(waiting),
            longest_wait_s=max((now - k.arrived_at for k in waiting), default=0.0),
            answer_rate=recent.answer_rate,
            overflows=self.book.overflows(queue, now),
        )

    def figures(self) -> dict[str, Any]:
        now = self.runtime.clock()  # the core's clock (the wall clock in service)
        calls = self.engine.calls()
        agents = self.engine.agents()
        queues: dict[str, Any] = {}
        names = sorted({q for q in self.book.queues()} | {k.queue for k in calls}
                       | {q for a in agents for q in a.queues})
        for q in names:
            waiting = [k for k in calls if k.queue == q and k.state == "waiting"]
            longest = max((now - k.arrived_at for k in waiting), default=0.0)
            windows = {w: asdict(self.book.queue_figures(q, now, w)) for w in WINDOWS}
            staffed = sum(1 for a in agents if q in a.queues and a.state in STAFFED)
            assessed = self.config.thresholds.assess(q, {
                "service_level": windows["15m"]["service_level"], "abandon_rate": windows["15m"]["abandon_rate"],
                "longest_wait_s": longest, "waiting_per_agent": waiting_per_agent(len(waiting), staffed)})
            queues[q] = {
                "waiting": len(waiting),
                "longest_wait_s": longest,
                "staffed": staffed,
                "thresholds": assessed,  # R13: each figure's value, limits and state (ok, amber, red)
                "state": worst(assessed),
                "windows": windows,
                "calls_total": {o: n for (qq, o), n in self.book.calls_total.items() if qq == q},
                # R11: callbacks waiting (their place kept, or between attempts), requested, dialled
                "callbacks_waiting": sum(1 for k in calls if k.queue == q and k.callback and k.state != "connected"),
                "callbacks_total": self.book.callbacks_total.get(q, 0),
                "callback_attempts": {o: n for (qq, o), n in self.book.callback_attempts.items() if qq == q},
                "connect_rate": self.book.connect_rate(q),
            }
        by_state: dict[str, int] = {}
        for a in agents:
            by_state[a.state] = by_state.get(a.state, 0) + 1
        busy = sum(by_state.get(s, 0) for s in ("offered", "on-call", "wrap-up"))
        staffed = busy + by_state.get("ready", 0)
        return {
            "at": now,
            "sl_target": self.config.sl_target,
            "queues": queues,
            "agents": {
                "by_state": by_state,
                "occupancy": busy / staffed if staffed else None,  # nobody staffed: no figure
                "ring_no_answer": dict(self.book.ring_no_answer),
                "hold_overruns": dict(self.book.hold_overruns),
            },
            "plan": None if self.plan is None else {
                "level": self.plan.level, "proposed": self.plan.proposed, "since": self.plan.since,
                "mode": self.plan.config.mode, "incident": asdict(self.plan.incident),
                "changes": self.changes[-20:], "callbacks": self.callbacks[-50:],
            },
            "recording_coverage": None if self.recording_coverage is None else self.recording_coverage(),
            "connections": {s.name: s.connected for s in self.connections},
            "event_loop_lag_s": self.loop_lag_s,
            "maintenance_errors": {} if self.maintenance_errors is None else dict(self.maintenance_errors()),
            "faults": [{"kind": k, "where": w, "count": n} for (k, w), n in sorted(self.faults.counts.items())],
            "notifications": {"sent": self.notifier.sent, "failed": self.notifier.failed,
                              "dropped": self.notifier.dropped, "retried": self.notifier.retries},
            "notifications_pending": self.notifier.pending,
            "workorders_overdue": None if self.workorders_overdue is None else self.workorders_overdue(),
            "workorders_late_on_site": None if self.workorders_late_on_site is None else self.workorders_late_on_site(),
            "campaigns": {} if self.campaigns is None else self.campaigns(),
            "complaints_escalated": None if self.complaints_escalated is None else self.complaints_escalated(),
        }

    def sample(self, now: float) -> None:
        """One point of the trend: calls waiting now, service level of the last 15 min
        over every queue (None with nothing offered: no point is drawn)."""
        self._sampled = now
        recent = rates(self.book.all_sums(now - WINDOWS["15m"], now))  # the tiles' definition (acd.metrics)
        self.trend.append({"at": now, "waiting": float(sum(1 for k in self.engine.calls() if k.state == "waiting")),
                           "service_level": recent["service_level"]})

    # ------------------------------------------------------------ the plan

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(1.0)
            self.loop_lag_s = max(0.0, time.monotonic() - started - 1.0)
            if time.time() - self._sampled >= 30.0:
                self.sample(time.time())
            if started - self._watched >= 5.0:  # the thresholds, every 5 s (the figures' windows are a day long)
                self._watched = started
                self.watch(self.figures()["queues"])
            if self.plan is not None:
                self.apply(self.plan.evaluate(self.plan_figures(time.time()), time.time()), "auto")

    def watch(self, queues: dict[str, Any]) -> None:
        """R13: a queue figure crossing its amber or red threshold is logged (and shown
        on the wallboard, counted in /metrics, from the figures); its return too."""
        for q, v in queues.items():
            for name, a in v["thresholds"].items():
                state, before = a["state"] or "ok", self.threshold_states.get((q, name), "ok")
                if state != before:
                    worse = STATES.index(state) > STATES.index(before)
                    (log.warning if worse else log.info)(
                        "R13 queue %s: %s %s -> %s (value %s; amber %s, red %s)", q, name, before, state,
                        a["value"], a["amber"], a["red"])
                    self.threshold_states[(q, name)] = state

    def apply(self, changes: list[PlanChanged | PlanProposed] | list[PlanChanged], who: str) -> None:
        for change in changes:
            # "reason" in words (English) and "reason_zh"; "reason_code" as the core gave it (the
            # pages say it in their own language from it, the figures and the thresholds as given)
            en, zh = words(change)
            entry = {"type": type(change).__name__, **asdict(change), "reason": en, "reason_zh": zh,
                     "reason_code": change.reason}
            self.changes.append(entry)
            del self.changes[:-1000]
            audit.warning("R9 plan %s by %s", entry, who)
            if isinstance(change, PlanChanged):
                self._hand_to_core(change)
            self.notifier.post(entry)

    def _hand_to_core(self, change: PlanChanged) -> None:
        assert self.plan is not None
        level = self.plan.active()
        queue = self.plan.config.queue
        if level is None:
            self.runtime.submit(e.PlanLevelChanged(queue, None, change.at))
        else:
            self.runtime.submit(e.PlanLevelChanged(
                queue, level.name, change.at, level.standby_agents, level.overflow_to,
                level.announcement, level.offer_callbacks,
            ))

    def observe(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.CallbackRequested):
            self.callbacks.append({"type": "callback-request", **asdict(cmd)})
            del self.callbacks[:-1000]
