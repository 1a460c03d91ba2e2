"""Supervisors' view (R13) and the emergency plans (R9) of the running engine.

- ``Supervision.figures()``: every live figure, computed from the core's state and its
  notices (``acd.metrics``): the same numbers serve Prometheus ``/metrics`` and the
  wallboard's ``/wallboard.json``.
- ``Supervision.run()``: once a second, the plan (``acd.plans``) is evaluated on the
  watched queue's figures; a change is logged to the audit log, posted to the plan
  webhook, and its level's actions are carried out: standby agents are logged in (and
  out again when the plan ends), new calls overflow to another queue, new callers hear
  the incident announcement. The event loop's lag is measured on the way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd import Engine
from acd import events as e
from acd.metrics import WINDOWS, MetricsBook
from acd.plans import Figures, Plan, PlanChanged, PlanProposed
from cti.ari import ConnectionState
from cti.config import SupervisionConfig
from cti.runtime import Runtime

log = logging.getLogger("cti.supervision")
audit = logging.getLogger("cti.audit")


class Supervision:
    def __init__(
        self, config: SupervisionConfig, runtime: Runtime, connections: list[ConnectionState],
        session: aiohttp.ClientSession, overrides: dict[str, str], announcement: list[str | None],
        recording_coverage: Any = None,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.engine: Engine = runtime.engine
        self.connections = connections
        self.session = session
        self.book = MetricsBook(config.sl_threshold_s, config.sl_target)
        runtime.observers.append(self.book.observe)
        self.plan = Plan(config.plan) if config.plan is not None else None
        self.overrides = overrides  # queue -> queue, shared with the adapter and IVR
        self.announcement = announcement  # [prompt or None], shared with the adapter
        self.offer_callbacks: list[bool] = [False]  # shared with the adapter
        self.callbacks: list[dict[str, Any]] = []
        self.pending_posts: list[dict[str, Any]] = []
        runtime.observers.append(self._callback_requested)
        self.recording_coverage = recording_coverage
        self.loop_lag_s = 0.0
        self.changes: list[dict[str, Any]] = []
        self._called_in: set[str] = set()

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
        now = time.time()
        calls = self.engine.calls()
        agents = self.engine.agents()
        queues: dict[str, Any] = {}
        names = sorted({q for q in self.book.queues()} | {k.queue for k in calls}
                       | {q for a in agents for q in a.queues})
        for q in names:
            waiting = [k for k in calls if k.queue == q and k.state == "waiting"]
            queues[q] = {
                "waiting": len(waiting),
                "longest_wait_s": max((now - k.arrived_at for k in waiting), default=0.0),
                "windows": {w: asdict(self.book.queue_figures(q, now, w)) for w in WINDOWS},
                "calls_total": {o: n for (qq, o), n in self.book.calls_total.items() if qq == q},
            }
        by_state: dict[str, int] = {}
        for a in agents:
            by_state[a.state] = by_state.get(a.state, 0) + 1
        busy = sum(by_state.get(s, 0) for s in ("offered", "on-call", "wrap-up"))
        staffed = busy + by_state.get("ready", 0)
        return {
            "at": now,
            "queues": queues,
            "agents": {
                "by_state": by_state,
                "occupancy": busy / staffed if staffed else 0.0,
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
        }

    # ------------------------------------------------------------ the plan

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(1.0)
            self.loop_lag_s = max(0.0, time.monotonic() - started - 1.0)
            if self.plan is not None:
                await self.apply(self.plan.evaluate(self.plan_figures(time.time()), time.time()), "auto")
            while self.pending_posts:
                await self._notify(self.pending_posts.pop(0))

    async def apply(self, changes: list[PlanChanged | PlanProposed] | list[PlanChanged], who: str) -> None:
        for change in changes:
            entry = {"type": type(change).__name__, **asdict(change)}
            self.changes.append(entry)
            audit.warning("R9 plan %s by %s", entry, who)
            if isinstance(change, PlanChanged):
                self._carry_out(change)
            await self._notify(entry)

    def _carry_out(self, change: PlanChanged) -> None:
        assert self.plan is not None
        level = self.plan.active()
        queue = self.plan.config.queue
        now = time.time()
        self.overrides.pop(queue, None)
        self.announcement[0] = None
        self.offer_callbacks[0] = False
        if level is None:
            for agent_id in sorted(self._called_in):  # standby agents go home
                self.runtime.submit(e.AgentLoggedOut(agent_id, now))
            self._called_in.clear()
            return
        called = []
        for agent_id in level.standby_agents:
            if self.engine.agent(agent_id).state == "logged-out":
                self._called_in.add(agent_id)
                called.append(agent_id)
                self.runtime.submit(e.AgentLoggedIn(agent_id, now))
        if called:  # the standby group is told to come in
            self.pending_posts.append({"type": "standby-call-in", "level": level.name,
                                       "agents": called, "at": now})
        if level.overflow_to is not None:
            self.overrides[queue] = level.overflow_to
        self.announcement[0] = level.announcement
        self.offer_callbacks[0] = level.offer_callbacks

    def _callback_requested(self, cmd: Any) -> None:
        if type(cmd).__name__ == "CallbackRequested":
            entry = {"type": "callback-request", **asdict(cmd)}
            self.callbacks.append(entry)
            del self.callbacks[:-1000]
            self.pending_posts.append(entry)

    async def _notify(self, entry: dict[str, Any]) -> None:
        url = self.config.plan_webhook_url
        if url is None:
            return
        try:
            async with self.session.post(url, json=entry, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status >= 300:
                    log.error("plan webhook answered %d", resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("plan webhook failed: %s", exc)


def prometheus_text(figures: dict[str, Any]) -> bytes:
    """The figures in Prometheus text exposition format (prometheus-client; one scrape,
    one consistent snapshot). Seconds, ratios, and _total counters."""
    families: list[Metric] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        keys = sorted(samples[0][0]) if samples else []
        metric: Metric
        if kind == "counter":
            metric = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=keys)
        else:
            metric = GaugeMetricFamily(name, help_text, labels=keys)
        for labels, value in samples:
            metric.add_metric([str(labels[k]) for k in keys], float(value))
        families.append(metric)

    queues = figures["queues"]
    family("cti_queue_waiting_calls", "gauge", "Calls waiting for an agent.",
           [({"queue": q}, v["waiting"]) for q, v in queues.items()])
    family("cti_queue_longest_wait_seconds", "gauge", "Wait of the longest-waiting call.",
           [({"queue": q}, v["longest_wait_s"]) for q, v in queues.items()])
    family("cti_queue_calls_total", "counter", "Calls ended, by outcome.",
           [({"queue": q, "outcome": o}, n) for q, v in queues.items() for o, n in v["calls_total"].items()])
    per_window = [
        ("cti_queue_offered_calls", "offered", "Calls offered (ended) in the window."),
        ("cti_queue_answered_calls", "answered", "Calls answered in the window."),
        ("cti_queue_abandoned_calls", "abandoned", "Calls abandoned in the window."),
        ("cti_queue_service_level_ratio", "service_level", "Answered within the threshold / offered."),
        ("cti_queue_answer_rate_ratio", "answer_rate", "Answered / offered (接通率)."),
        ("cti_queue_abandon_rate_ratio", "abandon_rate", "Abandoned / offered."),
        ("cti_queue_average_speed_of_answer_seconds", "asa_s", "Mean wait of answered calls."),
        ("cti_queue_mean_talk_seconds", "mean_talk_s", "Mean talk time of answered calls."),
    ]
    for name, key, help_text in per_window:
        family(name, "gauge", help_text,
               [({"queue": q, "window": w}, f[key]) for q, v in queues.items() for w, f in v["windows"].items()])
    family("cti_queue_agents_needed", "gauge", "Agents Erlang C says are needed for the service-level target (1h).",
           [({"queue": q}, v["windows"]["1h"]["agents_needed"]) for q, v in queues.items()
            if v["windows"]["1h"]["agents_needed"] is not None])
    agents = figures["agents"]
    family("cti_agents", "gauge", "Agents by state.", [({"state": s}, n) for s, n in agents["by_state"].items()])
    family("cti_agent_occupancy_ratio", "gauge", "Busy agents / staffed agents.", [({}, agents["occupancy"])])
    family("cti_agent_ring_no_answer_total", "counter", "R1 missed offers.",
           [({"agent": a}, n) for a, n in agents["ring_no_answer"].items()])
    family("cti_agent_hold_overruns_total", "counter", "R3 holds past hold_max_s.",
           [({"agent": a}, n) for a, n in agents["hold_overruns"].items()])
    plan = figures["plan"]
    if plan is not None:
        level = {None: 0, "III": 3, "II": 2, "I": 1}[plan["level"]]
        family("cti_emergency_level", "gauge", "R9 plan level: 0 none, 3 = III, 2 = II, 1 = I.", [({}, level)])
    if figures["recording_coverage"] is not None:
        family("cti_recording_coverage_ratio", "gauge", "R4 answered calls with a good recording (last day).",
               [({}, figures["recording_coverage"])])
    family("cti_connection_up", "gauge", "1 when connected.",
           [({"peer": p}, 1.0 if up else 0.0) for p, up in figures["connections"].items()])
    family("cti_event_loop_lag_seconds", "gauge", "How late the event loop woke (last second).",
           [({}, figures["event_loop_lag_s"])])
    registry = CollectorRegistry()
    registry.register(_Snapshot(families))
    return generate_latest(registry)


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


